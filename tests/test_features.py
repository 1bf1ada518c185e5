"""Tests of uphill_offsets and aligned_features: exactness, chunking, laziness, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import custom_region, raise_if_dask_computes
from tests.strategies import chunkings
from xlandslide.errors import GridError, GridMismatchError, HaloError, RegionError
from xlandslide.features import aligned_feature_names, aligned_features, uphill_offsets
from xlandslide.grid import HALO, check_halo
from xlandslide.kernels.uphill import ring_offsets
from xlandslide.region import onehot_features
from xlandslide.synthetic import synthetic_region

PIXEL = 10.0


def grid_dem(values, pixel=PIXEL, *, crs=None):
    """A DataArray DEM on a north-up grid (y descending) with ``pixel`` square pixels."""
    values = np.asarray(values)
    ny, nx = values.shape
    dem = xr.DataArray(
        values,
        dims=("y", "x"),
        coords={
            "y": 1000.0 - pixel * (np.arange(ny) + 0.5),
            "x": 500.0 + pixel * (np.arange(nx) + 0.5),
        },
        name="dem",
    )
    if crs is not None:
        import rioxarray  # noqa: F401

        dem = dem.rio.write_crs(crs)
    return dem


def random_values(shape, seed=0, levels=4, nan_fraction=0.2):
    rng = np.random.default_rng(seed)
    v = rng.integers(0, levels, shape).astype(np.float32)  # integer values: many ties
    v[rng.random(shape) < nan_fraction] = np.nan
    return v


def features_like(dem, names=("slope", "cplan", "dem"), seed=1):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(names), *dem.shape)).astype(np.float32)
    return xr.DataArray(
        data,
        dims=("feature", "y", "x"),
        coords={"feature": list(names), "y": dem.y, "x": dem.x},
    )


def check_uphill(elev, dy, dx, radius):
    """Vectorised exactness check of offsets against the ring definition.

    For every pixel: (0, 0) exactly where no ring pixel is valid; otherwise the chosen
    offset is on the ring, holds the maximum of the valid ring elevations, and is the first
    ring offset (row-major) holding it.
    """
    elev = np.asarray(elev, dtype=np.float64)
    dy = np.asarray(dy).astype(np.int64)
    dx = np.asarray(dx).astype(np.int64)
    ny, nx = elev.shape
    r = radius
    ring = ring_offsets(r)
    pad = np.pad(elev, r, constant_values=np.nan)
    shifted = [pad[r + a : r + a + ny, r + b : r + b + nx] for a, b in ring]
    best = np.full(elev.shape, -np.inf)
    for v in shifted:
        best = np.fmax(best, v)
    has_valid = best > -np.inf
    found = (dy != 0) | (dx != 0)
    np.testing.assert_array_equal(found, has_valid)
    n2 = dy**2 + dx**2
    assert ((n2 >= r * r - r + 1) & (n2 <= r * r + r))[found].all(), "offset off the ring"
    ii, jj = np.nonzero(found)
    chosen = elev[ii + dy[found], jj + dx[found]]
    np.testing.assert_array_equal(chosen, best[found])
    first = np.full(elev.shape, -1)
    for k, v in enumerate(shifted):
        first = np.where((first < 0) & (v == best), k, first)
    k_of = {(a, b): k for k, (a, b) in enumerate(ring.tolist())}
    chosen_k = np.array([k_of[(a, b)] for a, b in zip(dy[found], dx[found])])
    np.testing.assert_array_equal(chosen_k, first[found])


# ------------------------------------------------------------------------ uphill_offsets


def test_uphill_offsets_structure_and_values():
    dem = grid_dem(random_values((23, 31)), crs="EPSG:32717")
    offs = uphill_offsets(dem, (10, 30, 52))
    assert set(offs.data_vars) == {"dy", "dx"}
    for v in ("dy", "dx"):
        assert offs[v].dims == ("distance", "y", "x") and offs[v].dtype == np.int8
        assert isinstance(offs[v].data, np.ndarray)
    assert offs["distance"].dtype == np.float64
    assert offs["distance"].values.tolist() == [10.0, 30.0, 52.0]
    assert offs.attrs["radius_pixels"] == [1, 3, 5]
    assert offs.attrs["pixel_size"] == 10.0
    assert "round(hypot(dy, dx))" in offs.attrs["ring"]
    assert offs["distance"].attrs["units"] == "m" and offs["dy"].attrs["units"] == "pixels"
    xr.testing.assert_identical(offs["y"], dem["y"])
    xr.testing.assert_identical(offs["x"], dem["x"])
    assert offs.rio.crs == dem.rio.crs and "spatial_ref" in offs.coords
    for d, r in enumerate([1, 3, 5]):
        check_uphill(dem.values, offs["dy"][d], offs["dx"][d], r)


def test_uphill_offsets_hand_example():
    # a ramp rising to the east: the uphill point is always due east, if on the grid
    dem = grid_dem(np.tile(np.arange(8.0), (5, 1)))
    offs = uphill_offsets(dem, 20)  # radius 2: east-most ring offsets are (-1,2),(0,2),(1,2)
    assert offs["dx"].values[0, 2, 3] == 2 and offs["dy"].values[0, 2, 3] == -1  # first tie
    # column 6 cannot look 2 to the east: best is one column east, first in ring order
    assert offs["dx"].values[0, 2, 6] == 1 and offs["dy"].values[0, 2, 6] == -2


def test_integer_dem_and_transposed_dims_are_fine():
    values = np.random.default_rng(3).integers(0, 5, (12, 14)).astype(np.int16)
    expected = uphill_offsets(grid_dem(values.astype("float32")), (10, 30))
    xr.testing.assert_identical(uphill_offsets(grid_dem(values), (10, 30)), expected)
    transposed = grid_dem(values.astype("float64")).transpose("x", "y")
    xr.testing.assert_identical(uphill_offsets(transposed, (10, 30)), expected)


def test_ring_without_valid_elevation_gives_zero_offset():
    values = np.full((9, 9), np.nan)
    values[4, 4] = 100.0
    offs = uphill_offsets(grid_dem(values), 30)
    dy, dx = offs["dy"].values[0], offs["dx"].values[0]
    ring = {tuple(p) for p in ring_offsets(3).tolist()}
    for i, j in itertools.product(range(9), range(9)):
        if (4 - i, 4 - j) in ring:
            assert (dy[i, j], dx[i, j]) == (4 - i, 4 - j)
        else:
            assert (dy[i, j], dx[i, j]) == (0, 0)


@pytest.mark.parametrize("chunks", [{"y": 5, "x": 7}, {"y": 1, "x": 2}, {"y": 40, "x": 3}])
def test_dask_equals_numpy_and_stays_lazy(chunks):
    dem = grid_dem(random_values((19, 26), seed=5), crs="EPSG:32717")
    expected = uphill_offsets(dem, (10, 30, 60))
    with raise_if_dask_computes():
        lazy = uphill_offsets(dem.chunk(chunks), (10, 30, 60))
    assert lazy["dy"].chunks is not None
    xr.testing.assert_identical(lazy.compute(scheduler="sync"), expected)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    ny=st.integers(2, 24),
    nx=st.integers(2, 24),
    distances=st.lists(st.sampled_from([10, 20, 30, 50, 70]), min_size=1, max_size=3, unique=True),
)
def test_any_chunking_gives_the_numpy_result(data, ny, nx, distances):
    # chunks as small as one pixel, and axes shorter than the radius
    dem = grid_dem(random_values((ny, nx), seed=ny * 31 + nx))
    feats = features_like(dem)
    expected = uphill_offsets(dem, distances)
    expected_feats = aligned_features(feats, expected, ["slope", "dem"])
    chunks = {"y": data.draw(chunkings(ny)), "x": data.draw(chunkings(nx))}
    got = uphill_offsets(dem.chunk(chunks), distances).compute(scheduler="sync")
    xr.testing.assert_identical(got, expected)
    other = {"y": data.draw(chunkings(ny)), "x": data.draw(chunkings(nx))}
    lazy = aligned_features(feats.chunk(other), expected.chunk(chunks), ["slope", "dem"])
    xr.testing.assert_identical(lazy.compute(scheduler="sync"), expected_feats)


# --------------------------------------------------------------------------- real DEMs


@pytest.fixture(scope="module")
def ecuador_elev(ecuador_tif):
    import rioxarray

    return rioxarray.open_rasterio(ecuador_tif, masked=True).sel(band=4, drop=True)


@pytest.mark.parametrize("factor", [1, 3])
def test_exact_on_the_real_dem(ecuador_elev, factor):
    dem = ecuador_elev
    if factor > 1:
        dem = dem.coarsen(y=factor, x=factor, boundary="trim").mean()
    offs = uphill_offsets(dem)  # 30, 100, 300 m
    pixel = 10.0 * factor
    assert offs.attrs["radius_pixels"] == [round(d / pixel) for d in (30, 100, 300)]
    assert offs.rio.crs == ecuador_elev.rio.crs
    elev = dem.values
    assert np.isnan(elev).any() and np.isfinite(elev).sum() > 1000
    for d, radius in enumerate(offs.attrs["radius_pixels"]):
        check_uphill(elev, offs["dy"].values[d], offs["dx"].values[d], radius)
    # uneven chunks, some smaller than the 30-pixel radius
    lazy = uphill_offsets(dem.chunk({"y": 97, "x": 25}))
    xr.testing.assert_identical(lazy.compute(), offs)


# ------------------------------------------------------------------------------ errors


def test_radius_above_the_halo_is_refused_by_the_one_check():
    dem = grid_dem(random_values((8, 8)))
    with pytest.raises(HaloError, match="beyond the halo of 64 pixels") as info:
        uphill_offsets(dem, (30, 700))  # 70 pixels at 10 m > 64 (the default halo)
    with pytest.raises(HaloError) as same:
        check_halo((30, 700), PIXEL, HALO, what="uphill_offsets")
    assert str(info.value) == str(same.value)  # grid.check_halo's message, word for word
    assert str(info.value).startswith("uphill_offsets:") and "halo=70" in str(info.value)
    with pytest.raises(HaloError, match="ring of 6 pixels at 10 m, beyond the halo of 5"):
        uphill_offsets(dem, 60, halo=5)
    with pytest.raises(HaloError, match="half a pixel"):
        uphill_offsets(dem, 2)  # radius 0
    # a radius equal to the halo fits, and the halo is recorded
    offs = uphill_offsets(dem, 50, halo=5)
    assert offs.attrs["halo"] == 5 and offs.attrs["radius_pixels"] == [5]
    assert uphill_offsets(dem, 30).attrs["halo"] == HALO


def test_with_offsets_refuses_a_halo_smaller_than_the_radius():
    region = custom_region((20, 24))
    with pytest.raises(HaloError, match="beyond the halo of 8 pixels"):
        region.landslide.with_offsets((30, 100, 300), halo=8)  # the LANN-with-halo-8 case
    with_offs = region.landslide.with_offsets((30, 100), halo=10)
    assert with_offs.uphill_dy.attrs["radius_pixels"] == [3, 10]


def test_bad_grids_and_inputs():
    values = random_values((6, 7))
    dem = grid_dem(values)
    with pytest.raises(GridError, match="not square"):
        uphill_offsets(dem.assign_coords(x=dem.x * 2), 30)
    with pytest.raises(GridError, match="select one layer"):
        uphill_offsets(dem.expand_dims(band=[1]), 30)
    with pytest.raises(GridError, match="dims"):
        uphill_offsets(dem.rename(x="lon"), 30)
    with pytest.raises(GridError, match="coordinate"):
        uphill_offsets(dem.drop_vars("x"), 30)
    with pytest.raises(TypeError, match="DataArray"):
        uphill_offsets(values, 30)
    with pytest.raises(RegionError, match="numbers"):
        uphill_offsets(dem.astype(bool), 30)
    with pytest.raises(ValueError, match="unique"):
        uphill_offsets(dem, (30, 30))
    with pytest.raises(ValueError, match="positive"):
        uphill_offsets(dem, (30, -10))


# --------------------------------------------------------------------- aligned features


def fancy_oracle(features, dy, dx):
    """numpy fancy indexing: features at (i + dy, j + dx), NaN at (0, 0)."""
    _, ny, nx = features.shape
    ii, jj = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    out = features[:, ii + dy, jj + dx].astype(np.float32)  # offsets are always in range
    out[:, (dy == 0) & (dx == 0)] = np.nan
    return out


def test_aligned_features_against_fancy_indexing():
    dem = grid_dem(random_values((17, 21), seed=8, nan_fraction=0.4), crs="EPSG:32717")
    dem[:, :4] = np.nan  # whole rings without valid elevation -> (0, 0)
    offs = uphill_offsets(dem, (10, 30))
    feats = features_like(dem).rio.write_crs("EPSG:32717")
    names = ["dem", "slope"]
    got = aligned_features(feats, offs, names)
    assert got.dims == ("feature", "y", "x") and got.dtype == np.float32
    assert got["feature"].values.tolist() == ["dem@10m", "slope@10m", "dem@30m", "slope@30m"]
    assert got.rio.crs == dem.rio.crs
    xr.testing.assert_identical(got["y"], dem["y"])
    zero = 0
    for d in range(2):
        dy, dx = offs["dy"].values[d], offs["dx"].values[d]
        expected = fancy_oracle(feats.sel(feature=names).values, dy, dx)
        np.testing.assert_array_equal(got.values[2 * d : 2 * d + 2], expected)
        missing = (dy == 0) & (dx == 0)
        assert np.isnan(got.values[2 * d : 2 * d + 2][:, missing]).all()
        zero += missing.sum()
    assert zero > 0
    # a hand-checked pixel
    i, j = 8, 10
    a, b = int(offs["dy"].values[1, i, j]), int(offs["dx"].values[1, i, j])
    assert got.sel(feature="slope@30m").values[i, j] == feats.values[0, i + a, j + b]


def test_aligned_features_lazy_and_region_style_offsets():
    dem = grid_dem(random_values((16, 18), seed=9))
    feats = features_like(dem)
    expected = aligned_features(feats, uphill_offsets(dem, (10, 30)), "slope")
    assert expected["feature"].values.tolist() == ["slope@10m", "slope@30m"]
    with raise_if_dask_computes():
        offs = uphill_offsets(dem.chunk(5), (10, 30))
        region_offs = xr.Dataset({"uphill_dy": offs["dy"], "uphill_dx": offs["dx"]})
        lazy = aligned_features(feats.chunk({"feature": 1, "y": 7, "x": 4}), region_offs, "slope")
    xr.testing.assert_identical(lazy.compute(scheduler="sync"), expected)


def test_aligned_features_beyond_the_package_halo_are_chunk_independent():
    # offsets computed with a halo above HALO (64): the gather must reach as far as they do
    dem = grid_dem(random_values((150, 160), seed=11, levels=50, nan_fraction=0.05))
    offs = uphill_offsets(dem, (30, 700), halo=70)  # radii 3 and 70 pixels
    assert offs.attrs["radius_pixels"] == [3, 70]
    feats = features_like(dem)
    expected = aligned_features(feats, offs, ["slope", "dem"])
    lazy = aligned_features(feats.chunk(66), offs.chunk({"y": 70, "x": 71}), ["slope", "dem"])
    xr.testing.assert_identical(lazy.compute(scheduler="sync"), expected)
    dy, dx = offs["dy"].values[1], offs["dx"].values[1]
    np.testing.assert_array_equal(
        expected.values[2:], fancy_oracle(feats.sel(feature=["slope", "dem"]).values, dy, dx)
    )


def test_aligned_features_errors():
    dem = grid_dem(random_values((10, 12)))
    feats = features_like(dem)
    offs = uphill_offsets(dem, (10, 30))
    with pytest.raises(KeyError, match="'aspect'"):
        aligned_features(feats, offs, ["slope", "aspect"])
    with pytest.raises(ValueError, match="unique"):
        aligned_features(feats, offs, ["slope", "slope"])
    with pytest.raises(ValueError, match="empty"):
        aligned_features(feats, offs, [])
    shifted = feats.assign_coords(x=feats.x + 10.0)
    with pytest.raises(GridMismatchError, match="'x'"):
        aligned_features(shifted, offs, ["slope"])
    with pytest.raises(GridMismatchError, match="size"):
        aligned_features(feats.isel(y=slice(1, None)), offs, ["slope"])
    with pytest.raises(RegionError, match="dims"):
        aligned_features(feats.rename(feature="band"), offs, ["slope"])
    with pytest.raises(RegionError, match="'dy'"):
        aligned_features(feats, offs.rename(dy="up"), ["slope"])
    with pytest.raises(TypeError):
        aligned_features(feats, offs["dy"], ["slope"])


def test_aligned_feature_names_format():
    assert aligned_feature_names(["slope"], [30.0, 12.5, 100]) == [
        "slope@30m",
        "slope@12.5m",
        "slope@100m",
    ]


# --------------------------------------------------------- aligned features of the one-hot view


def test_aligned_features_of_the_one_hot_view():
    region = custom_region((30, 36), seed=4)
    region = region.assign(dem=region.dem.fillna(0.0))  # every ring has a valid elevation
    region = region.landslide.with_offsets((10, 30), halo=8)
    names = ["b", "soil_c2", "cover_c0"]
    got = region.landslide.aligned_features(names)
    assert got["feature"].values.tolist() == aligned_feature_names(names, (10, 30))
    view = onehot_features(region)
    expected = aligned_features(view, region, names)
    xr.testing.assert_identical(got, expected)
    # oracle: the one-hot values (NaN at code 255) read at the uphill points
    values = view.sel(feature=names).values
    for d in range(2):
        dy, dx = region.uphill_dy.values[d], region.uphill_dx.values[d]
        np.testing.assert_array_equal(got.values[3 * d : 3 * d + 3], fancy_oracle(values, dy, dx))
    onehot = got.sel(feature="soil_c2@30m").values
    assert set(np.unique(onehot[np.isfinite(onehot)])) == {0.0, 1.0}


def test_aligned_features_of_a_synthetic_region_are_lazy_and_chunk_free():
    region = synthetic_region((48, 56), seed=2, chunks=(20, 24))
    with raise_if_dask_computes():
        region = region.landslide.with_offsets((30, 100), halo=10)
        lazy = region.landslide.aligned_features(["dem", "lithology_limestone"])
    eager = synthetic_region((48, 56), seed=2, chunks=(48, 56)).compute()
    eager = eager.landslide.with_offsets((30, 100), halo=10)
    expected = eager.landslide.aligned_features(["dem", "lithology_limestone"])
    np.testing.assert_array_equal(lazy.values, expected.values)
