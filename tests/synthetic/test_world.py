"""synthetic_region: lazy at any size, chunk-invariant, a learnable rule with an upslope part."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import raise_if_dask_computes
from tests.strategies import yx_chunks
from xlandslide.catalog import INSPIRE, INSPIRE_GROUPS, NODATA_CODE
from xlandslide.region import feature_layout, get_normalisation, onehot_features
from xlandslide.synthetic import generate_block, relief_radius_pixels, synthetic_region
from xlandslide.synthetic.block import PACKED_LAYERS
from xlandslide.synthetic.tables import (
    LITHOLOGY_TABLE,
    NORMALISATION,
    RELIEF_DRY,
    RELIEF_SATURATION,
)
from xlandslide.terrain import slope
from xlandslide.validate import validate_region

FEATURE_NAMES = INSPIRE.names

SHAPE = (600, 700)


@pytest.fixture(scope="module")
def region():
    """The 600 x 700 region of seed 0, computed once (chunks 256)."""
    return synthetic_region(SHAPE, seed=0, chunks=256).compute()


@pytest.fixture(scope="module")
def known(region):
    """Known pixels: (one-hot view as (n, 94), labels 0/1, mask)."""
    lab = region.label.values
    mask = lab >= 0
    features = onehot_features(region).values
    return features[:, mask].T, (lab[mask] == 1).astype(int), mask


def test_veneto_size_is_lazy_and_small():
    with raise_if_dask_computes():
        ds = synthetic_region(shape=(19500, 21005))
        view = ds.landslide.features()
        validate_region(ds)
    assert ds.continuous.shape == (2, 19500, 21005) and ds.continuous.dtype == np.float32
    assert ds.categorical.shape == (4, 19500, 21005) and ds.categorical.dtype == np.uint8
    assert ds.layer.values.tolist() == ["slope", "dem"]
    assert ds.group.values.tolist() == list(INSPIRE_GROUPS)
    assert feature_layout(ds) == INSPIRE
    assert view.shape == (94, 19500, 21005) and view.dtype == np.float32
    assert list(view.feature.values) == list(FEATURE_NAMES)
    assert ds.continuous.chunks[0] == (2,) and ds.categorical.chunks[0] == (4,)
    assert ds.continuous.chunks[1][0] == 256 and view.chunks[1] == ds.dem.chunks[0]
    assert ds.dem.dtype == np.float32 and ds.label.dtype == np.int8
    assert ds.rio.crs.to_epsg() == 32632
    for name in ("continuous", "categorical", "dem", "label"):
        assert ds[name].chunks is not None  # dask-backed
    # one generator layer, then slicing: the graph stays a handful of layers
    assert len(ds.continuous.data.dask.layers) <= 3
    assert len(ds.categorical.data.dask.layers) <= 4
    assert len(ds.label.data.dask.layers) <= 4
    # the compact layout: 4 + 2 x 4 + 4 x 1 + 1 bytes a pixel (the one-hot view: 94 x 4)
    npix = ds.sizes["y"] * ds.sizes["x"]
    nbytes = sum(v.dtype.itemsize * v.size // npix for v in ds.data_vars.values())
    assert nbytes == 17 and view.dtype.itemsize * view.size // npix == 376


def test_coordinates_crs_and_attrs():
    ds = synthetic_region(
        (40, 50), seed=3, chunks={"y": 16, "x": 20}, pixel_size=20.0, origin=(1000.0, 9000.0)
    )
    assert ds.dem.chunks == ((16, 16, 8), (20, 20, 10))
    np.testing.assert_allclose(ds.x.values[:2], [1010.0, 1030.0])
    np.testing.assert_allclose(ds.y.values[:2], [8990.0, 8970.0])
    assert ds.attrs["seed"] == 3 and "title" in ds.attrs and "FS" in ds.attrs["description"]
    assert get_normalisation(ds) == NORMALISATION
    assert ds.dem.attrs["units"] == "m" and "long_name" in ds.continuous.attrs
    assert ds.categorical.attrs["classes"] == {g: list(c) for g, c in INSPIRE.groups}
    assert ds.categorical.attrs["nodata"] == NODATA_CODE
    assert ds.label.attrs["flag_values"] == [-1, 0, 1]
    ds = synthetic_region((40, 50), crs="EPSG:3035")
    assert ds.rio.crs.to_epsg() == 3035


@pytest.mark.parametrize("chunks", [128, (100, 300), ((250, 350), (333, 1, 366))])
def test_same_values_for_any_chunking(region, chunks):
    other = synthetic_region(SHAPE, seed=0, chunks=chunks)
    assert other.dem.chunks != region.chunk(256).dem.chunks
    other = other.compute()
    for name in ("continuous", "categorical", "dem", "label"):
        assert other[name].dtype == region[name].dtype
        np.testing.assert_array_equal(other[name].values, region[name].values)


@settings(max_examples=15, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**62 - 1))
def test_random_chunkings_give_the_same_values(data, seed):
    shape = (37, 41)
    whole = synthetic_region(shape, seed=seed, chunks=shape).compute()
    chunks = data.draw(yx_chunks(shape, max_chunks=5))
    other = synthetic_region(shape, seed=seed, chunks=chunks)
    assert other.dem.chunks == chunks
    xr.testing.assert_identical(other.compute(), whole)


def test_generate_block_is_the_region_slice(region):
    block = generate_block(0, (123, 180), (640, 700), SHAPE)
    assert block.shape == (len(PACKED_LAYERS), 57, 60) and block.dtype == np.float32
    window = {"y": slice(123, 180), "x": slice(640, 700)}
    np.testing.assert_array_equal(block[0:2], region.continuous[:, 123:180, 640:700].values)
    np.testing.assert_array_equal(block[2:6], region.categorical.isel(window).values)
    np.testing.assert_array_equal(block[6], region.dem.isel(window).values)
    np.testing.assert_array_equal(block[7], region.label.isel(window).values)


def test_different_seeds_differ(region):
    other = synthetic_region(SHAPE, seed=1, chunks=256)
    dem = other.dem[:200, :200].values
    assert not np.allclose(dem, region.dem.values[:200, :200], equal_nan=True)


def test_landslide_ratio_unknown_pixels_and_codes(region):
    lab = region.label.values
    valid = lab >= 0
    assert set(np.unique(lab)) == {-1, 0, 1}
    ratio = (lab == 1).sum() / valid.sum()
    assert 0.005 <= ratio <= 0.03, ratio
    unknown = 1 - valid.mean()
    assert 0.01 < unknown < 0.10, unknown
    cont, codes = region.continuous.values, region.categorical.values
    assert np.isnan(cont[:, ~valid]).all() and np.isnan(region.dem.values[~valid]).all()
    assert np.isfinite(cont[:, valid]).all() and np.isfinite(region.dem.values[valid]).all()
    # every valid pixel has one class per group (a code below the class count), 255 outside
    assert (codes[:, ~valid] == NODATA_CODE).all()
    for g, n in enumerate(INSPIRE.n_classes):
        assert (codes[g][valid] < n).all()
    validate_region(region, check_values=True)
    dem = region.dem.values[valid]
    assert 0.0 <= dem.min() and dem.max() < 3000.0 and dem.max() - dem.min() > 500.0


def test_rock_family_and_age_follow_lithology(region):
    valid = region.label.values >= 0

    def codes(group):
        return region.categorical.sel(group=group).values[valid].astype(int)

    lith, fam, age = codes("lithology"), codes("rock_family"), codes("rock_age")
    families = INSPIRE_GROUPS["rock_family"]
    ages = INSPIRE_GROUPS["rock_age"]
    unknown_age = ages.index("unknown_age")
    assert len(np.unique(lith)) >= 5
    assert (age == unknown_age).any()
    for k in np.unique(lith):
        family, (young, old), *_ = LITHOLOGY_TABLE[INSPIRE_GROUPS["lithology"][k]]
        sel = lith == k
        assert (fam[sel] == families.index(family)).all()
        a = age[sel]
        inside = (a >= ages.index(young)) & (a <= ages.index(old))
        assert (inside | (a == unknown_age)).all()


def test_slope_feature_is_horn_slope_of_the_dem(region):
    raw = region.continuous.sel(layer="slope").values.astype(np.float64)
    ref = slope(region.dem).values.astype(np.float64)
    finite = np.isfinite(ref)
    expect = (ref - NORMALISATION["slope"]["mean"]) / NORMALISATION["slope"]["std"]
    np.testing.assert_allclose(raw[finite], expect[finite], rtol=1e-6, atol=1e-6)
    # finite on every valid pixel, also where terrain.slope cannot see across the boundary
    valid = region.label.values >= 0
    assert np.isfinite(raw[valid]).all() and (valid & ~finite).any()


def _auc(y, score):
    """Mann-Whitney AUC (ties averaged)."""
    from scipy.stats import rankdata

    r = rankdata(score)
    npos = y.sum()
    return (r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * (len(y) - npos))


def _relief(region, mask):
    from scipy.ndimage import maximum_filter

    dem = region.dem.values
    r = relief_radius_pixels(10.0)
    top = maximum_filter(np.where(np.isfinite(dem), dem, -np.inf), size=2 * r + 1, mode="nearest")
    return (top - dem)[mask]


def _sample(y, seed=0, negatives_per_positive=20):
    rng = np.random.default_rng(seed)
    pos = np.flatnonzero(y == 1)
    neg = rng.choice(np.flatnonzero(y == 0), negatives_per_positive * len(pos), replace=False)
    sel = np.concatenate([pos, neg])
    rng.shuffle(sel)
    return sel


def test_no_single_feature_separates_labels(known):
    X, y, _ = known
    sel = _sample(y)
    for k in range(X.shape[1]):
        col = X[sel, k]
        if col.std() == 0:
            continue
        auc = _auc(y[sel], col)
        assert max(auc, 1 - auc) < 0.95, (FEATURE_NAMES[k], auc)


def test_rule_is_learnable_and_upslope_terrain_matters(region, known):
    from sklearn.linear_model import LogisticRegression

    X, y, mask = known
    relief = _relief(region, mask)
    # the rule: among steep pixels, those below a long slope (wet) slide far more often
    theta = X[:, 0] * NORMALISATION["slope"]["std"] + NORMALISATION["slope"]["mean"]
    steep = theta > 30
    wet = y[steep & (relief > RELIEF_SATURATION)].mean()
    dry = y[steep & (relief < RELIEF_DRY)].mean()
    assert wet > 5 * dry, (wet, dry)

    sel = _sample(y)
    train, test = sel[: len(sel) // 2], sel[len(sel) // 2 :]

    def auc(features):
        model = LogisticRegression(max_iter=1000).fit(features[train], y[train])
        return _auc(y[test], model.predict_proba(features[test])[:, 1])

    base = auc(X)
    upslope = auc(np.column_stack([X, (relief - 100.0) / 100.0]))
    assert base > 0.85, base
    assert upslope > base + 0.002, (base, upslope)


def test_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        synthetic_region((2, 10))
    with pytest.raises(ValueError, match="seed"):
        synthetic_region((10, 10), seed=-1)
    with pytest.raises(ValueError, match="pixel_size"):
        synthetic_region((10, 10), pixel_size=0.0)


def test_small_region_numpy_roundtrip():
    ds = synthetic_region((20, 30), seed=7, chunks=8)
    eager = ds.compute()
    for name in ("continuous", "categorical", "dem", "label"):
        assert isinstance(eager[name].data, np.ndarray)
    xr.testing.assert_identical(ds.compute(), eager)
    np.testing.assert_array_equal(ds.landslide.features().values, eager.landslide.features().values)
