"""Terrain derivatives of a DEM, lazy for dask-backed input."""

from __future__ import annotations

import numpy as np
import xarray as xr

from . import grid
from ._dispatch import apply_stencil
from .errors import GridError, InputTypeError

#: Reach of Horn's 3 x 3 stencil, in pixels (the overlap depth on dask input).
SLOPE_DEPTH = 1


def _slope_kernel(z, pixel):
    from .kernels.terrain import horn_slope

    return horn_slope(np.ascontiguousarray(z), float(pixel))


def slope(dem: xr.DataArray, *, name: str = "slope") -> xr.DataArray:
    """Slope of a DEM in degrees, by Horn's method.

    The definition of ``xrspatial.slope`` (planar): with the 3 x 3 neighbourhood
    ``a b c / d e f / g h i`` (rows from north to south) and pixel size ``p``,
    ``dz/dx = ((c + 2f + i) - (a + 2d + g)) / 8p``, ``dz/dy = ((g + 2h + i) - (a + 2b + c)) / 8p``
    and ``slope = atan(hypot(dz/dx, dz/dy))`` in degrees.  Computed in float64, returned as
    float32.

    Parameters
    ----------
    dem : xarray.DataArray
        Elevations on a (y, x) grid of square, regular pixels in the same units as the
        elevations (metres in a projected CRS); a leading ``band`` dimension of size 1 is
        dropped.  numpy- or dask-backed.
    name : str
        Name of the result.

    Returns
    -------
    xarray.DataArray
        float32 slope in degrees on the grid of ``dem`` (coords and CRS kept), lazy when
        ``dem`` is dask-backed (same chunks), with attrs ``units="degrees"`` and ``long_name``.

    Raises
    ------
    GridError
        If ``dem`` is not 2-D on (y, x) or its pixels are not square and regular.

    Notes
    -----
    The stencil reaches 1 pixel: dask input is overlapped by 1 pixel with a NaN boundary, so
    the result is the same for any chunking.  The outermost rows and columns of the grid, and
    every pixel next to a NaN, are NaN (as in ``xrspatial.slope``); so is every pixel whose own
    elevation is NaN (``xrspatial.slope`` ignores the centre pixel and returns a value there).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> z = xr.DataArray(np.add.outer(np.zeros(4), 10.0 * np.arange(5)), dims=("y", "x"),
    ...                  coords={"y": [35.0, 25.0, 15.0, 5.0], "x": 5.0 + 10 * np.arange(5)})
    >>> float(slope(z)[1, 1])  # a 45 degree ramp
    45.0
    """
    if not isinstance(dem, xr.DataArray):
        raise InputTypeError(
            f"slope expects an xarray.DataArray (y, x) of elevations, got {type(dem).__name__}; "
            "wrap an array with xr.DataArray(a, dims=('y', 'x'), coords=...) or open a GeoTIFF "
            "with rioxarray.open_rasterio"
        )
    if "band" in dem.dims and dem.sizes["band"] == 1:
        dem = dem.squeeze("band", drop=True)
    if dem.dims != ("y", "x"):
        raise GridError(
            f"slope needs a 2-D DEM with dims ('y', 'x'), got dims {dem.dims}; "
            "select one band and transpose (dem.transpose('y', 'x'))"
        )
    pixel = grid.pixel_size(dem)
    data = dem.data
    if data.dtype.kind not in "f":
        data = data.astype(np.float32)
    out = apply_stencil(
        _slope_kernel, data, depth=SLOPE_DEPTH, dtype=np.float32, name="slope", pixel=pixel
    )
    return xr.DataArray(
        out,
        dims=dem.dims,
        coords=dem.coords,
        name=name,
        attrs={"units": "degrees", "long_name": "slope (Horn's method)"},
    )
