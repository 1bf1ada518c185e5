"""The hidden temporaries of the package's writes and the processes that write them.

The leaf below :mod:`xlandslide.io.atomic`, :mod:`xlandslide.io.lock` and
:mod:`xlandslide.io.integrity`: the markers in the names of temporary siblings, the
``HOST-PID`` of a writer and whether it is alive, and the error of a write into a
temporary (:func:`output_errors`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from pathlib import Path

from ..errors import OutputWriteError, XLandslideError

#: Marker in the names of temporary siblings (``.NAME<TEMP_TAG>HOST-PID-TOKEN``).
TEMP_TAG = ".xlandslide-tmp-"
#: Marker in the names of replaced outputs awaiting removal.
OLD_TAG = ".xlandslide-old-"
#: Suffix of the folder where a Zarr map is built and resumed (``.NAME<PARTIAL_TAG>``).
PARTIAL_TAG = ".xlandslide-partial"
#: A temporary of another host is removed only once this old (seconds).
FOREIGN_HOST_AGE = 3600.0


def _host() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def writer_id() -> str:
    """``HOST-PID`` of this process (HOST: a short hash of the host name)."""
    return f"{_host()}-{os.getpid()}"


def writer_alive(writer: str, mtime: float | None = None) -> bool:
    """Whether the process ``HOST-PID`` that made a temporary may still be writing it.

    On this host: whether the process exists.  On another host (a shared file system) it
    cannot be told: a temporary younger than :data:`FOREIGN_HOST_AGE` counts as alive.
    """
    host, _, pid = writer.partition("-")
    if not pid.isdigit():
        return False
    if host != _host():
        return mtime is not None and time.time() - mtime < FOREIGN_HOST_AGE
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def is_temporary(path) -> bool:
    """Whether ``path`` is (or lies in) the temporary sibling of an unfinished write."""
    for part in Path(path).parts:
        if part.startswith(".") and (
            TEMP_TAG in part or OLD_TAG in part or part.endswith(PARTIAL_TAG)
        ):
            return True
    return False


@contextlib.contextmanager
def output_errors(hidden, path):
    """Re-raise an OS error of a write into the hidden temporary ``hidden`` (a file or
    folder, or anything in it) as :class:`~xlandslide.errors.OutputWriteError` naming the
    output ``path``: a read-only or vanished folder, a full disk.  Other errors (reading an
    input, computing) pass unchanged."""
    try:
        yield
    except XLandslideError:
        raise
    except OSError as exc:
        hidden, path = str(hidden), str(path)
        text = f"{exc} {getattr(exc, 'filename', None) or ''}"
        if hidden not in text and Path(hidden).name not in text:
            raise
        reason = exc.strerror or str(exc)
        reason = reason.replace(hidden, path).replace(Path(hidden).name, Path(path).name)
        folder = Path(os.path.abspath(path)).parent
        err = OutputWriteError(
            f"cannot write {path!r} ({reason}); check that the folder {str(folder)!r} exists, "
            "is writable and has free space, or choose another path"
        )
        err.errno = exc.errno
        raise err from exc


__all__ = [
    "FOREIGN_HOST_AGE",
    "OLD_TAG",
    "PARTIAL_TAG",
    "TEMP_TAG",
    "is_temporary",
    "output_errors",
    "writer_alive",
    "writer_id",
]
