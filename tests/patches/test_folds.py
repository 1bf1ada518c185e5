"""Tests of xlandslide.patches.folds and fold_rules: spatial folds, their rules, counts and
the warning about folds too small to score."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from tests.helpers import custom_region
from tests.strategies import yx_chunks
from xlandslide.errors import ConfigError, GridMismatchError, PatchError
from xlandslide.patches.folds import SpatialFolds, grid_of, spatial_folds


def _points_region(shape=(60, 70), n=300, seed=0, chunks=None):
    """A region whose labels are scattered points (a point inventory), the rest unknown."""
    region = custom_region(shape, seed=seed)
    rng = np.random.default_rng(seed)
    lab = np.full(shape, -1, np.int8)
    flat = rng.choice(shape[0] * shape[1], n, replace=False)
    lab.ravel()[flat] = (rng.random(n) < 0.4).astype(np.int8)
    region["label"][:] = lab
    return region.chunk({"y": chunks[0], "x": chunks[1]}) if chunks else region


def _labelled_xy(region):
    lab = region["label"].values
    r, c = np.nonzero(lab >= 0)
    return r, c, np.column_stack([region.y.values[r], region.x.values[c]])


def test_kmeans_folds_are_disjoint_compact_voronoi_cells():
    region = _points_region()
    folds = spatial_folds(region, "kmeans", k=4, seed=1)
    assert folds.method == "kmeans" and folds.k == 4
    r, c, xy = _labelled_xy(region)
    ids = folds.fold_ids(region).values[r, c]
    # every labelled pixel in exactly one fold, the fold of its nearest centroid
    cent = np.asarray(folds.rule["centroids"])
    dist = ((xy[:, None, :] - cent[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(ids, dist.argmin(1))
    masks = [folds.test_mask(f, region).values for f in range(4)]
    assert (np.sum(masks, axis=0) == (region["label"].values >= 0)).all()
    assert folds.counts["labelled"] == [int(m.sum()) for m in masks]
    # compact: a fold's pixels are much closer to each other than the region's are
    spread = xy.std(0).sum()
    for f in range(4):
        assert xy[ids == f].std(0).sum() < 0.7 * spread
    # numbered north to south
    assert np.all(np.diff(cent[:, 0]) <= 0)
    # close to scikit-learn's k-means partition of the same points (an oracle)
    from sklearn.cluster import KMeans

    km = KMeans(4, n_init=10, random_state=0).fit(xy)
    inertia = sum(((xy[ids == f] - xy[ids == f].mean(0)) ** 2).sum() for f in range(4))
    assert inertia <= 1.1 * km.inertia_


def test_kmeans_sample_is_chunk_independent():
    region = _points_region(n=800)
    a = spatial_folds(region, "kmeans", k=3, sample=200)
    b = spatial_folds(region.chunk({"y": 17, "x": 23}), "kmeans", k=3, sample=200)
    assert a.rule == b.rule and 150 <= a.rule["n_clustered"] <= 250


def test_buffer_removes_training_pixels_within_the_distance():
    region = _points_region(seed=2)
    folds = spatial_folds(region, "kmeans", k=3, buffer=45.0)
    r, c, xy = _labelled_xy(region)
    ids = folds.fold_ids(region).values[r, c]
    for f in range(3):
        train = folds.train_mask(f, region).values[r, c]
        test = ids == f
        d = np.sqrt(((xy[:, None] - xy[None, test]) ** 2).sum(-1)).min(1)
        np.testing.assert_array_equal(train, ~test & (d > 45.0))
        assert (~test & (d <= 45.0)).any()  # the buffer removed something
        # without the buffer: every other labelled pixel trains
        plain = folds.with_buffer(0).train_mask(f, region).values[r, c]
        np.testing.assert_array_equal(plain, ~test)
    # an excluded (validation) fold is left out too, with its own buffer
    train = folds.train_mask(0, region, exclude=[1]).values[r, c]
    held = (ids == 0) | (ids == 1)
    d = np.sqrt(((xy[:, None] - xy[None, held]) ** 2).sum(-1)).min(1)
    np.testing.assert_array_equal(train, ~held & (d > 45.0))


@settings(max_examples=8, deadline=None)
@given(chunks=yx_chunks((60, 70)))
def test_fold_masks_do_not_depend_on_chunks(chunks):
    region = _points_region(seed=3)
    folds = spatial_folds(region, "kmeans", k=3, buffer=25.0)
    ref = [folds.train_mask(f, region).values for f in range(3)]
    chunked = region.chunk(dict(zip(("y", "x"), chunks)))
    for f in range(3):
        np.testing.assert_array_equal(folds.train_mask(f, chunked).values, ref[f])
    rnd = spatial_folds(region, "random", k=4, seed=5)
    np.testing.assert_array_equal(rnd.fold_ids(chunked).values, rnd.fold_ids(region).values)


def test_masks_are_lazy(no_compute):
    region = _points_region(chunks=(20, 20))
    folds = SpatialFolds(method="random", k=3, grid=grid_of(region), rule={}, buffer=20.0, seed=0)
    ids = folds.fold_ids(region)
    test = folds.test_mask(0, region)
    train = folds.train_mask(0, region, exclude=[1])
    assert ids.chunks is not None and test.chunks is not None and train.chunks is not None


def test_user_folds_are_honoured_exactly():
    region = _points_region(seed=4)
    lab = region["label"].values
    n = int((lab >= 0).sum())
    ids = np.random.default_rng(0).integers(0, 3, n)
    folds = spatial_folds(region, "user", folds=ids)
    got = folds.fold_ids(region.chunk(13)).values
    np.testing.assert_array_equal(got[lab >= 0], ids)
    assert (got[lab < 0] == -1).all() and folds.k == 3
    # a raster of fold ids, with "no fold" pixels
    rng = np.random.default_rng(1)
    raster = rng.integers(-1, 4, lab.shape)
    raster[10:20] = 2  # runs
    da_ = region["label"].copy(data=raster.astype(float))
    da_[0, 0] = np.nan
    folds = spatial_folds(region, "user", folds=da_)
    expected = raster.copy()
    expected[0, 0] = -1
    np.testing.assert_array_equal(folds.fold_ids(region).values, expected)
    with pytest.raises(ConfigError, match="one id per labelled pixel"):
        spatial_folds(region, "user", folds=ids[:-1])
    with pytest.raises(ConfigError, match="integers"):
        spatial_folds(region, "user", folds=ids + 0.5)


def test_block_folds():
    region = _points_region(seed=5)
    folds = spatial_folds(region, "blocks", k=3, block_size=200.0, seed=2)  # 20 pixels
    ids = folds.fold_ids(region).values
    for i in range(0, 60, 20):
        for j in range(0, 70, 20):
            assert len(np.unique(ids[i : i + 20, j : j + 20])) == 1  # one fold per block
    counts = folds.counts["labelled"]
    assert sum(counts) == int((region["label"].values >= 0).sum())
    assert max(counts) - min(counts) <= 0.5 * max(counts)  # balanced
    with pytest.raises(ConfigError, match="block_size"):
        spatial_folds(region, "blocks", k=3)
    with pytest.raises(PatchError, match="fewer"):
        spatial_folds(region, "blocks", k=3, block_size=1000.0)


def test_polygon_folds_leave_regions_out():
    import geopandas as gpd
    from rasterio import features
    from shapely.geometry import box

    region = _points_region(seed=6)
    x, y = region.x.values, region.y.values
    polys = [
        box(x[0] - 5, y[29] - 5, x[34] + 5, y[0] + 5),
        box(x[35] - 5, y[59] - 5, x[69] + 5, y[30] + 5),
        box(x[0] - 5, y[59] - 5, x[20] + 5, y[40] + 5),
    ]
    gdf = gpd.GeoDataFrame({"zone": ["a", "b", "a"]}, geometry=polys, crs=region.rio.crs)
    folds = spatial_folds(region, "polygons", polygons=gdf, column="zone")
    assert folds.k == 2
    burnt = features.rasterize(
        [(p, v) for p, v in zip(polys, [1, 2, 1])],
        out_shape=(60, 70),
        transform=region.rio.transform(),
        fill=0,
    )
    np.testing.assert_array_equal(folds.fold_ids(region.chunk(25)).values, burnt - 1)
    one_each = spatial_folds(region, "polygons", polygons=gdf)
    assert one_each.k == 3
    with pytest.raises(GridMismatchError, match="CRS"):
        spatial_folds(region, "polygons", polygons=gdf.to_crs("EPSG:4326"))


def test_random_folds_and_errors():
    region = _points_region(seed=7)
    folds = spatial_folds(region, "random", k=5, seed=3)
    ids = folds.fold_ids(region).values
    assert set(np.unique(ids)) == set(range(5))
    assert abs(np.mean(ids == 0) - 0.2) < 0.03
    assert (spatial_folds(region, "random", k=5, seed=4).fold_ids(region).values != ids).any()
    with pytest.raises(ConfigError, match="unknown fold method"):
        spatial_folds(region, "hexagons")
    with pytest.raises(ConfigError, match="k must be"):
        spatial_folds(region, "kmeans", k=1)
    with pytest.raises(ConfigError, match="fold must be"):
        folds.test_mask(5, region)
    with pytest.raises(GridMismatchError, match="shape"):
        folds.fold_ids(region.isel(y=slice(0, 30)))
    with pytest.raises(ConfigError, match="buffer"):
        folds.with_buffer(-1.0)


def test_folds_round_trip_through_json(tmp_path):
    region = _points_region(seed=8)
    for folds in (
        spatial_folds(region, "kmeans", k=3, buffer=20.0),
        spatial_folds(region, "blocks", k=2, block_size=300.0),
        spatial_folds(region, "user", folds=np.arange(300) % 2),
    ):
        back = SpatialFolds.from_json(folds.to_json(tmp_path / "folds.json"))
        assert back == folds
        np.testing.assert_array_equal(
            back.train_mask(1, region).values, folds.train_mask(1, region).values
        )
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(PatchError, match="not spatial folds"):
        SpatialFolds.from_json(tmp_path / "bad.json")
    d = folds.to_dict()
    d["version"] = 99
    with pytest.raises(PatchError, match="newer"):
        SpatialFolds.from_dict(d)


def test_a_point_inventory_on_real_terrain(ecuador_tif, ecuador_points):
    """The Ecuador points: k-means folds that each hold points of both classes."""
    import rioxarray

    import xlandslide

    stack = rioxarray.open_rasterio(ecuador_tif, masked=True)
    dem = stack.isel(band=3, drop=True)
    label = xlandslide.labels_from_points(ecuador_points, dem, "lslpts")
    region = xlandslide.region_from_dem(dem, label)
    folds = spatial_folds(region, "kmeans", k=5, buffer=100.0)
    assert sum(folds.counts["labelled"]) == int((region["label"].values >= 0).sum()) > 300
    assert all(0 < p < n for p, n in zip(folds.counts["landslide"], folds.counts["labelled"]))
    for f in range(5):
        test = folds.test_mask(f, region).values
        train = folds.train_mask(f, region).values
        assert not (test & train).any() and train.sum() > test.sum() / 2


def test_fold_settings_that_cannot_work_are_refused_before_any_work():
    region = _points_region(seed=9)
    lab = region["label"].values
    n_slides = int((lab == 1).sum())
    with pytest.raises(PatchError, match=rf"k = {n_slides + 1} folds.*{n_slides} landslide"):
        spatial_folds(region, "kmeans", k=n_slides + 1)
    # k below the counts, but more folds than the landslides' places: folds left unscored
    with pytest.raises(PatchError, match="no landslide or no stable pixel"):
        spatial_folds(region, "kmeans", k=n_slides // 4)
    with pytest.raises(ConfigError, match="excludes every training pixel"):
        spatial_folds(region, "kmeans", k=3, buffer=1e9)
    with pytest.raises(ConfigError, match="block_size must be a positive"):
        spatial_folds(region, "blocks", k=3, block_size=0)
    with pytest.raises(ConfigError, match="'blocks' folds only"):
        spatial_folds(region, "kmeans", k=3, block_size=500)


def test_a_buffer_wider_than_the_region_is_computed_within_its_extent():
    from xlandslide.patches._buffer import near

    region = _points_region(seed=10)
    mask = region["label"] == 1
    wide = near(mask.chunk(16), 1e7)
    assert wide.data.numblocks and bool(wide.all())


# --------------------------------------------------------------------------- block balance


def _clustered_region(shape=(120, 120), seed=0):
    """Every pixel labelled; landslides (1 %) packed into the northern third, a few
    scattered elsewhere: the clustering that starved a fold of an unbalanced deal."""
    region = custom_region(shape, seed=seed)
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.int8)
    north = rng.random((shape[0] // 3, shape[1])) < 0.08
    lab[: shape[0] // 3][north] = 1
    lab[rng.random(shape) < 0.001] = 1
    region["label"][:] = lab
    return region


def _block_oracle(lab, side, assign, k):
    """Landslide and labelled pixels per fold, block by block (the slow obvious count)."""
    gy, gx = -(-lab.shape[0] // side), -(-lab.shape[1] // side)
    table = np.asarray(assign).reshape(gy, gx)
    pos, known = np.zeros(k, int), np.zeros(k, int)
    for i in range(gy):
        for j in range(gx):
            block = lab[i * side : (i + 1) * side, j * side : (j + 1) * side]
            if table[i, j] >= 0:
                pos[table[i, j]] += int((block == 1).sum())
                known[table[i, j]] += int((block >= 0).sum())
    return pos, known


def test_blocks_are_balanced_by_landslide_pixels():
    region = _clustered_region()
    lab = region["label"].values
    px = float(region.x[1] - region.x[0])
    k, side = 4, 10
    folds = spatial_folds(region, "blocks", k=k, block_size=side * px, seed=1)
    pos, known = _block_oracle(lab, side, folds.rule["assign"], k)
    assert folds.counts["landslide"] == pos.tolist()
    assert folds.counts["labelled"] == known.tolist()
    # each fold within the largest block's landslides of an equal share
    largest = max(
        int((lab[i : i + side, j : j + side] == 1).sum())
        for i in range(0, 120, side)
        for j in range(0, 120, side)
    )
    assert np.abs(pos - pos.sum() / k).max() <= largest
    assert np.abs(known - known.sum() / k).max() <= side * side
    again = spatial_folds(region, "blocks", k=k, block_size=side * px, seed=1)
    assert again.rule == folds.rule  # seeded: the same deal
    other = spatial_folds(region, "blocks", k=k, block_size=side * px, seed=2)
    assert other.rule["assign"] != folds.rule["assign"]  # another seed, another deal


def test_deal_blocks_closed_form():
    from xlandslide.patches.fold_rules import deal_blocks

    # two landslide blocks and two stable ones of equal size, two folds: one of each a fold
    for seed in range(5):
        f = deal_blocks(np.array([10, 10, 10, 10]), np.array([5, 0, 5, 0]), 2, seed)
        assert sorted(f[[0, 2]].tolist()) == [0, 1] and sorted(f[[1, 3]].tolist()) == [0, 1]
    # six blocks of 1, 2, 3, 4, 5, 6 landslides into 3 folds: 7 each is the only even deal
    n = np.array([1, 2, 3, 4, 5, 6])
    f = deal_blocks(np.full(6, 100), n, 3, 0)
    assert sorted(np.bincount(f, weights=n, minlength=3).tolist()) == [7.0, 7.0, 7.0]


# --------------------------------------------------------------------------- support warning


def test_landslides_are_counted_as_connected_areas():
    from scipy import ndimage

    from xlandslide.errors import SmallFoldWarning

    region = _clustered_region(seed=3)
    with pytest.warns(SmallFoldWarning, match="fold 2: 2 pixels, 2 landslides"):
        folds = spatial_folds(region, "kmeans", k=3, seed=0)  # the south: 2 landslides
    ids = folds.fold_ids(region).values
    lab = region["label"].values
    for f in range(3):
        _, n = ndimage.label((lab == 1) & (ids == f), structure=np.ones((3, 3)))
        assert folds.counts["landslides"][f] == n


def test_a_fold_with_few_landslides_is_warned_about():
    from xlandslide.errors import SmallFoldWarning
    from xlandslide.patches.folds import (
        MIN_FOLD_LANDSLIDE_PIXELS,
        MIN_FOLD_LANDSLIDES,
        check_fold_support,
    )

    region = _clustered_region()
    lab = region["label"].values
    ids = np.zeros(lab.shape, np.int16)
    ids[lab.shape[0] // 3 :] = 1  # fold 1: the south, its few scattered landslides
    n_south = int((lab[lab.shape[0] // 3 :] == 1).sum())
    assert 0 < n_south < MIN_FOLD_LANDSLIDE_PIXELS
    with pytest.warns(SmallFoldWarning, match=rf"fold 1: {n_south} pixels.*larger blocks"):
        folds = spatial_folds(region, "user", folds=region["label"].copy(data=ids))
    with pytest.warns(SmallFoldWarning):
        assert check_fold_support(folds) == [1]
    # enough pixels but in fewer than 10 landslides: warned too (one 12 x 12 landslide)
    one = np.zeros(lab.shape, np.int8)
    one[:12, :12] = 1
    one[60:72, 60:72] = 1
    region["label"][:] = one
    ids = np.zeros(lab.shape, np.int16)
    ids[:, 40:] = 1
    with pytest.warns(SmallFoldWarning, match="fold 0: 144 pixels, 1 landslides"):
        folds = spatial_folds(region, "user", folds=region["label"].copy(data=ids))
    assert folds.counts["landslides"] == [1, 1] and MIN_FOLD_LANDSLIDES > 1


def test_balanced_folds_are_not_warned_about():
    import warnings

    region = _clustered_region(shape=(240, 240))
    px = float(region.x[1] - region.x[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        folds = spatial_folds(region, "blocks", k=3, block_size=20 * px, seed=0)
    assert min(folds.counts["landslide"]) >= 100 and min(folds.counts["landslides"]) >= 10
