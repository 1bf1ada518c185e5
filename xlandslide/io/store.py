"""Region stores: open and write Zarr v3 regions (lazy, block by block, atomic).

A store holds one region of the data model of :mod:`xlandslide.region` — ``dem``,
``continuous``, ``categorical`` codes, ``label``, optional uphill offsets, the CRS and the
attrs — zstd-compressed, in chunks of every layer x 256 x 256 pixels by default.  A store of
the one-hot layout of xlandslide 0.1 is refused with the way to rebuild it.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import (
    ForeignOutputError,
    GridError,
    IncompleteStoreError,
    LegacyStoreError,
    RegionError,
    RegionNotFoundError,
    StoreExistsError,
    XLandslideError,
)
from ..region import get_normalisation
from ..validate import validate_region
from .atomic import atomic_output, is_temporary, writing
from .guard import open_guarded_zarr, refuse_reading
from .integrity import (
    Root,
    checked_arrays,
    is_url,
    local_path,
    manifest_token,
    missing_manifest_message,
    read_manifest,
    refuse_inside_store,
    replaceable_store,
    store_kind,
    write_manifest,
)

#: Default chunk side (pixels) of region stores on y and x.
STORE_CHUNK = 256

#: zstd level of region stores.
ZSTD_LEVEL = 3

#: Coordinates holding names (stored as variable-length strings).
_NAME_COORDS = ("layer", "group")


# ---------------------------------------------------------------------------------------------
# Open
# ---------------------------------------------------------------------------------------------
def open_region(
    store,
    *,
    chunks="store",
    validate: bool = True,
    verify: bool = False,
    foreign: bool = False,
) -> xr.Dataset:
    """Open a Zarr region store lazily, after checking that it is complete.

    Parameters
    ----------
    store : str or path-like
        A local path or an fsspec URL of a store written by :func:`write_region`.
    chunks : "store", "auto", dict or None
        ``"store"`` (default): dask arrays with the store's chunks; ``"auto"`` or a dict:
        dask chunks as in :meth:`xarray.Dataset.chunk`; ``None``: lazily indexed
        numpy-backed variables (no dask; the fastest for reading patches, each read
        touching only the chunks it needs).
    validate : bool
        Check the data model (metadata only; see :func:`xlandslide.validate_region`).
    verify : bool
        Decode every chunk of every variable before returning (a full read of the store);
        by default only the cheap check runs (see Notes).
    foreign : bool
        Read a store that has no xlandslide manifest (written by another tool or an earlier
        xlandslide): its completeness cannot be checked, and chunks missing there read as
        fill values, as Zarr does.  Refused by default.

    Returns
    -------
    xarray.Dataset
        The region with its CRS (``spatial_ref``) and attrs.

    Raises
    ------
    RegionNotFoundError
        The path does not exist (a ``FileNotFoundError`` and a ``RegionError``).
    IncompleteStoreError
        The store has no manifest (its write did not finish, or another tool wrote it), or
        a chunk it lists is missing or has another size than it was written with (an
        ``OSError``); the message names the variable, the chunk and the file.
    CorruptChunkError
        ``verify=True``: a chunk does not decode (an ``OSError``).
    LegacyStoreError
        A store of the one-hot layout of xlandslide 0.1 (the message says how to rebuild it).
    RegionError
        The path is not a Zarr store, the store is a map, or it is not a region.

    Notes
    -----
    Every store written by :func:`write_region` ends with a manifest listing its arrays and
    the size of every chunk file (:mod:`xlandslide.io.integrity`).  The default check
    lists the store's files (no chunk is read) and compares; ``verify=True`` also decodes
    every chunk.  After opening, a chunk that cannot be read — gone, or not decodable —
    raises :class:`~xlandslide.errors.IncompleteStoreError` or
    :class:`~xlandslide.errors.CorruptChunkError` naming the store, variable and chunk; it
    is never read as a fill value.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import xlandslide
    >>> store = Path(tempfile.mkdtemp()) / "region.zarr"
    >>> _ = xlandslide.write_region(xlandslide.synthetic_region(shape=(96, 96), seed=0), store)
    >>> region = xlandslide.open_region(store)  # the manifest checked; nothing read yet
    >>> sorted(region.data_vars), region["dem"].chunks is not None
    (['categorical', 'continuous', 'dem', 'label'], True)
    >>> xlandslide.open_region(store, chunks=None)["dem"].chunks is None  # no dask
    True
    >>> xlandslide.open_region(store.parent / "elsewhere.zarr")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xlandslide.errors.RegionNotFoundError: ...
    """

    if chunks == "store" or (isinstance(chunks, dict) and not chunks):
        chunks = "store"
    root = Root(store)
    if not root.exists():
        where = "URL" if root.url else "path"
        raise RegionNotFoundError(
            f"no region store at {root.label!r}; check the {where}, or create one with "
            "xlandslide.write_region(region, path) (or `xlandslide synthetic STORE`)"
        )
    if not root.url and root.path.is_file():
        kind = "a GeoTIFF" if root.path.suffix.lower() in (".tif", ".tiff") else "a file"
        raise RegionError(
            f"{root.label!r} is {kind}, not a region store (a Zarr folder); build a region "
            "from rasters with xlandslide.region_from_dem(...) and write it with "
            "xlandslide.write_region(region, 'region.zarr')"
        )
    if not root.url and is_temporary(root.path):  # even with a manifest: not renamed yet
        raise IncompleteStoreError(missing_manifest_message(root.label, ""))
    manifest = read_manifest(store)
    if manifest is None and not foreign:
        _refuse_unmanifested(root)
    if manifest is not None and manifest.get("kind") != "region":
        raise RegionError(
            f"{root.label!r} is an xlandslide {manifest.get('kind')} store, not a region; "
            "open it with xlandslide.open_map"
        )
    arrays, token = checked_arrays(store, root, manifest, verify=verify)
    try:
        ds = open_guarded_zarr(
            root,
            arrays,
            dask=chunks is not None,
            token=token,
            manifest=manifest,
            decode_coords="all",
            consolidated=False,
        )
    except XLandslideError:
        raise
    except Exception as exc:
        raise RegionError(
            f"{root.label!r} is not a readable Zarr store ({type(exc).__name__}: {exc}); "
            f"open a store written by xlandslide.write_region"
        ) from exc
    if chunks not in ("store", None):
        ds = ds.chunk(chunks)
    for name in _NAME_COORDS:
        if name in ds.coords and ds[name].dtype.kind in "OT":
            ds = ds.assign_coords({name: np.array(ds[name].values.tolist(), dtype=object)})
    ds.encoding["source"] = root.label
    if manifest is not None:  # what names its data in resumable work (io/identity.py)
        ds.encoding["xlandslide_manifest_token"] = manifest_token(manifest)
    if validate:
        try:
            validate_region(ds)
        except (RegionError, GridError) as exc:
            raise type(exc)(f"store {root.label!r} is not a valid region: {exc}") from None
    return ds


def _refuse_unmanifested(root: Root) -> None:
    """A store without a manifest: say why it is refused (temporary, legacy, unfinished)."""
    if not is_temporary(root.label):
        try:
            raw = xr.open_zarr(root.zarr_store(), chunks=None, consolidated=False)
        except Exception as exc:
            raise RegionError(
                f"{root.label!r} is not a readable Zarr store ({type(exc).__name__}: {exc}); "
                f"open a store written by xlandslide.write_region"
            ) from exc
        if "features" in raw.data_vars and "continuous" not in raw.data_vars:
            try:
                validate_region(raw)
            except LegacyStoreError as exc:
                raise LegacyStoreError(f"store {root.label!r}: {exc}") from None
    raise IncompleteStoreError(
        missing_manifest_message(root.label, "xlandslide.write_region(region, path)")
    )


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
            "compressors": (zarr.codecs.ZstdCodec(level=ZSTD_LEVEL, checksum=True),),
        }
    for name in out.coords:
        out[name].encoding = {}
        if out[name].ndim:
            encoding[name] = {
                "compressors": (zarr.codecs.ZstdCodec(level=ZSTD_LEVEL, checksum=True),)
            }
    for name in _NAME_COORDS:  # variable-length strings (fixed-width ones have no v3 spec)
        if name in out.coords:
            out = out.assign_coords({name: np.array(out[name].values.tolist(), dtype=object)})
    norm = get_normalisation(ds)
    if "normalisation" in ds.attrs:
        out.attrs["normalisation"] = norm
    return out, encoding


def write_region(ds: xr.Dataset, store, *, overwrite: bool = False, chunks=None):
    """Write a region to a Zarr v3 store, block by block, atomically, with a manifest.

    Parameters
    ----------
    ds : xarray.Dataset
        A valid region (checked with :func:`validate_region`); numpy-, lazily indexed- or
        dask-backed.  It is never loaded whole: every variable is chunked (lazily) like the
        store and written chunk by chunk.
    store : str or path-like
        Local directory to create (or an fsspec URL, written in place: not atomic, but
        its manifest is written last, so an unfinished write is refused when opened).
    overwrite : bool
        Replace an existing region store written by xlandslide.  Without it an existing
        path raises :class:`~xlandslide.errors.StoreExistsError`; with it, anything else
        than a region store of this package (a folder of other files, a map, a store
        without a manifest) raises :class:`~xlandslide.errors.ForeignOutputError`.
    chunks : int, (int, int), dict or None
        Chunk side(s) on y and x (default 256); every chunk holds all layers (and all
        distances of the uphill offsets).

    Returns
    -------
    pathlib.Path or str
        The store written.

    Raises
    ------
    OutputIsInputError
        ``store`` is, holds or lies inside a store ``ds`` is read from (raised at the first
        read, before anything is written).

    Notes
    -----
    A local store is written to a temporary sibling directory and renamed into place only
    once complete; on failure the temporary directory is removed and any previous store
    under ``store`` is left intact; the temporary directory of a killed write is removed
    by the next write to the same path, and is never opened as a region (it has no
    manifest).  Every chunk is written (also those equal to the fill value), zstd-compressed
    (level 3) with a checksum, and the manifest last (:mod:`xlandslide.io.integrity`).
    Attrs, normalisation and the CRS (``spatial_ref``) round-trip exactly.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(64, 64), seed=0)
    >>> store = Path(tempfile.mkdtemp()) / "region.zarr"
    >>> path = xlandslide.write_region(region, store)
    >>> back = xlandslide.open_region(store)  # the manifest checked
    >>> bool((back["label"] == region["label"]).all()), back.rio.crs == region.rio.crs
    (True, True)
    """
    validate_region(ds)
    if is_url(store):
        out, encoding = _prepared(ds, chunks)
        return _write_url(out, encoding, store, overwrite)
    final = local_path(store)
    refuse_inside_store(final)
    refuse_reading(ds, final)
    out, encoding = _prepared(ds, chunks)
    with atomic_output(final, overwrite=overwrite, replaceable=replaceable_store("region")) as tmp:
        out.to_zarr(
            tmp,
            mode="w-",
            zarr_format=3,
            encoding=encoding,
            consolidated=False,
            write_empty_chunks=True,
        )
        write_manifest(tmp, "region")
    return final


def _write_url(out, encoding, url: str, overwrite: bool) -> str:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    if fs.exists(path):
        if not overwrite:
            raise StoreExistsError(
                f"{url!r} exists; pass overwrite=True to replace it, or choose another URL"
            )
        found = store_kind(url)
        if found != "region":
            what = "no xlandslide manifest" if found is None else f"an xlandslide {found} store"
            raise ForeignOutputError(
                f"{url!r} is not a region store of xlandslide ({what}); overwrite=True "
                "replaces only xlandslide's own region stores: choose another URL"
            )
        fs.rm(path, recursive=True)
    with writing(url):
        out.to_zarr(
            url,
            mode="w-",
            zarr_format=3,
            encoding=encoding,
            consolidated=False,
            write_empty_chunks=True,
        )
    write_manifest(url, "region")
    return url


__all__ = ["STORE_CHUNK", "open_region", "write_region"]
