"""Store integrity: a manifest written last, a cheap and a full check, guarded reads.

Zarr reads a chunk that is not there as the array's fill value, silently: a lost ``label``
chunk would read as "stable", a lost feature chunk as NaN, a lost offset chunk as 0.  So
every store the package writes

- writes every chunk, also those equal to the fill value (``write_empty_chunks=True``), each
  compressed with a zstd checksum, and
- ends with a **manifest**, written last: the group ``xlandslide_manifest`` whose attributes
  list every array (shape, chunks, chunk grid, the size in bytes of every chunk file), the
  metadata documents and the content hash of each file (:mod:`xlandslide.io.digest`),
  the kind of store (``"region"`` or ``"map"``) and the package version.
  A store without one was not written by xlandslide, or its write did not finish.

Readers (:func:`~xlandslide.open_region`, :func:`~xlandslide.open_map`) check a store before
handing it out:

- by default, cheaply (:func:`check_store`): the manifest is there, every chunk file it
  lists is there with its size (one directory listing, no chunk read) and the metadata
  documents hold what was written (their hashes);
- with ``verify=True``, fully (:func:`verify_store`): every chunk's hash is compared (a store
  of version 1, without hashes: every chunk is decoded).

Afterwards every read goes through :class:`xlandslide.io.guard.GuardedArray`: a chunk missing
at read time, or
one that does not decode, raises :class:`~xlandslide.errors.IncompleteStoreError` or
:class:`~xlandslide.errors.CorruptChunkError` naming the store, the variable and the chunk —
never a fill value, never a bare ``RuntimeError: Zstd decompression error``.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from .._version import __version__
from ..errors import (
    CorruptChunkError,
    ForeignOutputError,
    IncompleteStoreError,
    OutputIsInputError,
    StoreIntegrityError,
)
from .digest import (
    _grid,
    _indices,
    altered,
    chunk_key,
    chunk_problems,
    default_hash,
    digests,
    metadata_problems,
)
from .strict import StrictStore
from .temporaries import is_temporary

#: Name of the manifest group at the root of every store the package writes.
MANIFEST_GROUP = "xlandslide_manifest"
#: Marker of the manifest.
MANIFEST_FORMAT = "xlandslide-store"
#: Layout version of the manifest.
MANIFEST_VERSION = 2  # 2: content hashes of every chunk and metadata document
#: Problems listed in one message (the count of the others follows).
SHOWN = 3


def is_url(store) -> bool:
    return isinstance(store, str) and "://" in store and not store.startswith("file://")


def local_path(store) -> Path:
    return Path(str(store).removeprefix("file://")) if isinstance(store, str) else Path(store)


def package_version() -> str:
    return __version__


# ---------------------------------------------------------------------------------------------
# Where a store lives: a local folder or an fsspec URL
# ---------------------------------------------------------------------------------------------
class Root:
    """A store's root, local or remote: listing, small documents, a zarr store object."""

    def __init__(self, store):
        self.url = is_url(store)
        if self.url:
            import fsspec

            self.label = str(store)
            self.fs, self.path = fsspec.core.url_to_fs(store)
            self.path = self.path.rstrip("/")
        else:
            self.path = local_path(store)
            self.label = str(self.path)

    @property
    def key(self) -> str:
        """What names the store in dask keys: the URL, or the absolute local path."""
        return self.label if self.url else os.path.abspath(self.label)

    def exists(self) -> bool:
        return self.fs.exists(self.path) if self.url else self.path.exists()

    def listing(self) -> dict[str, int]:
        """``{key: size in bytes}`` of every file below the root (the manifest excluded)."""
        out = {}
        if self.url:
            for full, info in self.fs.find(self.path, detail=True).items():
                key = full[len(self.path) :].lstrip("/")
                if not key.startswith(MANIFEST_GROUP + "/"):
                    out[key] = int(info["size"])
            return out
        root = str(self.path)
        for top, dirs, files in os.walk(root):
            rel = os.path.relpath(top, root).replace(os.sep, "/")
            if rel == MANIFEST_GROUP:
                dirs[:] = []
                continue
            prefix = "" if rel == "." else rel + "/"
            for name in files:
                try:
                    out[prefix + name] = os.stat(os.path.join(top, name)).st_size
                except FileNotFoundError:  # pragma: no cover - removed while listing
                    continue
        return out

    def read_text(self, key: str) -> str | None:
        try:
            if self.url:
                return self.fs.cat_file(f"{self.path}/{key}").decode()
            return (self.path / key).read_text()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def read_bytes(self, key: str) -> bytes | None:
        try:
            if self.url:
                return self.fs.cat_file(f"{self.path}/{key}")
            return (self.path / key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def write_text(self, key: str, text: str) -> None:
        """Write a small document; locally atomic (a temporary file, then a rename)."""
        if self.url:
            self.fs.pipe_file(f"{self.path}/{key}", text.encode())
            return
        target = self.path / key
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)

    def zarr_store(self, arrays=(), *, read_only: bool = True):
        """A zarr store object; reads of the chunks of ``arrays`` that are missing raise."""
        import zarr

        if self.url:
            store = zarr.storage.FsspecStore.from_url(self.label, read_only=read_only)
        else:
            store = zarr.storage.LocalStore(str(self.path), read_only=read_only)
        if not arrays:
            return store
        return StrictStore(store, arrays, self.label)


# ---------------------------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------------------------
def write_manifest(store, kind: str, *, extra: Mapping | None = None) -> dict:
    """Record that the store at ``store`` is complete; call it after everything is written.

    Lists every array of the root group, the size and content hash of each of its chunk
    files and the metadata documents with their hashes (:mod:`xlandslide.io.digest`), and
    writes them as the attributes of the group :data:`MANIFEST_GROUP`.  A chunk file that
    is not there is a writer's bug (chunks equal to the fill value must be written too) and
    raises.
    """
    import zarr

    root = Root(store)
    algorithm = default_hash()
    group = zarr.open_group(store=root.zarr_store(), mode="r", use_consolidated=False)
    listing = root.listing()
    arrays, missing = {}, []
    for name, arr in sorted(group.arrays()):
        if arr.metadata.zarr_format != 3 or chunk_key(name, (0,) * arr.ndim) != (
            f"{name}/{arr.metadata.encode_chunk_key((0,) * arr.ndim)}"
        ):  # pragma: no cover - the package writes the default v3 encoding only
            raise IncompleteStoreError(f"{name!r}: not the default Zarr v3 chunk key encoding")
        grid = _grid(arr.shape, arr.chunks)
        sizes = []
        for idx in _indices(grid):
            size = listing.get(chunk_key(name, idx))
            if size is None:
                missing.append(chunk_key(name, idx))
            sizes.append(size)
        arrays[name] = {
            "shape": list(arr.shape),
            "chunks": list(arr.chunks),
            "dtype": str(arr.dtype),
            "chunk_bytes": sizes,
        }
    if missing:  # pragma: no cover - would be a bug of a writer
        raise IncompleteStoreError(
            f"the write of {root.label!r} left {len(missing)} chunk(s) unwritten "
            f"({', '.join(missing[:SHOWN])}): a bug of xlandslide, please report it"
        )
    keys = [
        chunk_key(n, idx)
        for n, a in arrays.items()
        for idx in _indices(_grid(a["shape"], a["chunks"]))
    ]
    hashes = iter(digests(root, keys, algorithm))
    for info in arrays.values():
        info["chunk_hashes"] = [next(hashes) for _ in info["chunk_bytes"]]
    metadata = sorted(k for k in listing if k == "zarr.json" or k.endswith("/zarr.json"))
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "kind": kind,
        "complete": True,
        "xlandslide_version": package_version(),
        "hash": algorithm,
        "metadata": metadata,
        "metadata_hashes": dict(zip(metadata, digests(root, metadata, algorithm))),
        "arrays": arrays,
        **dict(extra or {}),
    }
    doc = {"zarr_format": 3, "node_type": "group", "attributes": {"xlandslide": manifest}}
    root.write_text(f"{MANIFEST_GROUP}/zarr.json", json.dumps(doc, separators=(",", ":")))
    return manifest


def read_manifest(store) -> dict | None:
    """The manifest of ``store`` (None when there is none, or it is not one of ours)."""
    text = Root(store).read_text(f"{MANIFEST_GROUP}/zarr.json")
    if text is None:
        return None
    try:
        manifest = json.loads(text)["attributes"]["xlandslide"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return None
    return manifest


def manifest_token(manifest: Mapping) -> str:
    """A short digest of a manifest (names the dask keys of the store's reads)."""
    raw = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha1(raw).hexdigest()[:16]


def _problems_message(label: str, problems: list[str], fix: str) -> str:
    more = f" (and {len(problems) - SHOWN} more)" if len(problems) > SHOWN else ""
    return f"the store {label!r} is damaged: {'; '.join(problems[:SHOWN])}{more}; {fix}"


def missing_manifest_message(label: str, writer: str) -> str:
    if is_temporary(label):
        return (
            f"{label!r} is the temporary folder of a write that did not finish (it was "
            f"killed or failed): it is not a complete store; run the write again (the next "
            f"write to the same path removes it), or delete it"
        )
    return (
        f"the store {label!r} has no xlandslide manifest: its write did not finish (it was "
        f"killed midway, or written with a plain to_zarr), or it was written by another "
        f"tool or an earlier xlandslide, so its completeness cannot be checked. Write it "
        f"again with {writer}; to read it anyway, pass foreign=True"
    )


def check_store(store, manifest: Mapping) -> None:
    """The cheap check: every metadata document and chunk file the manifest lists is there,
    with the size it was written with (one directory listing, no chunk read), and the
    metadata documents hold what was written (their hashes; a few small reads)."""
    root = Root(store)
    listing = root.listing()
    problems = []
    for key in manifest.get("metadata", ()):
        if key not in listing:
            problems.append(f"the metadata document {key} is missing")
    for name, info in manifest.get("arrays", {}).items():
        grid = _grid(info["shape"], info["chunks"])
        for idx, size in zip(_indices(grid), info["chunk_bytes"]):
            key = chunk_key(name, idx)
            got = listing.get(key)
            if got is None:
                problems.append(f"chunk {idx} of {name!r} is missing (file {key})")
            elif got != size:
                problems.append(
                    f"chunk {idx} of {name!r} has {got} bytes where {size} were written "
                    f"(file {key}: truncated or overwritten)"
                )
    if not problems and (changed := metadata_problems(root, manifest)):
        raise StoreIntegrityError(
            _problems_message(root.label, changed, "restore it from a copy or write it again")
        )
    if problems:
        raise IncompleteStoreError(
            _problems_message(
                root.label,
                problems,
                "restore it from a copy or write it again (missing chunks are never read as "
                "fill values)",
            )
        )


def verify_store(store, manifest: Mapping, *, only=None) -> None:
    """The full check: :func:`check_store`, then every chunk of every array (of the arrays
    named in ``only``, when given) compared with its hash in the manifest, or decoded
    where the manifest records none (a store of version 1)."""
    import zarr

    check_store(store, manifest)
    root = Root(store)
    arrays = manifest.get("arrays", {})
    bad, hashed = chunk_problems(root, manifest, only)
    group = zarr.open_group(store=root.zarr_store(arrays), mode="r", use_consolidated=False)
    problems = []
    for name, idx in bad:  # say whether it still decodes (damaged) or not (replaced)
        try:
            group[name].get_block_selection(idx)
        except Exception as exc:
            problems.append(_undecodable(name, idx, exc))
        else:
            problems.append(altered(name, idx))
    for name, info in arrays.items():
        if (only is not None and name not in only) or name in hashed:
            continue
        arr = group[name]
        if list(arr.shape) != info["shape"] or list(arr.chunks) != info["chunks"]:
            problems.append(
                f"the metadata of {name!r} changed since it was written (shape {arr.shape}, "
                f"chunks {arr.chunks}; written {tuple(info['shape'])}, "
                f"{tuple(info['chunks'])})"
            )
            continue
        for idx in _indices(_grid(info["shape"], info["chunks"])):
            try:
                arr.get_block_selection(idx)
            except Exception as exc:
                problems.append(_undecodable(name, idx, exc))
    if problems:
        raise CorruptChunkError(
            _problems_message(root.label, problems, "restore it from a copy or write it again")
        )


def _undecodable(name, idx, exc) -> str:
    return (
        f"chunk {idx} of {name!r} cannot be decoded (file {chunk_key(name, idx)}: "
        f"{type(exc).__name__}: {first_line(exc)})"
    )


def checked_arrays(store, root: Root, manifest: Mapping | None, *, verify: bool):
    """``(arrays, token)`` of a store about to be opened: its manifest checked (cheaply, or
    every chunk decoded with ``verify``); a foreign store (no manifest) names no array and
    is named by its metadata."""
    from dask.base import tokenize

    if manifest is None:
        return (), tokenize(root.key, root.read_text("zarr.json"))
    (verify_store if verify else check_store)(store, manifest)
    return tuple(manifest.get("arrays", {})), tokenize(root.key, manifest_token(manifest))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# ---------------------------------------------------------------------------------------------
# Overwrite only what is ours
# ---------------------------------------------------------------------------------------------
def store_kind(path) -> str | None:
    """The kind (``"region"``, ``"map"``) of the xlandslide store at ``path``, or None."""
    manifest = read_manifest(path)
    return None if manifest is None else str(manifest.get("kind"))


def foreign_output(path, what: str) -> ForeignOutputError:
    """The error for an ``overwrite`` of ``path`` that xlandslide did not write."""
    kind = "a folder" if Path(path).is_dir() else "a file"
    return ForeignOutputError(
        f"{str(path)!r} is {kind} that xlandslide did not write ({what}); overwrite=True "
        "(--overwrite) replaces only xlandslide's own outputs: move it away, delete it "
        "yourself, or choose another path"
    )


def refuse_inside_store(path) -> None:
    """Refuse an output inside a store xlandslide wrote (it would damage that store).

    Raises :class:`~xlandslide.errors.OutputIsInputError` naming the store.
    """
    path = Path(os.path.abspath(path))
    for parent in path.parents:
        if (parent / MANIFEST_GROUP / "zarr.json").is_file():
            kind = store_kind(parent) or "xlandslide"
            raise OutputIsInputError(
                f"{str(path)!r} lies inside the xlandslide {kind} store {str(parent)!r}; "
                "nothing is ever written into a store: choose a path outside it"
            )


def replaceable_store(kind: str) -> Callable[[Path], None]:
    """A check for :func:`~xlandslide.io.atomic.atomic_output`: only a store of ``kind``."""

    def check(path: Path) -> None:
        if not path.is_dir():
            raise foreign_output(path, "not a store")
        found = store_kind(path)
        if found is None:
            raise foreign_output(path, "no xlandslide manifest")
        if found != kind:
            raise ForeignOutputError(
                f"{str(path)!r} is an xlandslide {found} store, not a {kind} store; "
                f"overwrite never replaces an output of another kind: choose another path"
            )

    return check


__all__ = [
    "MANIFEST_GROUP",
    "Root",
    "check_store",
    "read_manifest",
    "refuse_inside_store",
    "replaceable_store",
    "verify_store",
    "write_manifest",
]
