"""Numba kernels for terrain: Horn slope.

Everything here is pure numba on numpy arrays — no xarray, dask or torch.  The public, lazy
wrapper is :func:`xlandslide.terrain.slope`.  (The synthetic world's generator, a numba
kernel too, lives with the world in :mod:`xlandslide.synthetic`.)

Stencil reach (halo), stated next to each kernel:

- :func:`horn_slope`: 1 pixel (3 x 3 window); edge pixels of its input are NaN.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit

_njit = jit  # the package compile policy (kernels._jit)

_RAD2DEG = 180.0 / math.pi


# --------------------------------------------------------------------------------------------
# Horn slope (reach: 1 pixel)
# --------------------------------------------------------------------------------------------
@_njit
def horn_slope(z, pixel):
    """Slope in degrees by Horn's method (3 x 3 window, the definition of ``xrspatial.slope``).

    ``z`` is a 2-D float array of elevations; ``pixel`` the (square) pixel size in the units of
    ``z``.  Returns float32 of the same shape; the outermost rows and columns, and any pixel
    that is NaN or has a NaN among its 8 neighbours, are NaN.  Computed in float64.
    """
    ny, nx = z.shape
    out = np.full((ny, nx), np.nan, dtype=np.float32)
    k = 1.0 / (8.0 * pixel)
    for i in range(1, ny - 1):
        for j in range(1, nx - 1):
            if math.isnan(z[i, j]):
                continue  # no elevation, no slope (xrspatial ignores the centre)
            a = np.float64(z[i + 1, j - 1])
            b = np.float64(z[i + 1, j])
            c = np.float64(z[i + 1, j + 1])
            d = np.float64(z[i, j - 1])
            f = np.float64(z[i, j + 1])
            g = np.float64(z[i - 1, j - 1])
            h = np.float64(z[i - 1, j])
            q = np.float64(z[i - 1, j + 1])
            dzdx = ((c + 2.0 * f + q) - (a + 2.0 * d + g)) * k
            dzdy = ((g + 2.0 * h + q) - (a + 2.0 * b + c)) * k
            out[i, j] = math.atan(math.sqrt(dzdx * dzdx + dzdy * dzdy)) * _RAD2DEG
    return out
