"""region_from_dem: continuous slope and DEM standardised, no groups, nodata, labels, laziness."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import rioxarray
import xarray as xr

from tests.helpers import raise_if_dask_computes
from xlandslide.catalog import FeatureLayout
from xlandslide.errors import GridError, GridMismatchError, RegionError
from xlandslide.io import open_region, region_from_dem, write_region
from xlandslide.region import feature_layout, get_normalisation
from xlandslide.terrain import slope
from xlandslide.validate import validate_region


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


def _oracle(dem):
    """Valid pixels, standardised slope and dem, by hand from terrain.slope (float64 stats)."""
    z = dem.values.astype(np.float32)
    sl = slope(dem).values
    valid = np.isfinite(z) & np.isfinite(sl)
    out = []
    for layer in (sl, z):
        mean = layer[valid].mean(dtype="float64")
        std = layer[valid].std(dtype="float64")
        out.append(np.where(valid, (layer - np.float32(mean)) / np.float32(std), np.nan))
    return valid, np.stack(out).astype(np.float32)


def test_continuous_slope_and_dem_no_groups():
    dem = _dem()
    label = xr.full_like(dem, np.nan).copy()
    label[20:25, 20:30] = 1.0
    label[30:40, 10:20] = 0.0
    label[40:45, 10:20] = -1.0  # the data model's unknown
    region = validate_region(region_from_dem(dem, label), check_values=True)
    assert set(region.data_vars) == {"dem", "label", "continuous"}  # no categorical group
    assert feature_layout(region) == FeatureLayout(("slope", "dem"))
    assert isinstance(region.continuous.data, np.ndarray)
    valid, expected = _oracle(dem)
    sl = slope(dem).values
    norm = get_normalisation(region)
    assert norm["slope"]["mean"] == pytest.approx(sl[valid].mean(dtype="float64"), rel=1e-9)
    assert norm["slope"]["std"] == pytest.approx(sl[valid].std(dtype="float64"), rel=1e-9)
    assert norm["dem"]["mean"] == pytest.approx(dem.values[valid].mean(dtype="float64"), rel=1e-9)
    assert norm["dem"]["std"] == pytest.approx(dem.values[valid].std(dtype="float64"), rel=1e-9)
    np.testing.assert_allclose(region.continuous.values, expected, rtol=1e-6, atol=1e-6)
    assert np.isnan(region.continuous.values[:, ~valid]).all()
    # the dem keeps every finite elevation, also on the rim where the slope is NaN
    np.testing.assert_array_equal(region.dem.values, dem.values)
    lab = region.label.values
    assert lab.dtype == np.int8
    assert (lab[20:25, 20:30] == 1).all() and (lab[30:40, 10:20] == 0).all()
    assert (lab[40:45, 10:20] == -1).all()
    assert (lab[~valid] == -1).all() and (lab[:15] == -1).all()
    assert region.rio.crs.to_epsg() == 32717
    # the one-hot view of a region without groups is its continuous layers
    view = region.landslide.features()
    assert view.feature.values.tolist() == ["slope", "dem"]
    np.testing.assert_array_equal(view.values, region.continuous.values)


def test_unlabelled_region_is_unknown_everywhere():
    region = region_from_dem(_dem())
    assert region.label.dtype == np.int8 and (region.label.values == -1).all()


def test_nodata_value_is_missing_like_nan():
    with_nan = _dem()
    encoded = with_nan.fillna(-9999.0).rio.write_nodata(-9999.0)
    a, b = region_from_dem(with_nan), region_from_dem(encoded)
    assert get_normalisation(a) == get_normalisation(b)
    for name in ("continuous", "label"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
    assert np.isnan(b.dem.values[:5, :7]).all()


def test_band_dimension_and_integer_dem():
    dem = _dem(nodata=False)
    band = dem.round().astype(np.int16).expand_dims(band=[1])
    region = region_from_dem(band)
    assert region.dem.dims == ("y", "x") and region.dem.dtype == np.float32
    np.testing.assert_array_equal(region.dem.values, dem.round().values)


def test_dask_is_lazy_but_for_the_statistics():
    dem = _dem()
    label = xr.where(dem > 400, 1.0, 0.0).rio.write_crs("EPSG:32717")
    eager = region_from_dem(dem, label)
    with raise_if_dask_computes(max_computes=1):  # the mean/std of slope and dem
        lazy = region_from_dem(dem.chunk({"y": 17, "x": 23}), label)
        lazy.landslide.features()
    for name in ("continuous", "dem", "label"):
        assert isinstance(lazy[name].data, da.Array)
    assert lazy.continuous.chunks == ((2,), (17, 17, 16), (23, 23, 14))
    assert lazy.label.chunks == ((17, 17, 16), (23, 23, 14))
    for name, stats in get_normalisation(eager).items():
        assert get_normalisation(lazy)[name] == pytest.approx(stats, rel=1e-9)
    np.testing.assert_allclose(lazy.continuous.values, eager.continuous.values, rtol=1e-6)
    np.testing.assert_array_equal(lazy.label.values, eager.label.values)
    assert (eager.label.values == 1).any() and (eager.label.values == 0).any()


def test_errors():
    dem = _dem()
    with pytest.raises(GridError, match=r"no CRS.*write_crs"):
        region_from_dem(dem.drop_vars("spatial_ref"))
    with pytest.raises(RegionError, match="too few valid"):
        region_from_dem(xr.full_like(dem, np.nan))
    with pytest.raises(RegionError, match="or is flat"):
        region_from_dem(xr.full_like(dem, 100.0))
    with pytest.raises(TypeError, match="DataArray"):
        region_from_dem(dem.values)
    with pytest.raises(GridMismatchError, match=r"label raster is not on the DEM.s grid"):
        region_from_dem(dem, xr.zeros_like(dem).isel(y=slice(1, None)))


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
    f = back.continuous.sel(layer="slope").values
    assert np.isfinite(f).mean() > 0.5
    np.testing.assert_array_equal(back.continuous.values, region.continuous.values)


def test_region_from_dem_refuses_a_numpy_array_naming_the_fix():
    from xlandslide.errors import InputTypeError

    with pytest.raises(InputTypeError, match="read_raster"):
        region_from_dem(np.zeros((8, 8), np.float32))
