"""Resumable Zarr map writes: block by block into a partial folder, renamed when complete.

A Zarr map is written one block (one dask chunk of the map) at a time into the hidden sibling
``.NAME.xlandslide-partial``: ``map.zarr`` (the store, its metadata and coordinates written
first), ``blocks/`` (one empty marker file per block written, touched after the block's chunks)
and ``state.json`` (the fingerprint of the map: its dask graph's name, shape, chunks,
coordinates and attrs; and the writer process).  When every block has its marker the metadata
is consolidated, the manifest written (:mod:`xlandslide.io.integrity`) and ``map.zarr``
renamed to ``NAME``; a half-written map never sits under the final name.

A rerun with ``resume=True`` finds the partial folder, checks the fingerprint (the same
model, region and settings give the same dask names) and computes only the blocks without a
marker; a block whose write was killed before its marker is computed again.  The result is
the one an uninterrupted write gives, chunk for chunk.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ResumeError, StoreExistsError
from .atomic import (
    PARTIAL_TAG,
    clean_stale,
    move_into_place,
    refuse_existing,
    remove,
    writer_alive,
    writer_id,
    writing,
)
from .integrity import read_manifest, replaceable_store, write_manifest

#: Chunk side of a numpy-backed map written to Zarr.
NUMPY_CHUNK = 1024
#: zstd level of map stores.
ZSTD_LEVEL = 3


def partial_path(path) -> Path:
    """The folder where the Zarr map ``path`` is built (and resumed from)."""
    path = Path(path)
    return path.with_name(f".{path.name}{PARTIAL_TAG}")


def _zarr_chunks(data):
    """``data`` with dask chunks that each cover whole Zarr chunks, and those Zarr chunks.

    The Zarr chunk of an axis is the first dask chunk; dask chunks whose boundaries all fall
    on multiples of it (the last may be longer or shorter) are kept, others are rechunked
    to it.
    """
    chunks, fix = [], {}
    for ax, sizes in enumerate(data.chunks):
        c = int(sizes[0])
        bounds = np.cumsum(sizes)[:-1]
        if np.any(bounds % c):
            fix[ax] = c
        chunks.append(c)
    if fix:
        data = data.rechunk(fix)
    return data, tuple(chunks)


def _fingerprint(prob: xr.DataArray, data) -> str:
    """What identifies the map being written: resuming needs the same one."""
    from dask.base import tokenize

    coords = {k: tokenize(np.asarray(v.values)) for k, v in prob.coords.items()}
    raw = json.dumps(
        {
            "name": str(prob.name),
            "dims": list(prob.dims),
            "dtype": str(prob.dtype),
            "chunks": [list(c) for c in data.chunks],
            "graph": data.name,
            "coords": coords,
            "attrs": tokenize(json.dumps(prob.attrs, sort_keys=True, default=str)),
        },
        sort_keys=True,
    ).encode()
    return hashlib.sha1(raw).hexdigest()


def _marker(idx) -> str:
    return "-".join(str(int(i)) for i in idx)


def _read_state(partial: Path) -> dict | None:
    try:
        state = json.loads((partial / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "fingerprint" in state else None


def _write_state(partial: Path, state: dict) -> None:
    tmp = partial / ".state.json.tmp"
    tmp.write_text(json.dumps(state))
    tmp.replace(partial / "state.json")


def _prepare_partial(prob, data, zchunks, path: Path, fingerprint: str, resume: bool) -> Path:
    """The partial folder of ``path``: reused (resume, same map) or started afresh."""
    partial = partial_path(path)
    state = _read_state(partial) if partial.exists() else None
    if (
        state is not None
        and writer_alive(str(state.get("writer")))
        and (state.get("writer") != writer_id())
    ):
        raise StoreExistsError(
            f"{str(path)!r} is being written by another process ({state.get('writer')}); "
            "wait for it to finish, or stop it first"
        )
    if state is not None and resume:
        if state["fingerprint"] != fingerprint:
            raise ResumeError(
                f"cannot resume the write of {str(path)!r}: the partial map in "
                f"{str(partial)!r} was computed from other inputs (another model, region, "
                "block size or map); write with resume=False to start again (it is discarded)"
            )
        state["writer"] = writer_id()
        _write_state(partial, state)
        return partial
    remove(partial)
    partial.mkdir(parents=True)
    (partial / "blocks").mkdir()
    name = str(prob.name)
    ds = prob.copy(data=data).to_dataset(name=name)
    encoding = {name: {"chunks": zchunks, "compressors": (_zstd(),)}}
    for k, v in ds.coords.items():
        v.encoding = {}
        if v.ndim:
            encoding[k] = {"compressors": (_zstd(),)}
    ds[name].encoding = {}
    ds.to_zarr(
        partial / "map.zarr",
        mode="w-",
        zarr_format=3,
        consolidated=False,
        compute=False,
        write_empty_chunks=True,
        encoding=encoding,
    )
    _write_state(
        partial,
        {"fingerprint": fingerprint, "name": name, "grid": data.numblocks, "writer": writer_id()},
    )
    return partial


def _zstd():
    import zarr

    return zarr.codecs.ZstdCodec(level=ZSTD_LEVEL, checksum=True)


def _write_block(block, store: str, name: str, region, marker: str) -> int:
    """Write one computed block into the Zarr array, then its marker (the block is done)."""
    import zarr

    arr = zarr.open_array(store=zarr.storage.LocalStore(store), path=name, mode="r+")
    arr = arr.with_config({"write_empty_chunks": True})  # open_array ignores config=
    arr[region] = np.asarray(block)
    Path(marker).touch()
    return 1


def write_zarr_map(prob: xr.DataArray, path: Path, *, overwrite: bool, resume: bool) -> Path:
    """Write ``prob`` to the Zarr store ``path`` block by block, resumably (module notes)."""
    import dask
    import dask.array as da

    if prob.name is None:
        prob = prob.rename("susceptibility")
    data = prob.data
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=NUMPY_CHUNK)
    data, zchunks = _zarr_chunks(data)
    fingerprint = _fingerprint(prob, data)
    if path.exists() or path.is_symlink():
        manifest = read_manifest(path) if path.is_dir() else None
        if resume and manifest is not None and manifest.get("fingerprint") == fingerprint:
            return path  # the same map is already complete
        if not overwrite:
            refuse_existing(path)
        replaceable_store("map")(path)
    clean_stale(path)
    partial = _prepare_partial(prob, data, zchunks, path, fingerprint, resume)
    store, name = str(partial / "map.zarr"), str(prob.name)
    done = {p.name for p in (partial / "blocks").iterdir()}
    blocks = data.to_delayed()
    starts = [np.concatenate([[0], np.cumsum(c)]) for c in data.chunks]
    tasks = []
    for idx in np.ndindex(*data.numblocks):
        if _marker(idx) in done:
            continue
        region = tuple(slice(int(s[i]), int(s[i + 1])) for s, i in zip(starts, idx))
        marker = str(partial / "blocks" / _marker(idx))
        tasks.append(
            dask.delayed(_write_block, pure=False)(blocks[idx], store, name, region, marker)
        )
    with writing(path):
        dask.compute(*tasks)
    _finish(partial, path, fingerprint)
    return path


def _finish(partial: Path, path: Path, fingerprint: str) -> None:
    import zarr

    store = partial / "map.zarr"
    with warnings.catch_warnings():
        # consolidated metadata lets a plain xr.open_zarr(path) read the map quietly; zarr
        # notes that it is not (yet) part of the v3 specification
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        zarr.consolidate_metadata(zarr.storage.LocalStore(str(store)))
    write_manifest(store, "map", extra={"fingerprint": fingerprint})
    move_into_place(store, path)
    remove(partial)


__all__ = ["NUMPY_CHUNK", "partial_path", "write_zarr_map"]
