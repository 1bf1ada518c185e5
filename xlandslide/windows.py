"""Prediction of a region without dask: every block task reads its own window.

A region opened with ``chunks=None`` (or held in numpy) is not a dask graph; its variables
travel to the block tasks as references (:class:`Sources`, one key of the graph), and each
task reads its window, halo included, padded at the region's edge
(:func:`read_and_predict`).  The key is named by the identity of the inputs
(:func:`source_identities`: a store's manifest token, never object ids), so that a resumed
write in another process finds the same name.
"""

from __future__ import annotations

import numpy as np

from .catalog import NODATA_CODE
from .region import read_padded, select_offsets


def lazy_sources(region, spec, flags):
    """``[(variable, fill), ...]`` of the model's inputs when none is dask-backed, else None.

    In the order the kernels take their blocks: continuous, categorical, dem, offsets (a
    pair of variables, uphill_dy and uphill_dx, for the spec's distances).
    """
    sources = []
    if flags[0]:
        sources.append((region["continuous"].variable, np.nan))
    if flags[1]:
        sources.append((region["categorical"].variable, NODATA_CODE))
    sources.append((region["dem"].variable, np.nan))
    if flags[2]:
        sub = select_offsets(region, spec.distances)
        sources.append(((sub["uphill_dy"].variable, sub["uphill_dx"].variable), 0))
    variables = [v for src, _ in sources for v in (src if isinstance(src, tuple) else (src,))]
    if any(v.chunks is not None for v in variables):
        return None
    return sources


def source_identities(sources) -> list:
    from .io.identity import variable_identity

    out = []
    for src, fill in sources:
        variables = src if isinstance(src, tuple) else (src,)
        out.append(([variable_identity(v) for v in variables], repr(fill)))
    return out


class Sources:
    """The ``[(variable, fill), ...]`` a block task reads, as one key of the graph.

    Its size, as dask measures it, is that of the references, not of the data: dask's
    ``sizeof`` of an xarray Variable (or of a list holding one) asks for ``.data``, which
    *loads* a lazily indexed store variable whole — on a cluster the worker holding this key
    read the region once and spilled it to disk before the first block ran.
    """

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = tuple(items)

    def __iter__(self):
        return iter(self.items)

    def __sizeof__(self) -> int:
        return 1024 * (1 + len(self.items))


def read_and_predict(block_info=None, *, sources, kernel, depth, **kwargs):
    """One block: read every input's window (halo included, padded at the region's edge),
    predict, trim the halo."""
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    window = (r0 - depth, r1 + depth, c0 - depth, c1 + depth)
    blocks = []
    for src, fill in sources:
        if isinstance(src, tuple):  # the offsets: (D, 2, y, x)
            dy, dx = (read_padded(v, *window, fill) for v in src)
            blocks.append(np.stack([dy, dx], axis=1))
        else:
            blocks.append(read_padded(src, *window, fill))
    out = kernel(*blocks, **kwargs)
    return np.ascontiguousarray(out[depth : depth + r1 - r0, depth : depth + c1 - c0])


__all__ = ["Sources", "lazy_sources", "read_and_predict", "source_identities"]
