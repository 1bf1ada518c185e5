import numpy as np
import pytest
import xarray as xr

from xlandslide.errors import GridError, GridMismatchError, HaloError
from xlandslide.grid import (
    HALO,
    PatchGeometry,
    check_halo,
    check_same_grid,
    pixel_size,
    radius_pixels,
)


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
    assert radius_pixels(700, 10.0) == 70  # no halo here: check_halo's question
    # Python rounding (half to even): 15 m -> 2 px, 25 m -> 2 px
    assert [radius_pixels(d, 10.0) for d in (6, 14, 15, 25, 26)] == [1, 1, 2, 2, 3]
    with pytest.raises(HaloError, match=r"above half a pixel \(5 m\)"):
        radius_pixels(2, 10.0)
    with pytest.raises(HaloError, match="radius of 0 pixels"):
        radius_pixels(5, 10.0)  # round(0.5) == 0


def test_check_halo_returns_the_largest_radius():
    assert check_halo((30, 100, 300), 10.0, HALO) == 30
    assert check_halo([300.0], 10.0, 30) == 30  # a radius equal to the halo fits
    assert check_halo((30, 100), 30.0, 3) == 3
    assert check_halo((), 10.0, 0) == 0


def test_check_halo_refuses_a_radius_beyond_the_halo_and_names_both_fixes():
    with pytest.raises(HaloError) as info:
        check_halo((30, 100, 310), 10.0, 30, what="the lann model")
    msg = str(info.value)
    assert msg.startswith("the lann model:")
    assert "310 m is a ring of 31 pixels at 10 m, beyond the halo of 30 pixels" in msg
    assert "halo of at least 31 (PatchGeometry(core=..., halo=31))" in msg
    assert "distances up to 300 m" in msg
    assert isinstance(info.value, ValueError)
    # the paper's LANN with a halo of 8 (the case that used to train silently with seams)
    with pytest.raises(HaloError, match="halo=30"):
        check_halo((30, 100, 300), 10.0, 8)
    with pytest.raises(HaloError, match=r"above half a pixel \(5 m\)"):
        check_halo((2, 30), 10.0, 64)


def test_check_halo_names_the_largest_distance_whatever_the_order():
    with pytest.raises(HaloError, match="distance 500 m is a ring of 50 pixels"):
        check_halo((500, 30, 100), 10.0, 20)


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
