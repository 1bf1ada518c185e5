"""Region stores: validation, exact Zarr round trips, atomic writes, regions from a DEM."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import rioxarray
import xarray as xr
from conftest import raise_if_dask_computes

from xlandslide.catalog import FEATURE_NAMES, feature_index
from xlandslide.errors import GridError, RegionError, StoreExistsError
from xlandslide.io import (
    RegionNotFoundError,
    get_normalisation,
    open_region,
    region_from_dem,
    validate_region,
    write_region,
)
from xlandslide.synthetic import synthetic_region
from xlandslide.terrain import slope


@pytest.fixture(scope="module")
def small():
    """A lazy 90 x 110 synthetic region with fake uphill offsets (chunks 32)."""
    ds = synthetic_region((90, 110), seed=5, chunks=32)
    rng = da.random.default_rng(0)
    off = rng.integers(-30, 31, (3, 90, 110), chunks=(3, 32, 32), dtype=np.int8)
    return ds.assign(
        uphill_dy=(("distance", "y", "x"), off),
        uphill_dx=(("distance", "y", "x"), -off),
    ).assign_coords(distance=("distance", [30.0, 100.0, 300.0]))


@pytest.fixture(scope="module")
def small_values(small):
    return small.compute()


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_round_trip_is_exact(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    assert store == tmp_path / "r.zarr" and _siblings(store) == []
    back = open_region(store)
    assert back.features.chunks == ((94,), (64, 26), (64, 46))
    assert back.uphill_dy.chunks == ((3,), (64, 26), (64, 46))
    assert back.features.encoding["compressors"][0].__class__.__name__ == "ZstdCodec"
    loaded = back.compute()
    for name in ("features", "dem", "label", "uphill_dy", "uphill_dx"):
        assert loaded[name].dtype == small_values[name].dtype
        assert loaded[name].dims == small_values[name].dims
        np.testing.assert_array_equal(loaded[name].values, small_values[name].values)
        assert loaded[name].attrs == small_values[name].attrs
    assert list(loaded.feature.values) == list(FEATURE_NAMES)
    assert loaded.feature.dtype.kind == "U"
    np.testing.assert_array_equal(loaded.y.values, small.y.values)
    np.testing.assert_array_equal(loaded.x.values, small.x.values)
    np.testing.assert_array_equal(loaded.distance.values, [30.0, 100.0, 300.0])
    assert loaded.rio.crs == small.rio.crs
    assert loaded.attrs == small.attrs
    assert get_normalisation(loaded) == get_normalisation(small)


def test_open_without_dask_reads_lazily_indexed_numpy(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr")
    ds = open_region(store, chunks=None)
    assert ds.features.chunks is None  # not dask
    patch = ds.features[:, 10:20, 30:45].values
    np.testing.assert_array_equal(patch, small_values.features.values[:, 10:20, 30:45])
    # and it can be written again, streamed from the first store
    again = write_region(ds, tmp_path / "copy.zarr", chunks=(40, 50))
    np.testing.assert_array_equal(open_region(again).label.values, small_values.label.values)


def test_open_is_lazy(tmp_path, small):
    store = write_region(small, tmp_path / "r.zarr")
    with raise_if_dask_computes():
        ds = open_region(store)
        validate_region(ds)
    assert isinstance(ds.features.data, da.Array)


def test_refuses_to_overwrite_unless_asked(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr")
    with pytest.raises(StoreExistsError, match="overwrite=True") as info:
        write_region(small, store)
    assert isinstance(info.value, FileExistsError)
    other = synthetic_region((90, 110), seed=6, chunks=32)
    write_region(other, store, overwrite=True)
    assert _siblings(store) == []
    np.testing.assert_array_equal(open_region(store).dem.values, other.dem.values)


def test_failed_write_leaves_previous_store_intact(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr")

    def boom(block, block_info=None):
        if block_info[0]["chunk-location"] == (1, 1):
            raise RuntimeError("injected failure")
        return block

    broken = small.copy()
    broken["dem"] = small.dem.copy(data=small.dem.data.map_blocks(boom, dtype=np.float32))
    with pytest.raises(RuntimeError, match="injected failure"):
        write_region(broken, store, overwrite=True)
    assert _siblings(store) == []  # the temporary store is gone
    np.testing.assert_array_equal(open_region(store).dem.values, small_values.dem.values)
    # and a failed first write leaves nothing under the final name
    with pytest.raises(RuntimeError, match="injected failure"):
        write_region(broken, tmp_path / "new.zarr")
    assert not (tmp_path / "new.zarr").exists() and _siblings(store) == []


def test_write_and_open_an_fsspec_url(small, small_values):
    url = "memory://xlandslide-tests/region.zarr"
    assert write_region(small, url, overwrite=True) == url
    with pytest.raises(StoreExistsError):
        write_region(small, url)
    np.testing.assert_array_equal(open_region(url).label.values, small_values.label.values)
    with pytest.raises(RegionNotFoundError):
        open_region("memory://xlandslide-tests/missing.zarr")


def test_open_errors_are_typed_and_name_the_fix(tmp_path):
    missing = tmp_path / "nothing.zarr"
    with pytest.raises(RegionNotFoundError, match="write_region") as info:
        open_region(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, RegionError)
    assert str(missing) in str(info.value)
    (tmp_path / "plain").mkdir()
    with pytest.raises(RegionError, match="not a readable Zarr store"):
        open_region(tmp_path / "plain")
    xr.Dataset({"a": ("y", np.arange(3.0))}).to_zarr(
        tmp_path / "other.zarr", zarr_format=3, consolidated=False
    )
    with pytest.raises(RegionError, match=r"no 'features' variable.*synthetic_region"):
        open_region(tmp_path / "other.zarr")
    ds = open_region(tmp_path / "other.zarr", validate=False)
    assert "a" in ds


# ---- validation -----------------------------------------------------------------------------
@pytest.fixture
def tiny():
    return synthetic_region((12, 14), seed=0, chunks=6)


def test_validate_accepts_regions_without_computing(tiny):
    with raise_if_dask_computes():
        assert validate_region(tiny) is tiny


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda d: d.drop_vars("label"), RegionError, "no 'label' variable"),
        (lambda d: d.assign(dem=d.dem.astype("float64")), RegionError, "astype\\('float32'\\)"),
        (lambda d: d.assign(label=d.label.astype("int16")), RegionError, "int8"),
        (
            lambda d: d.assign(features=d.features.transpose("y", "x", "feature")),
            RegionError,
            "transpose",
        ),
        (lambda d: d.assign_coords(feature=np.arange(94)), RegionError, "strings"),
        (lambda d: d.assign_coords(feature=["slope"] * 94), RegionError, "unique"),
        (lambda d: d.drop_vars("spatial_ref"), GridError, "write_crs"),
        (lambda d: d.isel(y=slice(None, None, -1)), GridError, "descending"),
        (lambda d: d.isel(x=slice(None, None, -1)), GridError, "ascending"),
        (lambda d: d.assign_coords(x=d.x * 2), GridError, "square"),
        (lambda d: d.assign_attrs(normalisation={}), RegionError, "normalisation"),
        (
            lambda d: d.assign(uphill_dy=d.features[:3].astype("int8").rename(feature="distance")),
            RegionError,
            "pair",
        ),
        (
            lambda d: d.assign(
                uphill_dy=d.features[:3].astype("int8").rename(feature="distance"),
                uphill_dx=d.features[:3].rename(feature="distance"),
            ),
            RegionError,
            "int8",
        ),
        (lambda d: d.features, RegionError, "xarray.Dataset"),
    ],
)
def test_validate_errors(tiny, change, error, match):
    with pytest.raises(error, match=match):
        validate_region(change(tiny))


def test_normalisation_as_dict_or_json(tiny):
    norm = get_normalisation(tiny)
    as_json = tiny.assign_attrs(normalisation=json.dumps(norm))
    assert get_normalisation(as_json) == norm
    validate_region(as_json)
    assert get_normalisation(xr.Dataset()) == {}
    with pytest.raises(RegionError, match="JSON"):
        get_normalisation(tiny.assign_attrs(normalisation="{nope"))
    with pytest.raises(RegionError, match="mean"):
        get_normalisation(tiny.assign_attrs(normalisation={"slope": 3.0}))
    with pytest.raises(RegionError, match="std"):
        validate_region(tiny.assign_attrs(normalisation={**norm, "dem": {"mean": 1, "std": 0}}))


# ---- regions from a DEM ---------------------------------------------------------------------
def _dem(ny=50, nx=60, nodata=True):
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = (300.0 + 4.0 * xx + 30.0 * np.sin(yy / 6.0)).astype(np.float32)
    if nodata:
        z[:5, :7] = np.nan
    dem = xr.DataArray(
        z,
        dims=("y", "x"),
        coords={
            "y": 9.56e6 - 10.0 * (np.arange(ny) + 0.5),
            "x": 7.1e5 + 10.0 * (np.arange(nx) + 0.5),
        },
    )
    return dem.rio.write_crs("EPSG:32717")


def test_region_from_dem_numpy_closed_form():
    dem = _dem()
    label = xr.full_like(dem, np.nan).copy()
    label[20:25, 20:30] = 1.0
    label[30:40, 10:20] = 0.0
    region = validate_region(region_from_dem(dem, label))
    assert isinstance(region.features.data, np.ndarray)
    sl = slope(dem).values
    valid = np.isfinite(dem.values) & np.isfinite(sl)
    norm = get_normalisation(region)
    assert norm["slope"]["mean"] == pytest.approx(sl[valid].mean(dtype="float64"), rel=1e-9)
    assert norm["dem"]["std"] == pytest.approx(dem.values[valid].std(dtype="float64"), rel=1e-9)
    f = region.features.values
    np.testing.assert_allclose(
        f[0][valid], (sl[valid] - norm["slope"]["mean"]) / norm["slope"]["std"], rtol=1e-5
    )
    assert np.isnan(f[:, ~valid]).all()
    fam, age = feature_index(["rock_family_unknown", "rock_age_unknown_age"])
    assert (f[fam][valid] == 1).all() and (f[age][valid] == 1).all()
    others = np.delete(np.arange(94), [0, 93, fam, age])
    assert (f[others][:, valid] == 0).all()
    lab = region.label.values
    assert (lab[20:25, 20:30] == 1).all() and (lab[30:40, 10:20] == 0).all()
    assert (lab[~valid] == -1).all() and (lab[:15] == -1).all()
    assert region.rio.crs.to_epsg() == 32717
    unlabelled = region_from_dem(dem)
    assert (unlabelled.label.values == -1).all()


def test_region_from_dem_dask_is_lazy_but_for_the_statistics():
    dem = _dem()
    eager = region_from_dem(dem)
    with raise_if_dask_computes(max_computes=1):  # the mean/std of slope and dem
        lazy = region_from_dem(dem.chunk({"y": 17, "x": 23}))
    assert isinstance(lazy.features.data, da.Array)
    assert lazy.features.chunks == ((94,), (17, 17, 16), (23, 23, 14))
    for name, stats in get_normalisation(eager).items():
        assert get_normalisation(lazy)[name] == pytest.approx(stats, rel=1e-9)
    np.testing.assert_allclose(lazy.features.values, eager.features.values, rtol=1e-6)
    np.testing.assert_array_equal(lazy.label.values, eager.label.values)


def test_region_from_dem_errors():
    dem = _dem()
    with pytest.raises(GridError, match="CRS"):
        region_from_dem(dem.drop_vars("spatial_ref"))
    with pytest.raises(RegionError, match="too few valid"):
        region_from_dem(xr.full_like(dem, np.nan))


def test_region_from_real_dem(ecuador_tif, tmp_path):
    stack = rioxarray.open_rasterio(ecuador_tif, masked=True, chunks={"x": 128, "y": 128})
    dem = stack.isel(band=3, y=slice(100, 300), x=slice(50, 300))
    region = region_from_dem(dem)
    norm = get_normalisation(region)
    assert 1500 < norm["dem"]["mean"] < 3500 and norm["slope"]["std"] > 1
    store = write_region(region, tmp_path / "ecuador.zarr")
    back = open_region(store)
    assert back.rio.crs.to_epsg() == 32717
    assert (back.label.values == -1).all()  # unlabelled everywhere
    f = back.features.sel(feature="slope").values
    assert np.isfinite(f).mean() > 0.5
