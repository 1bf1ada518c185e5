"""One writer per output: a lock file beside the output, held for the whole write.

:func:`~xlandslide.io.atomic.atomic_output` and the resumable Zarr map writes
(:mod:`xlandslide.io.resumable`) hold :func:`output_lock` while they write.  The lock is the
hidden sibling ``.NAME.xlandslide-lock``, created with ``O_CREAT | O_EXCL`` (atomic on local
and NFSv3+ file systems), holding the writer's ``HOST-PID``, its host name and the time.

- A second writer of the same output gets :class:`~xlandslide.errors.OutputLockedError` (a
  ``FileExistsError``) naming the holder, instead of both exiting 0 and the later silently
  replacing the other (or a raw zarr / ``FileExistsError`` traceback).
- A stale lock (its process is gone on this host; on another host, older than
  :data:`~xlandslide.io.temporaries.FOREIGN_HOST_AGE`) is taken over.
- Re-entrant within one process (a resumable GeoTIFF write holds it while its final
  :func:`~xlandslide.io.atomic.atomic_output` runs).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from ..errors import OutputLockedError
from .temporaries import output_errors, writer_alive, writer_id

#: Suffix of the lock file of an output (``.NAME<LOCK_TAG>``).
LOCK_TAG = ".xlandslide-lock"
#: An empty lock (its writer was killed between creating and filling it) is stale after this.
EMPTY_AGE = 10.0

_HELD: dict[Path, int] = {}
_HELD_LOCK = threading.Lock()


def lock_path(path) -> Path:
    path = Path(os.path.abspath(os.path.expanduser(str(path))))
    return path.with_name(f".{path.name}{LOCK_TAG}")


def _holder(lock: Path) -> tuple[str, str, float] | None:
    """``(HOST-PID, description, mtime)`` of the lock (None: gone)."""
    try:
        text = lock.read_text()
        mtime = lock.stat().st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        text, mtime = "", time.time()
    lines = text.splitlines()
    writer = lines[0].strip() if lines else ""
    host = lines[1].strip() if len(lines) > 1 else "?"
    pid = writer.rpartition("-")[2] or "?"
    return writer, f"process {pid} on host {host}", mtime


def _stale(writer: str, mtime: float) -> bool:
    if not writer:
        return time.time() - mtime > EMPTY_AGE
    return not writer_alive(writer, mtime)


def _take_over(lock: Path, writer: str) -> bool:
    """Move a stale lock away (atomically: of two writers taking it over, one wins)."""
    aside = lock.with_name(f"{lock.name}.stale-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return True  # released or taken over meanwhile: try again
    moved = _holder(aside)
    if moved is not None and moved[0] != writer and not _stale(moved[0], moved[2]):
        # a live writer's fresh lock was moved: put it back (unless yet another one came)
        with contextlib.suppress(OSError):
            os.link(aside, lock)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(aside)
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(aside)
    return True


def _acquire(path: Path, lock: Path) -> None:
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(20):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is None:
                continue
            writer, who, mtime = holder
            if _stale(writer, mtime):
                _take_over(lock, writer)
                continue
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(mtime))
            raise OutputLockedError(
                f"{str(path)!r} is being written by another xlandslide {who} (since {since}, "
                f"lock {str(lock)!r}); wait for it to finish, or stop it, or write to another "
                "path (if no such process runs, delete the lock file)"
            ) from None
        except OSError:  # a read-only or missing folder, a full disk: named as the output's
            with output_errors(lock, path):
                raise
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{writer_id()}\n{socket.gethostname()}\n{time.time():.3f}\n")
        return
    raise OutputLockedError(  # pragma: no cover - a lock taken and released 20 times in a row
        f"{str(path)!r}: could not take its lock {str(lock)!r}; try again"
    )


@contextlib.contextmanager
def output_lock(path):
    """Hold the lock of the output ``path`` for the block (module notes); URLs are not
    locked (object stores have no exclusive create)."""
    if "://" in str(path) and not str(path).startswith("file://"):
        yield None
        return
    lock = lock_path(str(path).removeprefix("file://"))
    with _HELD_LOCK:
        mine = _HELD.get(lock, 0)
        if mine:
            _HELD[lock] = mine + 1
    if not mine:
        _acquire(Path(path), lock)
        with _HELD_LOCK:
            _HELD[lock] = 1
    try:
        yield lock
    finally:
        with _HELD_LOCK:
            _HELD[lock] -= 1
            last = not _HELD[lock]
            if last:
                del _HELD[lock]
        if last:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)


__all__ = ["LOCK_TAG", "lock_path", "output_lock"]
