"""Atomic outputs: write to a temporary sibling, move into place only when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from pathlib import Path

from ..errors import StoreExistsError


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False):
    """Yield a temporary sibling path; move it to ``path`` only when the block succeeds.

    An existing ``path`` is refused (:class:`StoreExistsError`) unless ``overwrite``; it is
    replaced only after the new output is complete, so a failure leaves it untouched and no
    partial output under the final name.  Used by every writer of the package (region
    stores, maps); checkpoints use the same scheme for single files.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise StoreExistsError(
            f"{str(path)!r} exists; pass overwrite=True (or --overwrite) to replace it, "
            "or choose another path"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    tmp = path.with_name(f".{path.name}.tmp-{token}")
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{token}")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            _remove(old)
        else:
            os.replace(tmp, path)
    finally:
        # Tasks of a failed dask write may still be running in the thread pool and
        # re-create chunk files; remove until the temporary output stays gone.
        for _ in range(50):
            if not tmp.exists():
                break
            _remove(tmp)
            time.sleep(0.02)


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


__all__ = ["atomic_output"]
