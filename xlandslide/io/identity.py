"""What identifies data across processes: the names of resumable work, never object ids.

A resumed write (a map, :mod:`xlandslide.io.resumable`) or a resumed training run
(:func:`xlandslide.fit` with ``resume=``) must be of the same inputs as the run that was
killed — and the check must give the same answer in a fresh process.  :func:`variable_identity`
names a variable by

- its store, when it was read from one written by xlandslide: the store's **manifest token**
  (a hash of the manifest, which lists every chunk's size and content hash) and the variable's
  name, plus the indexing applied since (a selection of distances, a window) — nothing read;
- its dask name otherwise, when it is dask-backed (dask names derive from the inputs' names);
- a **content hash** of its values otherwise (numpy in memory, or a lazily indexed variable of
  another source, read once).

:func:`region_identity` names a region for training: its labels and the statistics of its
continuous layers (the normalisation), by the identities above.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..region import get_normalisation

#: Identities of the dask arrays that read a guarded store, by dask name
#: (:func:`xlandslide.io.guard.guarded_variable` fills it).
DASK_IDENTITIES: dict[str, str] = {}

_WRAPPERS = (
    "LazilyIndexedArray",
    "LazilyVectorizedIndexedArray",
    "CopyOnWriteArray",
    "MemoryCachedArray",
    "PandasIndexingAdapter",
    "NumpyIndexingAdapter",
)


def _tokenize(*args) -> str:
    from dask.base import tokenize

    return tokenize(*args, ensure_deterministic=True)


def _stored(data) -> str | None:
    """The identity of a lazily indexed store variable (walking xarray's wrappers down to
    the :class:`~xlandslide.io.guard.GuardedArray`), None when it is not one."""
    keys = []
    for _ in range(32):
        identity = getattr(data, "identity", None)
        if identity is not None and type(data).__name__ == "GuardedArray":
            return _tokenize(identity, keys)
        if type(data).__name__ not in _WRAPPERS:
            return None
        key = getattr(data, "key", None)
        if key is not None and not all(
            isinstance(k, slice) and k == slice(None) for k in key.tuple
        ):
            keys.append((type(key).__name__, key.tuple))
        data = getattr(data, "array", None)
        if data is None:
            return None
    return None


def _stored_token(stored: str, var) -> str:
    return _tokenize("store", stored, var.dims, str(var.dtype))


def variable_identity(var) -> str:
    """A token naming the values of ``var`` (an xarray Variable or DataArray), the same in
    every process for the same inputs (module notes)."""
    if isinstance(var, xr.DataArray):
        var = var.variable
    data = var._data
    name = getattr(data, "name", None)
    if hasattr(data, "__dask_graph__") and isinstance(name, str):
        if name in DASK_IDENTITIES:  # a store's variable read whole: as without dask
            return _stored_token(_tokenize(DASK_IDENTITIES[name], []), var)
        return _tokenize("dask", name, var.dims)
    stored = _stored(data)
    if stored is not None:
        return _stored_token(stored, var)
    values = np.ascontiguousarray(np.asarray(var.values))
    return _tokenize("values", values, var.dims)


def region_identity(region: xr.Dataset) -> str:
    """A token naming a region for training: its labels, its grid and the statistics of its
    continuous layers (the normalisation), by :func:`variable_identity`."""
    norm = get_normalisation(region) if "continuous" in region else None
    return _tokenize(
        variable_identity(region["label"]),
        dict(region.sizes),
        json.dumps(norm, sort_keys=True, default=str),
    )


__all__ = ["region_identity", "variable_identity"]
