"""The compile and threading policy of every numba kernel in xlandslide (one place).

Compile policy (:func:`jit`)
----------------------------
``numba.njit(cache=True, nogil=True, parallel=False, fastmath=False, error_model="numpy")``:

- ``cache=True``: compiled machine code is kept on disk, so the 1–5 s compile is paid once
  per machine, not once per process (tests, dask workers, the command line).
- ``nogil=True``: a running kernel releases the GIL, so dask's threaded scheduler (and the
  thread pool of :func:`run_row_bands`) runs kernels truly in parallel.
- ``parallel=False``: no numba ``prange``.  Parallel numba kernels called concurrently from
  several threads (which is what dask's threaded scheduler does, one block per thread) can
  abort the process with the default ``workqueue`` threading layer ("Terminating: Nested
  parallel kernel launch detected" / concurrent access), and their thread pool would
  oversubscribe dask's.  Parallelism comes from the callers instead: dask threads on the
  dask path, :func:`run_row_bands` on the numpy path.  Both are safe under any threading
  layer because numba's own thread pool is never used.
- ``fastmath=False``: NaN marks missing data everywhere; fastmath's ``nnan`` flag would let
  LLVM assume there is none and break the "NaN never wins" comparisons.
- ``error_model="numpy"``: no Python-style division checks, which lets loops vectorise.

Kernels are pure: numpy arrays in, numpy arrays out (or a caller-given output array),
no xarray, dask or torch inside.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numba

from ..errors import ConfigError

#: Options every kernel is compiled with (see the module docstring for the reasons).
JIT_OPTIONS = {
    "nogil": True,
    "cache": True,
    "parallel": False,
    "fastmath": False,
    "error_model": "numpy",
}


def jit(func=None, **overrides):
    """Compile ``func`` with :data:`JIT_OPTIONS` (``@jit`` or ``@jit(**overrides)``)."""
    options = {**JIT_OPTIONS, **overrides}
    if func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(func)


def available_threads() -> int:
    """Number of CPUs this process may run on (``sched_getaffinity`` where available)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int | None) -> int:
    """``threads`` as a positive count: ``None`` or ``0`` mean every available CPU."""
    if threads is None or threads == 0:
        return available_threads()

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ConfigError(
            f"threads must be an integer >= 0 (0 or None = all CPUs), got {threads!r}"
        )
    threads = int(threads)
    return threads


#: Rows below which a band is not worth a thread of its own.
MIN_ROWS_PER_THREAD = 32


def run_row_bands(kernel_rows, nrows: int, *args, threads: int | None = 1) -> None:
    """Call ``kernel_rows(*args, row0, row1)`` over ``[0, nrows)`` in bands, in threads.

    ``kernel_rows`` must be a ``nogil`` kernel that writes rows ``row0:row1`` of its
    output (one of ``args``) and reads its inputs only.  With ``threads == 1`` (what the
    dask path uses: dask already runs one block per thread) it is a single call.
    """
    threads = min(resolve_threads(threads), max(1, nrows // MIN_ROWS_PER_THREAD))
    if threads <= 1:
        kernel_rows(*args, 0, nrows)
        return
    bounds = [nrows * k // threads for k in range(threads + 1)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="xlandslide") as pool:
        futures = [
            pool.submit(kernel_rows, *args, lo, hi)
            for lo, hi in itertools.pairwise(bounds)
            if hi > lo
        ]
        for f in futures:
            f.result()
