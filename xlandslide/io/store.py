"""Region stores: open and write Zarr v3 regions (lazy, block by block, atomic).

A store holds one region of the data model of :mod:`xlandslide.region` — ``dem``,
``continuous``, ``categorical`` codes, ``label``, optional uphill offsets, the CRS and the
attrs — zstd-compressed, in chunks of every layer x 256 x 256 pixels by default.  A store of
the one-hot layout of xlandslide 0.1 is refused with the way to rebuild it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import GridError, RegionError, RegionNotFoundError, StoreExistsError
from ..region import get_normalisation
from ..validate import validate_region
from .atomic import atomic_output

#: Default chunk side (pixels) of region stores on y and x.
STORE_CHUNK = 256

#: zstd level of region stores.
ZSTD_LEVEL = 3

#: Coordinates holding names (stored as variable-length strings).
_NAME_COORDS = ("layer", "group")


# ---------------------------------------------------------------------------------------------
# Open
# ---------------------------------------------------------------------------------------------
def _is_url(store) -> bool:
    return isinstance(store, str) and "://" in store and not store.startswith("file://")


def open_region(store, *, chunks="store", validate: bool = True) -> xr.Dataset:
    """Open a Zarr region store lazily.

    Parameters
    ----------
    store : str or path-like
        A local path or an fsspec URL of a store written by :func:`write_region`.
    chunks : "store", "auto", dict or None
        ``"store"`` (default): dask arrays with the store's chunks; ``"auto"`` or a dict:
        dask chunks as in :func:`xarray.open_zarr`; ``None``: lazily indexed numpy-backed
        variables (no dask; the fastest for reading patches, each read touching only the
        chunks it needs).
    validate : bool
        Check the data model (metadata only; see :func:`xlandslide.validate_region`).

    Returns
    -------
    xarray.Dataset
        The region with its CRS (``spatial_ref``) and attrs.

    Raises
    ------
    RegionNotFoundError
        The path does not exist (a ``FileNotFoundError`` and a ``RegionError``).
    LegacyStoreError
        A store of the one-hot layout of xlandslide 0.1 (the message says how to rebuild it).
    RegionError
        The path is not a Zarr store or the store is not a region.
    """
    if chunks == "store":
        chunks = {}
    if not _is_url(store):
        path = Path(str(store).removeprefix("file://")) if isinstance(store, str) else Path(store)
        if not path.exists():
            raise RegionNotFoundError(
                f"no region store at {str(path)!r}; check the path, or create one with "
                "xlandslide.write_region(region, path) (or `xlandslide synthetic STORE`)"
            )
        store = str(path)
    else:
        import fsspec

        fs, fs_path = fsspec.core.url_to_fs(store)
        if not fs.exists(fs_path):
            raise RegionNotFoundError(
                f"no region store at {store!r}; check the URL, or create one with "
                "xlandslide.write_region(region, url)"
            )
    try:
        # cache=False: a variable read whole once (a reduction, a hash) must not stay in
        # memory; windows are read from the store each time (what patches and predict do)
        ds = xr.open_dataset(
            store,
            engine="zarr",
            chunks=chunks,
            cache=False,
            decode_coords="all",
            consolidated=False,
        )
    except Exception as exc:
        raise RegionError(
            f"{store!r} is not a readable Zarr store ({type(exc).__name__}: {exc}); "
            f"open a store written by xlandslide.write_region"
        ) from exc
    for name in _NAME_COORDS:
        if name in ds.coords and ds[name].dtype.kind in "OT":
            ds = ds.assign_coords({name: np.array(ds[name].values.tolist(), dtype=object)})
    if validate:
        try:
            validate_region(ds)
        except (RegionError, GridError) as exc:
            raise type(exc)(f"store {store!r} is not a valid region: {exc}") from None
    return ds


# ---------------------------------------------------------------------------------------------
# Write
# ---------------------------------------------------------------------------------------------
def _yx_chunks(chunks) -> tuple[int, int]:
    if chunks is None:
        return STORE_CHUNK, STORE_CHUNK
    if isinstance(chunks, dict):
        return int(chunks.get("y", STORE_CHUNK)), int(chunks.get("x", STORE_CHUNK))
    if isinstance(chunks, (int, np.integer)):
        return int(chunks), int(chunks)
    cy, cx = chunks
    return int(cy), int(cx)


def _prepared(ds: xr.Dataset, chunks) -> tuple[xr.Dataset, dict]:
    """A shallow copy chunked like the store (dask, lazy) and its Zarr encoding."""
    import zarr

    cy, cx = _yx_chunks(chunks)
    if cy < 1 or cx < 1:
        raise RegionError(f"store chunks must be positive, got {(cy, cx)}")
    out = ds.copy()
    encoding = {}
    for name, var in ds.data_vars.items():
        spec = {d: (cy if d == "y" else cx if d == "x" else -1) for d in var.dims}
        var = var.chunk(spec)  # lazy: wraps numpy / lazily indexed data, rechunks dask
        var.encoding = {}
        out[name] = var
        encoding[name] = {
            "chunks": tuple(var.chunks[i][0] for i in range(var.ndim)),
            "compressors": (zarr.codecs.ZstdCodec(level=ZSTD_LEVEL),),
        }
    for name in out.coords:
        out[name].encoding = {}
    for name in _NAME_COORDS:  # variable-length strings (fixed-width ones have no v3 spec)
        if name in out.coords:
            out = out.assign_coords({name: np.array(out[name].values.tolist(), dtype=object)})
    norm = get_normalisation(ds)
    if "normalisation" in ds.attrs:
        out.attrs["normalisation"] = norm
    return out, encoding


def write_region(ds: xr.Dataset, store, *, overwrite: bool = False, chunks=None):
    """Write a region to a Zarr v3 store, block by block, atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A valid region (checked with :func:`validate_region`); numpy-, lazily indexed- or
        dask-backed.  It is never loaded whole: every variable is chunked (lazily) like the
        store and written chunk by chunk.
    store : str or path-like
        Local directory to create (or an fsspec URL, written in place: not atomic).
    overwrite : bool
        Replace an existing store.  Without it an existing store raises
        :class:`~xlandslide.errors.StoreExistsError`.
    chunks : int, (int, int), dict or None
        Chunk side(s) on y and x (default 256); every chunk holds all layers (and all
        distances of the uphill offsets).

    Returns
    -------
    pathlib.Path or str
        The store written.

    Notes
    -----
    A local store is written to a temporary sibling directory and renamed into place only
    once complete; on failure the temporary directory is removed and any previous store
    under ``store`` is left intact.  Variables are zstd-compressed (level 3); attrs,
    normalisation and the CRS (``spatial_ref``) round-trip exactly.
    """
    validate_region(ds)
    out, encoding = _prepared(ds, chunks)
    if _is_url(store):
        return _write_url(out, encoding, store, overwrite)
    final = Path(str(store).removeprefix("file://")) if isinstance(store, str) else Path(store)
    with atomic_output(final, overwrite=overwrite) as tmp:
        out.to_zarr(tmp, mode="w-", zarr_format=3, encoding=encoding, consolidated=False)
    return final


def _write_url(out, encoding, url: str, overwrite: bool) -> str:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    if fs.exists(path):
        if not overwrite:
            raise StoreExistsError(
                f"{url!r} exists; pass overwrite=True to replace it, or choose another URL"
            )
        fs.rm(path, recursive=True)
    out.to_zarr(url, mode="w-", zarr_format=3, encoding=encoding, consolidated=False)
    return url


__all__ = ["STORE_CHUNK", "open_region", "write_region"]
