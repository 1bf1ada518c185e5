"""The C allocator of dask workers: large temporaries without a page fault each.

A ``dask.distributed`` nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (so
that freed memory goes back to the OS).  Setting any glibc threshold also turns off glibc's
*dynamic* mmap threshold: from then on every allocation above 128 kB is a fresh ``mmap``
whose pages fault in one by one, and the block kernels of prediction — a few tens of MB of
short-lived arrays per block — ran 2.7x slower on a worker than in any other process
(0.125 s against 0.045 s for a 1024 x 1024 LLR block on this project's machine).

:func:`tune_allocator` gives such a process what glibc's dynamic rule would have chosen for
these sizes — temporaries up to 32 MB reuse the heap, whose free top is returned to the OS
above 64 MB — once per process, when a block task first runs there.  Memory stays bounded:
at most :data:`TRIM_THRESHOLD` of free heap is kept per allocator arena.  It acts only on
Linux (glibc), only when ``MALLOC_TRIM_THRESHOLD_`` is set in the environment (a process
that kept glibc's defaults has the dynamic rule already), and never when
``XLANDSLIDE_KEEP_MALLOC=1``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

#: Allocations up to this size come from the heap (glibc's dynamic maximum on 64 bits).
MMAP_THRESHOLD = 32 << 20
#: Free memory at the top of a heap above this size goes back to the OS (2x the above).
TRIM_THRESHOLD = 64 << 20

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False
_lock = threading.Lock()
log = logging.getLogger(__name__)


def tune_allocator() -> bool:
    """Set the glibc thresholds above once in this process, if it needs them.

    Returns whether they were set (now or by an earlier call).
    """
    global _done
    if _done:
        return True
    if (
        not sys.platform.startswith("linux")
        or "MALLOC_TRIM_THRESHOLD_" not in os.environ
        or os.environ.get("XLANDSLIDE_KEEP_MALLOC") == "1"
    ):
        return False
    with _lock:
        if _done:
            return True
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            ok = ok and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
        except (OSError, AttributeError):  # not glibc
            return False
        if ok:
            log.info(
                "glibc thresholds set for prediction blocks: mmap %d MB, trim %d MB "
                "(MALLOC_TRIM_THRESHOLD_ was set; XLANDSLIDE_KEEP_MALLOC=1 leaves them)",
                MMAP_THRESHOLD >> 20,
                TRIM_THRESHOLD >> 20,
            )
        _done = ok
        return ok
