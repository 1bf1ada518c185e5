"""Content hashes of a store's files: what the manifest records, what ``verify=True`` checks.

The manifest (:mod:`xlandslide.io.integrity`, version 2) records a fast hash of every chunk
file and of every metadata document (``zarr.json`` of the group and of each array: shapes,
codecs, class lists, the normalisation and the other attrs).  Sizes alone let a chunk
swapped with another of the same size, a chunk copied from another store or an edited
attribute pass; hashes do not.

The hash is BLAKE2b with a 16-byte digest (:mod:`hashlib`), or XXH3-128 when the optional
``xxhash`` package is installed (several times faster); the manifest names the one used.
The files are hashed right after they are written, before the manifest (which marks the
store complete) is written: what the manifest records is what the write left.  Stores of
version 1 (no hashes) still open, and verify by sizes and by decoding every chunk.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

#: Threads reading and hashing files (hashlib and xxhash release the GIL on large inputs).
THREADS = 4


def _xxh3():
    try:
        import xxhash
    except ImportError:
        return None
    return xxhash.xxh3_128


def default_hash() -> str:
    """The name of the hash new manifests record."""
    return "xxh3-128" if _xxh3() is not None else "blake2b-128"


def hash_function(name: str):
    """``bytes -> hex digest`` for a hash named in a manifest (None: not available here)."""
    if name == "blake2b-128":
        return lambda data: hashlib.blake2b(data, digest_size=16).hexdigest()
    if name == "xxh3-128":
        xxh = _xxh3()
        return None if xxh is None else (lambda data: xxh(data).hexdigest())
    return None


def digests(root, keys: Sequence[str], name: str) -> list[str | None]:
    """The hash ``name`` of each file ``keys`` of the store ``root`` (None: not there)."""
    fn = hash_function(name)

    def one(key: str) -> str | None:
        data = root.read_bytes(key)
        return None if data is None else fn(data)

    if len(keys) < 8:
        return [one(k) for k in keys]
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, keys))


def metadata_problems(root, manifest: Mapping) -> list[str]:
    """Metadata documents whose content changed since the manifest was written."""
    recorded = manifest.get("metadata_hashes")
    fn = hash_function(str(manifest.get("hash")))
    if not recorded or fn is None:
        return []
    keys = sorted(recorded)
    got = digests(root, keys, str(manifest["hash"]))
    return [
        f"the metadata document {key} was changed after the store was written (its attrs, "
        "class lists, normalisation, shapes or codecs are not those written)"
        for key, h in zip(keys, got)
        if h is not None and h != recorded[key]
    ]


def chunk_problems(root, manifest: Mapping, only=None) -> tuple[list, set[str]]:
    """``(array, chunk index)`` of the chunks whose content is not the one written (swapped,
    copied from another store, altered); and the arrays whose chunks were all checked so
    (those of a manifest that records hashes)."""
    name = str(manifest.get("hash"))
    if hash_function(name) is None:
        return [], set()
    jobs, checked = [], set()
    for array, info in manifest.get("arrays", {}).items():
        hashes = info.get("chunk_hashes")
        if hashes is None or (only is not None and array not in only):
            continue
        checked.add(array)
        for idx, h in zip(_indices(_grid(info["shape"], info["chunks"])), hashes):
            jobs.append((array, idx, h))
    got = digests(root, [chunk_key(a, idx) for a, idx, _ in jobs], name)
    bad = [(array, idx) for (array, idx, h), g in zip(jobs, got) if g is not None and g != h]
    return bad, checked


def altered(array: str, idx) -> str:
    return (
        f"chunk {idx} of {array!r} does not hold what was written (file "
        f"{chunk_key(array, idx)}: swapped with another chunk, copied from another store or "
        "altered)"
    )


def _grid(shape, chunks) -> tuple[int, ...]:
    return tuple(-(-int(n) // int(c)) if c else 1 for n, c in zip(shape, chunks))


def _indices(grid):
    return itertools.product(*(range(n) for n in grid))


def chunk_key(name: str, idx) -> str:
    return f"{name}/c" + "".join(f"/{i}" for i in idx)


__all__ = [
    "altered",
    "chunk_key",
    "chunk_problems",
    "default_hash",
    "digests",
    "hash_function",
    "metadata_problems",
]
