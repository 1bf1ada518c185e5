"""terrain.slope: Horn's method against xarray-spatial (the oracle), any chunking, lazy."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import raise_if_dask_computes
from tests.strategies import yx_chunks
from xlandslide.errors import GridError
from xlandslide.terrain import slope


def _dem(ny=60, nx=70, pixel=10.0, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 500.0 + 3.0 * xx + 2.0 * yy + 40.0 * np.sin(xx / 7.0) * np.cos(yy / 5.0)
    z += rng.normal(0.0, 2.0, z.shape)
    return xr.DataArray(
        z.astype(np.float32),
        dims=("y", "x"),
        coords={"y": 5e6 - pixel * (np.arange(ny) + 0.5), "x": 6e5 + pixel * (np.arange(nx) + 0.5)},
        name="dem",
    )


def test_slope_matches_xrspatial_interior():
    xrspatial = pytest.importorskip("xrspatial")
    dem = _dem()
    ours = slope(dem)
    ref = xrspatial.slope(dem)
    assert ours.dtype == np.float32
    assert ours.attrs["units"] == "degrees" and "long_name" in ours.attrs
    inner = (slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(ours.values[inner], ref.values[inner], atol=1e-4, rtol=0)
    # edges are NaN, like xrspatial
    assert np.isnan(ours.values[0]).all() and np.isnan(ours.values[:, -1]).all()
    assert np.isnan(ref.values[0]).all()


def test_slope_closed_form_ramp_and_nan_neighbours():
    # a plane rising 10 m per 10 m pixel eastwards: exactly 45 degrees
    z = np.add.outer(np.zeros(6), 10.0 * np.arange(7))
    dem = xr.DataArray(
        z, dims=("y", "x"), coords={"y": 55.0 - 10 * np.arange(6), "x": 5.0 + 10 * np.arange(7)}
    )
    out = slope(dem).values
    np.testing.assert_allclose(out[1:-1, 1:-1], 45.0, atol=1e-5)
    dem[3, 3] = np.nan
    out = slope(dem).values
    assert np.isnan(out[2:5, 2:5]).all()  # the NaN pixel and its 8 neighbours
    assert np.isfinite(out[1, 1]) and np.isfinite(out[1, 5]) and np.isfinite(out[4, 1])


@pytest.mark.parametrize("chunks", [(7, 9), (13, 70), (60, 11), (25, 33)])
def test_slope_dask_equals_numpy_and_is_lazy(chunks):
    dem = _dem(seed=3)
    expected = slope(dem).values
    with raise_if_dask_computes():
        lazy = slope(dem.chunk({"y": chunks[0], "x": chunks[1]}))
    assert lazy.chunks == dem.chunk({"y": chunks[0], "x": chunks[1]}).chunks
    np.testing.assert_array_equal(lazy.values, expected)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_slope_random_chunkings(data):
    dem = _dem(ny=41, nx=53, seed=5)
    expected = slope(dem).values
    cy, cx = data.draw(yx_chunks((41, 53)))
    got = slope(dem.chunk({"y": cy, "x": cx}))
    assert got.chunks == (cy, cx)
    np.testing.assert_array_equal(got.values, expected)


def test_slope_uses_pixel_size_and_keeps_coords():
    dem = _dem(pixel=30.0)
    coarse = slope(dem)
    fine = slope(dem.assign_coords(y=dem.y / 3.0, x=dem.x / 3.0))
    assert (coarse.values[5:-5, 5:-5] < fine.values[5:-5, 5:-5]).all()
    xr.testing.assert_equal(coarse.y, dem.y)


def test_slope_rejects_bad_grids():
    dem = _dem()
    with pytest.raises(GridError, match="dims"):
        slope(dem.transpose("x", "y"))
    with pytest.raises(GridError, match="square"):
        slope(dem.assign_coords(x=dem.x * 2.0))
    band = dem.expand_dims(band=[1])
    np.testing.assert_array_equal(slope(band).values, slope(dem).values)
