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

from ..errors import ForeignOutputError, ResumeError, StoreExistsError
from .atomic import (
    PARTIAL_TAG,
    clean_stale,
    move_into_place,
    output_errors,
    refuse_existing,
    remove,
    writer_alive,
    writer_id,
    writing,
)
from .integrity import is_url, read_manifest, replaceable_store, write_manifest
from .lock import output_lock

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


class _Site:
    """Where a Zarr map is written.

    A local path: built in the partial folder beside it (``map.zarr``, ``blocks/``,
    ``state.json``) and renamed into place.  An fsspec URL: written in place (object stores
    have no rename), its ``blocks/`` and ``state.json`` in the partial prefix beside it; until
    its manifest is written last, :func:`~xlandslide.open_map` refuses it.
    """

    def __init__(self, path):
        import fsspec

        self.url = is_url(path)
        self.label = str(path)
        self.fs, fspath = fsspec.core.url_to_fs(str(path))
        fspath = fspath.rstrip("/")
        parent, _, name = fspath.rpartition("/")
        self.final = fspath
        self.partial = f"{parent}/.{name}{PARTIAL_TAG}"
        if self.url:
            protocol = str(path).split("://", 1)[0]
            self.store = str(path)  # zarr and xarray take the URL
            self.store_path = fspath
            self.partial_url = f"{protocol}://{self.partial}"
        else:
            self.store = f"{self.partial}/map.zarr"
            self.store_path = self.store

    def exists(self, p: str) -> bool:
        return self.fs.exists(p)

    def read_state(self) -> dict | None:
        try:
            state = json.loads(self.fs.cat_file(f"{self.partial}/state.json").decode())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) and "fingerprint" in state else None

    def write_state(self, state: dict) -> None:
        text = json.dumps(state)
        if self.url:
            self.fs.pipe_file(f"{self.partial}/state.json", text.encode())
            return
        tmp = Path(self.partial) / ".state.json.tmp"
        tmp.write_text(text)
        tmp.replace(Path(self.partial) / "state.json")

    def done(self) -> set[str]:
        blocks = f"{self.partial}/blocks"
        if not self.fs.exists(blocks):
            return set()
        return {p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(blocks, detail=False)}

    def rm(self, p: str) -> None:
        if self.url:
            if self.fs.exists(p):
                self.fs.rm(p, recursive=True)
        else:
            remove(Path(p))


def _prepare(prob, maps, site: _Site, fingerprint: str, resume: bool) -> None:
    """The partial write of ``site``: reused (resume, same map) or started afresh."""
    state = site.read_state()
    writer = None if state is None else str(state.get("writer"))
    if writer is not None and writer != writer_id() and writer_alive(writer):
        raise StoreExistsError(
            f"{site.label!r} is being written by another process ({writer}); wait for it "
            "to finish, or stop it first"
        )
    if state is not None and resume:
        if state["fingerprint"] != fingerprint:
            raise ResumeError(
                f"cannot resume the write of {site.label!r}: the partial map in "
                f"{site.partial!r} was computed from other inputs (another model, region, "
                "block size or map); write with resume=False to start again (it is discarded)"
            )
        state["writer"] = writer_id()
        site.write_state(state)
        return
    site.rm(site.partial)
    if site.url:
        site.rm(site.final)  # ours: checked by the caller (a map, or our partial write)
    site.fs.makedirs(f"{site.partial}/blocks", exist_ok=True)
    ds = xr.Dataset(
        {name: var.copy(data=data) for name, var, data, _ in maps},
        attrs=dict(prob.attrs) if isinstance(prob, xr.Dataset) else {},
    )
    encoding = {}
    for name, _, _, zchunks in maps:
        ds[name].encoding = {}
        encoding[name] = {"chunks": zchunks, "compressors": (_zstd(),)}
    for k, v in ds.coords.items():
        v.encoding = {}
        if v.ndim:
            encoding[k] = {"compressors": (_zstd(),)}
    ds.to_zarr(
        site.store,
        mode="w-",
        zarr_format=3,
        consolidated=False,
        compute=False,
        write_empty_chunks=True,
        encoding=encoding,
    )
    names = [name for name, *_ in maps]
    site.write_state(
        {
            "fingerprint": fingerprint,
            "name": names[0] if len(names) == 1 else names,
            "grid": maps[0][2].numblocks,
            "writer": writer_id(),
        }
    )


def _zstd():
    import zarr

    return zarr.codecs.ZstdCodec(level=ZSTD_LEVEL, checksum=True)


def _write_block(block, store: str, name: str, region, marker: str) -> int:
    """Write one computed block into the Zarr array, then its marker (the block is done)."""
    import fsspec
    import zarr

    arr = zarr.open_array(store=store, path=name, mode="r+")
    arr = arr.with_config({"write_empty_chunks": True})  # open_array ignores config=
    arr[region] = np.asarray(block)
    with fsspec.open(marker, "wb"):
        pass
    return 1


def _prepared(prob):
    """The maps of ``prob`` (a DataArray, or a Dataset of (y, x) maps) and the fingerprint
    of the whole: a list of (name, the map, its dask data in Zarr-aligned chunks, those
    chunks)."""
    import dask.array as da

    if isinstance(prob, xr.Dataset):
        variables = [prob[k] for k in prob.data_vars]
    else:
        variables = [prob if prob.name is not None else prob.rename("susceptibility")]
    maps = []
    for var in variables:
        data = var.data
        if not isinstance(data, da.Array):
            data = da.from_array(np.asarray(data), chunks=NUMPY_CHUNK)
        data, zchunks = _zarr_chunks(data)
        maps.append((str(var.name), var, data, zchunks))
    prints = [_fingerprint(var, data) for _, var, data, _ in maps]
    if isinstance(prob, xr.DataArray):
        return maps, prints[0]
    attrs = json.dumps(prob.attrs, sort_keys=True, default=str)
    return maps, hashlib.sha1("|".join([*prints, attrs]).encode()).hexdigest()


def map_fingerprint(prob) -> str:
    """What identifies a map being written (the same model, region and settings give the
    same one): a resumed write must be of the same map."""
    return _prepared(prob)[1]


def write_zarr_map(prob, path, *, overwrite: bool, resume: bool):
    """Write ``prob`` (a DataArray, or a Dataset of (y, x) maps) to the Zarr store ``path``
    block by block, resumably (module notes)."""

    with output_lock(path):  # one writer per map (a second: OutputLockedError)
        return _write_zarr_map(prob, path, overwrite=overwrite, resume=resume)


def _write_zarr_map(prob, path, *, overwrite: bool, resume: bool):
    maps, fingerprint = _prepared(prob)
    site = _Site(path)
    if site.exists(site.final):
        manifest = read_manifest(path)
        if resume and manifest is not None and manifest.get("fingerprint") == fingerprint:
            state = site.read_state()  # a write killed after its rename left its folder
            if state is not None and not writer_alive(str(state.get("writer"))):
                site.rm(site.partial)
            return path  # the same map is already complete
        ours_unfinished = site.url and manifest is None and site.read_state() is not None
        if not ours_unfinished:
            if not overwrite:
                refuse_existing(path)
            if site.url:
                if manifest is None or manifest.get("kind") != "map":
                    raise ForeignOutputError(
                        f"{site.label!r} is not a map store of xlandslide; overwrite=True "
                        "replaces only xlandslide's own maps: choose another URL"
                    )
            else:
                replaceable_store("map")(Path(path))
    if not site.url:
        clean_stale(path)
    with output_errors(site.partial, path):
        return _write_blocks(prob, maps, site, path, fingerprint, resume)


def _write_blocks(prob, maps, site: _Site, path, fingerprint: str, resume: bool):
    import dask

    _prepare(prob, maps, site, fingerprint, resume)
    done = site.done()
    marker_root = site.partial_url if site.url else site.partial
    tasks = []
    for name, _, data, _ in maps:
        blocks = data.to_delayed()
        starts = [np.concatenate([[0], np.cumsum(c)]) for c in data.chunks]
        for idx in np.ndindex(*data.numblocks):
            # one map: a marker per block; several: per variable and block
            key = _marker(idx) if len(maps) == 1 else f"{name}.{_marker(idx)}"
            if key in done:
                continue
            region = tuple(slice(int(s[i]), int(s[i + 1])) for s, i in zip(starts, idx))
            marker = f"{marker_root}/blocks/{key}"
            tasks.append(
                dask.delayed(_write_block, pure=False)(
                    blocks[idx], site.store, name, region, marker
                )
            )
    with writing(path):
        dask.compute(*tasks)
    _finish(site, fingerprint)
    return path


def _finish(site: _Site, fingerprint: str) -> None:
    import zarr

    with warnings.catch_warnings():
        # consolidated metadata lets a plain xr.open_zarr(path) read the map quietly; zarr
        # notes that it is not (yet) part of the v3 specification
        warnings.filterwarnings("ignore", message="Consolidated metadata")
        zarr.consolidate_metadata(site.store)
    write_manifest(site.store, "map", extra={"fingerprint": fingerprint})
    if not site.url:
        move_into_place(Path(site.store), Path(site.final))
    site.rm(site.partial)


__all__ = ["NUMPY_CHUNK", "partial_path", "write_zarr_map"]
