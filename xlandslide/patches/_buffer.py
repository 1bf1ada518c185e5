"""The buffer of spatial folds: pixels within a distance of a set of pixels, lazily."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr


def near(mask: xr.DataArray, distance: float, *, chunk: int = 1024) -> xr.DataArray:
    """Lazy bool (y, x): pixels within ``distance`` map units of a True pixel of ``mask``.

    Euclidean distance between pixel centres (``scipy.ndimage.distance_transform_edt``)
    per block, overlapped by ``ceil(distance / pixel)`` pixels — exact for any chunking.
    """
    from .._dispatch import apply_stencil
    from ..grid import pixel_size

    px = pixel_size(mask)
    # no two pixels lie farther apart than the diagonal: a larger distance needs no more
    depth = min(math.ceil(distance / px), math.ceil(math.hypot(*mask.shape)))
    data = mask.data if mask.chunks is not None else mask.chunk(chunk).data
    out = apply_stencil(
        _near_block,
        data,
        depth=depth,
        dtype=bool,
        fills=[False],
        name="xlandslide-near",
        radius=distance / px,
    )
    return mask.copy(data=out).rename("near")


def _near_block(block, *, radius: float) -> np.ndarray:
    from scipy import ndimage

    block = np.asarray(block, dtype=bool)
    if not block.any():
        return np.zeros(block.shape, dtype=bool)
    return ndimage.distance_transform_edt(~block) <= radius + 1e-9
