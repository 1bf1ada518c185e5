"""Guarded reads: every chunk read of a store names the store, variable and chunk on failure.

:class:`GuardedArray` wraps a lazily indexed variable of a store (Zarr or GeoTIFF): a read
that fails — a chunk missing since the store was opened (the strict zarr store of
:mod:`xlandslide.io.integrity` raises), a chunk that does not decode — raises
:class:`~xlandslide.errors.CorruptChunkError` (or
:class:`~xlandslide.errors.IncompleteStoreError`) naming them, never a bare
``RuntimeError: Zstd decompression error`` and never a fill value.  Before every read
:func:`xlandslide.io.atomic.check_source` makes sure no write is replacing the store.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from ..errors import CorruptChunkError, XLandslideError
from .atomic import check_source, refuse_overlap
from .identity import DASK_IDENTITIES
from .integrity import Root, chunk_key, first_line, manifest_token, verify_store


def _covered(key, shape, chunks) -> list[range]:
    """Per axis, the chunk indices a basic/outer key touches."""
    out = []
    for k, n, c in zip(key, shape, chunks):
        c = max(int(c), 1)
        if isinstance(k, slice):
            start, stop, _ = k.indices(n)
            out.append(range(start // c, max(start, stop - 1) // c + 1))
        elif isinstance(k, (int, np.integer)):
            out.append(range(int(k) // c, int(k) // c + 1))
        else:
            k = np.asarray(k)
            out.append(range(int(k.min()) // c, int(k.max()) // c + 1) if k.size else range(0))
    return out


class GuardedArray(BackendArray):
    """A lazily indexed variable of a store whose reads fail loudly and precisely.

    ``opener(*args)`` returns the (lazy, decoded) :class:`xarray.Variable` read; it is
    called again after unpickling (dask workers), so only the recipe travels.  A read that
    fails raises :class:`~xlandslide.errors.CorruptChunkError` naming the store, the variable
    and the failing chunk (found by reading the chunks of the failed read one by one).
    Before every read :func:`xlandslide.io.atomic.check_source` checks that no write is
    replacing the store.
    """

    def __init__(
        self,
        label,
        source,
        name,
        chunks,
        opener,
        args,
        variable=None,
        dask_chunks=None,
        damaged=None,
        identity=None,
    ):
        self.label, self.source, self.name = label, source, name
        #: What names the values read, in every process (the store's manifest token and the
        #: variable's name; :mod:`xlandslide.io.identity`).
        self.identity = identity
        self.damaged = damaged
        self.chunks = tuple(int(c) for c in chunks)
        self.dask_chunks = tuple(int(c) for c in (dask_chunks or chunks))
        self.zarr = opener is _zarr_variable
        self._opener, self._args = opener, args
        self._variable = variable
        var = self.variable
        self.shape, self.dtype = tuple(var.shape), var.dtype

    @property
    def variable(self) -> xr.Variable:
        if self._variable is None:
            self._variable = self._opener(*self._args)
        return self._variable

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_variable"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self.read
        )

    def read(self, key) -> np.ndarray:
        """Numpy-style (basic / outer) read of ``key``, a tuple."""
        if self.source is not None:
            check_source(self.source)
        try:
            return np.asarray(self.variable[key].values)
        except XLandslideError:
            raise
        except Exception as exc:
            raise self._failure(key, exc) from exc

    def _failure(self, key, exc) -> CorruptChunkError:
        ranges = _covered(key, self.shape, self.chunks)
        bad, cause = None, exc
        n = int(np.prod([len(r) for r in ranges])) if ranges else 1
        if n <= 64:
            for idx in itertools.product(*ranges):
                sl = tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, self.chunks))
                try:
                    self.variable[sl].values  # noqa: B018
                except Exception as err:
                    bad, cause = idx, err
                    break
        if bad is None:
            where = f"the chunks {[(r.start, r.stop - 1) for r in ranges]} (first, last per axis)"
        elif self.zarr:
            where = f"chunk {bad} (file {chunk_key(self.name, bad)})"
        else:
            where = f"block {bad}"
        damaged = self.damaged or (
            "the store is damaged; restore it from a copy or write it again (verify=True "
            "checks every chunk when opening)"
        )
        return CorruptChunkError(
            f"{where} of {self.name!r} in {self.label!r} cannot be read "
            f"({type(cause).__name__}: {first_line(cause)}): {damaged}"
        )


class _DaskView:
    """What :func:`dask.array.from_array` reads: numpy-style keys into a GuardedArray."""

    def __init__(self, guard: GuardedArray):
        self.guard = guard
        self.shape, self.dtype, self.ndim = guard.shape, guard.dtype, len(guard.shape)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        return self.guard.read(key)


#: The stores read by the dask arrays of guarded variables, by dask name (see
#: :func:`sources_of`).
_SOURCES: dict[str, str] = {}


def guarded_variable(guard: GuardedArray, *, dask: bool, token: str) -> xr.Variable:
    """The variable of ``guard``: lazily indexed numpy, or dask with the store's chunks."""
    var = guard.variable
    if dask:
        import dask.array as da

        name = f"xlandslide-read-{re.sub(r'[^0-9A-Za-z_.]', '_', guard.name)}-{token}"
        data = da.from_array(
            _DaskView(guard),
            chunks=guard.dask_chunks or var.shape,
            name=name,
            meta=np.empty((0,) * var.ndim, dtype=var.dtype),
            lock=False,
        )
        if guard.source is not None:
            _SOURCES[name] = guard.source
        if guard.identity is not None:
            DASK_IDENTITIES[name] = guard.identity
    else:
        data = indexing.LazilyIndexedArray(guard)
    return xr.Variable(var.dims, data, attrs=dict(var.attrs), encoding=dict(var.encoding))


def _raster_variable(path: str) -> xr.Variable:
    import rioxarray

    return rioxarray.open_rasterio(path, masked=True, chunks=None, cache=False).variable


def guarded_raster(path: str, side: int, what: str) -> xr.DataArray:
    """The raster file ``path`` (band, y, x), dask-backed in ``side`` chunks, whose block
    reads fail with :class:`~xlandslide.errors.CorruptChunkError` naming the file, the
    block and the fix (a truncated or damaged file), never a bare RasterioIOError."""
    from pathlib import Path

    import rasterio
    import rioxarray
    from dask.base import tokenize

    da0 = rioxarray.open_rasterio(path, masked=True, chunks=None, cache=False)
    with rasterio.open(path) as src:
        by, bx = src.block_shapes[0]
    guard = GuardedArray(
        path,
        path,
        Path(path).name,
        (1, by, bx),
        _raster_variable,
        (path,),
        variable=da0.variable,
        dask_chunks=(1, side, side),
        damaged=f"{what} is truncated or damaged; copy or export the file again (gdalinfo "
        "-checksum FILE finds the damage)",
    )
    stat = Path(path).stat()
    token = tokenize(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size, side)
    var = guarded_variable(guard, dask=True, token=token)
    return xr.DataArray(var, coords=da0.coords, name=da0.name, attrs=dict(da0.attrs))


def open_guarded_zarr(root: Root, arrays, *, dask: bool, token: str, manifest=None, **open_kwargs):
    """Open the Zarr store at ``root`` with every data variable guarded.

    Opening reads the coordinates; if that fails, the coordinate arrays of ``manifest`` are
    decoded one chunk at a time to name the damaged one
    (:class:`~xlandslide.errors.CorruptChunkError`).
    """
    try:
        ds = _open_zarr(root.label, tuple(arrays), **open_kwargs)
    except XLandslideError:
        raise
    except Exception:
        if manifest is not None:
            small = [k for k, v in manifest.get("arrays", {}).items() if len(v["shape"]) <= 1]
            verify_store(root.label, manifest, only=small)
        raise
    source = None if root.url else str(root.path)
    # named by content (the manifest lists every chunk's hash), not by path or object id
    identity = manifest_token(manifest) if manifest is not None else token
    out = {}
    for name, var in ds.data_vars.items():
        chunks = var.encoding.get("chunks") or var.encoding.get("preferred_chunks") or var.shape
        if isinstance(chunks, dict):  # pragma: no cover - preferred_chunks by dim
            chunks = tuple(chunks.get(d, n) for d, n in zip(var.dims, var.shape))
        guard = GuardedArray(
            root.label,
            source,
            name,
            chunks,
            _zarr_variable,
            (root.label, tuple(arrays), name, tuple(sorted(open_kwargs.items()))),
            variable=var.variable,
            identity=(identity, name),
        )
        out[name] = guarded_variable(guard, dask=dask, token=token)
    return ds.assign(out)


def _open_zarr(label: str, arrays: tuple, **open_kwargs) -> xr.Dataset:
    root = Root(label)
    store = root.zarr_store(arrays)
    return xr.open_dataset(
        store, engine="zarr", chunks=None, cache=False, zarr_format=3, **open_kwargs
    )


def _zarr_variable(label: str, arrays: tuple, name: str, open_kwargs: tuple) -> xr.Variable:
    return _open_zarr(label, arrays, **dict(open_kwargs))[name].variable


def sources_of(obj) -> set[str]:
    """The local stores that computing ``obj`` (a DataArray or Dataset) would read.

    Found without computing anything: the dask graph's layers named by
    :func:`guarded_variable`, and the guarded lazily indexed (numpy) variables.
    """
    variables = obj.variables.values() if isinstance(obj, xr.Dataset) else [obj.variable]
    found = set()
    for var in variables:
        data = var._data
        graph = getattr(data, "__dask_graph__", None)
        if graph is not None:
            layers = getattr(graph(), "layers", {})
            found.update(_SOURCES[n] for n in layers if n in _SOURCES)
            continue
        for _ in range(16):
            if isinstance(data, GuardedArray):
                if data.source is not None:
                    found.add(data.source)
                break
            data = getattr(data, "array", None)
            if data is None:
                break
    return found


def refuse_reading(obj, target) -> None:
    """Refuse, before anything is written, an output ``target`` over one of ``obj``'s inputs.

    Raises :class:`~xlandslide.errors.OutputIsInputError`.
    """
    for source in sources_of(obj):
        refuse_overlap(source, target)


__all__ = [
    "GuardedArray",
    "guarded_raster",
    "guarded_variable",
    "open_guarded_zarr",
    "refuse_reading",
    "sources_of",
]
