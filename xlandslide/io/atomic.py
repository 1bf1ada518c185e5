"""Atomic outputs: write to a temporary sibling, move into place only when complete.

Every writer of the package goes through :func:`atomic_output` (region stores, GeoTIFF maps;
checkpoints use the same scheme for single files, Zarr maps a resumable variant of it in
:mod:`xlandslide.io.maps`).  Three rules:

- **Nothing half-written under the final name.**  The output is built in a hidden sibling,
  ``.NAME.xlandslide-tmp-HOST-PID-TOKEN``, and renamed into place once complete; a failure
  removes it and leaves a previous output untouched.
- **Killed writes are cleaned up by the next write to the same target.**  A temporary
  sibling whose writer process is gone (the host and process id are in its name) is removed
  before a new write starts; one whose writer is still running is left alone.
- **The input is never the output.**  While a write runs, its target is registered
  (:func:`writing`); the readers of :mod:`xlandslide.io` call :func:`check_source` before
  every read, so a computation that reads the store it is about to replace (or a store
  inside it, or around it) fails at its first read, before anything is written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ..errors import OutputIsInputError, StoreExistsError
from .integrity import foreign_output, refuse_inside_store
from .lock import output_lock
from .temporaries import (
    FOREIGN_HOST_AGE,
    OLD_TAG,
    PARTIAL_TAG,
    TEMP_TAG,
    is_temporary,
    output_errors,
    writer_alive,
    writer_id,
)


def _temporaries(path: Path) -> list[Path]:
    if not path.parent.is_dir():
        return []
    prefixes = (f".{path.name}{TEMP_TAG}", f".{path.name}{OLD_TAG}")
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(prefixes))


def clean_stale(path) -> list[Path]:
    """Remove the temporaries of killed writes to ``path``; return those removed.

    A replaced output (``OLD_TAG``) is always removed: its write got past the point where
    the new output was complete.  A temporary is removed when its writer is gone
    (:func:`writer_alive`).
    """
    path = Path(path)
    removed = []
    for p in _temporaries(path):
        if TEMP_TAG in p.name:
            writer = p.name.split(TEMP_TAG, 1)[1].rsplit("-", 1)[0]
            try:
                mtime = p.stat().st_mtime
            except FileNotFoundError:
                continue
            if writer_alive(writer, mtime):
                continue
        remove(p)
        removed.append(p)
    return removed


# ---------------------------------------------------------------------------------------------
# The targets being written (so that no computation reads what it is about to replace)
# ---------------------------------------------------------------------------------------------
_ACTIVE: dict[Path, int] = {}
_ACTIVE_LOCK = threading.Lock()


def _resolved(path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def overlaps(a, b) -> bool:
    """Whether two local paths are the same, or one lies inside the other."""
    a, b = _resolved(a), _resolved(b)
    with contextlib.suppress(OSError):
        a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


@contextlib.contextmanager
def writing(target):
    """Register ``target`` as being written for the duration of the block."""
    target = _resolved(target)
    with _ACTIVE_LOCK:
        _ACTIVE[target] = _ACTIVE.get(target, 0) + 1
    try:
        yield target
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE[target] -= 1
            if not _ACTIVE[target]:
                del _ACTIVE[target]


def check_source(source) -> None:
    """Refuse to read ``source`` while an output that is, holds or lies in it is written.

    Raises :class:`~xlandslide.errors.OutputIsInputError`.  URLs are not checked.
    """
    if not _ACTIVE or (isinstance(source, str) and "://" in source):
        return
    with _ACTIVE_LOCK:
        targets = list(_ACTIVE)
    for target in targets:
        refuse_overlap(source, target)


def refuse_overlap(source, target) -> None:
    """Raise :class:`~xlandslide.errors.OutputIsInputError` if ``target`` and the input
    ``source`` are the same path or one lies inside the other (URLs are not checked)."""
    if isinstance(source, str) and "://" in source:
        return
    if overlaps(source, target):
        raise OutputIsInputError(
            f"the output {str(target)!r} would replace or sit inside the input "
            f"{str(source)!r} it is computed from; write the output to another path "
            "(an input is never replaced)"
        )


# ---------------------------------------------------------------------------------------------
# The atomic scheme
# ---------------------------------------------------------------------------------------------
def refuse_existing(path: Path) -> None:
    raise StoreExistsError(
        f"{str(path)!r} exists; pass overwrite=True (or --overwrite) to replace it, "
        "or choose another path"
    )


@contextlib.contextmanager
def atomic_output(
    path, *, overwrite: bool = False, replaceable: Callable[[Path], None] | None = None
):
    """Yield a temporary sibling path; move it to ``path`` only when the block succeeds.

    Parameters
    ----------
    path : path-like
        The final output (a file or a directory).
    overwrite : bool
        Replace an existing ``path``; without it, one raises
        :class:`~xlandslide.errors.StoreExistsError`.
    replaceable : callable, optional
        Called with an existing ``path`` before anything is written when ``overwrite`` is
        asked for; raises (:class:`~xlandslide.errors.ForeignOutputError`) when ``path`` is
        not an output this writer may replace.  The package's writers always pass one:
        ``overwrite`` replaces only what xlandslide wrote.

    Notes
    -----
    An existing output is replaced only after the new one is complete, so a failure leaves
    it untouched and no partial output under the final name.  Temporaries of earlier
    killed writes to ``path`` are removed first (:func:`clean_stale`).  While the block
    runs, ``path`` is registered as being written (:func:`writing`) and its lock is held
    (:func:`xlandslide.io.lock.output_lock`): a second writer of the same output, in another
    process, gets :class:`~xlandslide.errors.OutputLockedError` naming this one.
    """
    path = Path(path)
    with output_lock(path):
        with _atomic(path, overwrite, replaceable) as tmp:
            yield tmp


@contextlib.contextmanager
def _atomic(path: Path, overwrite: bool, replaceable):
    clean_stale(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            refuse_existing(path)
        if replaceable is not None:
            replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    tmp = path.with_name(f".{path.name}{TEMP_TAG}{writer_id()}-{token}")
    try:
        with writing(path), output_errors(tmp, path):
            yield tmp
        move_into_place(tmp, path, token)
    finally:
        # Tasks of a failed dask write may still be running in the thread pool and
        # re-create chunk files; remove until the temporary output stays gone.
        for _ in range(50):
            if not tmp.exists():
                break
            remove(tmp)
            time.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# Small files written beside the outputs (tables, figures, styles): which ones are ours
# ---------------------------------------------------------------------------------------------
#: The ``Software`` text of the PNG figures xlandslide writes, and the mark in its styles.
SOFTWARE = "xlandslide"


def _foreign(path: Path, what: str):
    return foreign_output(path, what)


def replaceable_table(*headers: str) -> Callable[[Path], None]:
    """A check for :func:`atomic_output`: only a CSV table xlandslide wrote, one whose first
    line starts with one of ``headers`` (the columns that command writes)."""

    def check(path: Path) -> None:
        if not path.is_file() or path.is_symlink():
            raise _foreign(path, "not a table")
        try:
            with open(path, encoding="utf-8") as f:
                first = f.readline()
        except (OSError, UnicodeDecodeError):
            first = ""
        if not any(first.startswith(h) for h in headers):
            raise _foreign(path, f"not a table with the columns {headers[0]!r}")

    return check


def png_software(path) -> str | None:
    """The ``Software`` text of a PNG file (None: not a PNG, or none)."""
    import struct

    try:
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return None
            while True:
                head = f.read(8)
                if len(head) < 8:
                    return None
                size, kind = struct.unpack(">I4s", head)
                if kind == b"IEND":
                    return None
                if kind in (b"tEXt", b"iTXt"):
                    key, _, value = f.read(size).partition(b"\0")
                    if key == b"Software":
                        return value.lstrip(b"\0").decode("latin-1", "replace")
                    f.seek(4, os.SEEK_CUR)
                else:
                    f.seek(size + 4, os.SEEK_CUR)
    except OSError:
        return None


def replaceable_figure(path: Path) -> None:
    """A check for :func:`atomic_output`: only a PNG figure xlandslide wrote (its
    ``Software`` text, :data:`SOFTWARE`)."""
    if not path.is_file() or path.is_symlink():
        raise _foreign(path, "not a figure")
    if not (png_software(path) or "").startswith(SOFTWARE):
        raise _foreign(path, f"not a PNG whose Software is {SOFTWARE}")


def replaceable_marked(path: Path) -> None:
    """A check for :func:`atomic_output`: only a text file that names :data:`SOFTWARE` in
    its first lines (the styles xlandslide writes carry it in a comment)."""
    if not path.is_file() or path.is_symlink():
        raise _foreign(path, "not a file")
    try:
        with open(path, encoding="utf-8") as f:
            head = "".join(f.readline() for _ in range(5))
    except (OSError, UnicodeDecodeError):
        head = ""
    if f"written by {SOFTWARE}" not in head:
        raise _foreign(path, f"no 'written by {SOFTWARE}' mark")


def check_outputs(paths, *, overwrite: bool) -> None:
    """Refuse, before any work, outputs :func:`atomic_output` would refuse at the end, and
    folders where they cannot be written (:func:`check_writable`).

    ``paths`` maps each path to its ``replaceable`` check (or None: any file).
    """
    for path, check in paths.items():
        path = Path(path)
        refuse_inside_store(path)
        if path.exists() or path.is_symlink():
            if not overwrite:
                refuse_existing(path)
            if check is not None:
                check(path)
        check_writable(path)


def check_writable(path) -> None:
    """Make sure the output ``path`` can be created, before any work: a probe file is
    created (and removed at once) in its folder, or in the nearest existing folder above it
    (missing folders are created by the write itself); otherwise
    :class:`~xlandslide.errors.OutputWriteError` naming the output.  URLs are not checked."""
    if "://" in str(path):
        return
    path = Path(os.path.abspath(path))
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return  # a file where a folder is needed: the write says so (NotADirectoryError)
    probe = folder / f".{path.name}{TEMP_TAG}{writer_id()}-probe"
    with output_errors(probe, path):
        with open(probe, "wb"):
            pass
        os.unlink(probe)


def move_into_place(tmp: Path, path: Path, token: str | None = None) -> None:
    """Rename the complete output ``tmp`` to ``path``, replacing what is there."""
    if path.exists() or path.is_symlink():
        old = path.with_name(f".{path.name}{OLD_TAG}{token or uuid.uuid4().hex[:8]}")
        os.replace(path, old)
        try:
            os.replace(tmp, path)
        except BaseException:
            os.replace(old, path)
            raise
        remove(old)
    else:
        os.replace(tmp, path)


def remove(p: Path) -> None:
    """Remove a file or a directory tree (nothing if it is gone)."""
    p = Path(p)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


__all__ = [
    "FOREIGN_HOST_AGE",
    "OLD_TAG",
    "PARTIAL_TAG",
    "SOFTWARE",
    "TEMP_TAG",
    "atomic_output",
    "check_outputs",
    "check_source",
    "check_writable",
    "clean_stale",
    "is_temporary",
    "move_into_place",
    "output_errors",
    "overlaps",
    "png_software",
    "refuse_overlap",
    "replaceable_figure",
    "replaceable_marked",
    "replaceable_table",
    "writer_alive",
    "writer_id",
    "writing",
]
