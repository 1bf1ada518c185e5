import numpy as np
import pytest
import xarray as xr

from xlandslide.errors import GridError, GridMismatchError, HaloError
from xlandslide.grid import PatchGeometry, check_same_grid, pixel_size, radius_pixels


def _da(ny=5, nx=6, dy=10.0, dx=10.0):
    return xr.DataArray(
        np.zeros((ny, nx)),
        dims=("y", "x"),
        coords={"y": 1000 - dy * np.arange(ny), "x": 500 + dx * np.arange(nx)},
    )


def test_pixel_size():
    assert pixel_size(_da()) == 10.0
    assert pixel_size(_da(dy=30.0, dx=30.0)) == 30.0


@pytest.mark.parametrize(
    "da, match",
    [
        (_da(dy=10.0, dx=20.0), "not square"),
        (_da().drop_vars("x"), "no 'x' coordinate"),
        (_da(ny=1), "at least 2 pixels"),
        (_da().assign_coords(x=[0, 1, 2, 4, 5, 6.0]), "not regularly spaced"),
    ],
)
def test_pixel_size_errors(da, match):
    with pytest.raises(GridError, match=match):
        pixel_size(da)


def test_radius_pixels():
    assert [radius_pixels(d, 10.0) for d in (30, 100, 300)] == [3, 10, 30]
    assert [radius_pixels(d, 30.0) for d in (30, 100, 300)] == [1, 3, 10]
    with pytest.raises(HaloError, match="above the halo"):
        radius_pixels(700, 10.0)
    with pytest.raises(HaloError, match="at least half a pixel"):
        radius_pixels(2, 10.0)


def test_patch_geometry():
    assert PatchGeometry().size == 628
    assert PatchGeometry(core=128, halo=32).size == 192
    with pytest.raises(ValueError, match="core"):
        PatchGeometry(core=0)
    with pytest.raises(ValueError, match="halo"):
        PatchGeometry(halo=-1)


def test_check_same_grid():
    a = _da()
    check_same_grid(a, a.copy())
    with pytest.raises(GridMismatchError, match="size"):
        check_same_grid(a, _da(ny=4))
    with pytest.raises(GridMismatchError, match="coordinates"):
        check_same_grid(a, a.assign_coords(x=a.x + 5))
