"""Progress with an ETA, on a terminal and in a log.

One owner for every progress report of the package: the training loop's per-batch bars, the
dask computes the command line starts (a map's write, a CV, an ingest), all through two
functions:

- :func:`progress_bar` ``(total, desc)``: an object with ``update(n=1)`` and ``close()``; on a
  terminal a tqdm bar (with its ETA), elsewhere (a log file, CI) a :class:`LineProgress` that
  prints ``"<desc>: 37/120 (31%) elapsed 0:42 ETA 1:30"`` at most every :data:`INTERVAL`
  seconds and once at the end, so that a log shows progress in the first minutes of a long
  step.
- :func:`dask_progress` ``(desc)``: a context manager for dask computes (the local
  schedulers): ``tqdm.dask.TqdmCallback`` on a terminal, :class:`DaskLines` (the same lines)
  elsewhere.

:func:`quiet` turns both off (the command line's ``--quiet``).  From Python, the eager
functions take ``progress=`` (:func:`xlandslide.fit`, :func:`xlandslide.cross_validate`,
:func:`xlandslide.paper_report`, :func:`xlandslide.write_map`); a lazy result is computed
under dask's own diagnostics, or under :func:`dask_progress`::

    from xlandslide._progress import dask_progress
    with dask_progress("susceptibility"):
        prob = prob.compute()
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

from dask.callbacks import Callback

#: Seconds between two progress lines in a log (the last line is always printed).
INTERVAL = 30.0

_QUIET = [False]


@contextlib.contextmanager
def quiet(on: bool = True):
    """Within the block, no progress at all when ``on`` (nested blocks restore the outer)."""
    before = _QUIET[0]
    _QUIET[0] = bool(on) or before
    try:
        yield
    finally:
        _QUIET[0] = before


def is_quiet() -> bool:
    """Whether progress is off (inside :func:`quiet`)."""
    return _QUIET[0]


def clock_text(seconds: float) -> str:
    """``0:42``, ``12:05``, ``1:02:03`` (hours only when needed); ``?`` when unknown.

    >>> clock_text(42), clock_text(725), clock_text(3723), clock_text(float("nan"))
    ('0:42', '12:05', '1:02:03', '?')
    """
    if seconds != seconds or seconds == float("inf"):
        return "?"
    s = round(max(seconds, 0.0))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LineProgress:
    """Progress as plain lines: at most one every ``interval`` seconds, and one at the end.

    Parameters
    ----------
    total : int
        Steps of the whole job.
    desc : str
        What is done (the start of each line).
    stream : file, optional
        Where the lines go (default: ``sys.stderr`` when the line is printed).
    interval : float
        Least seconds between two lines (the last line is printed whatever the time).
    clock : callable
        Seconds since an arbitrary start (``time.monotonic``; tests pass a fake clock).
    """

    def __init__(self, total, desc, *, stream=None, interval=INTERVAL, clock=time.monotonic):
        self.total, self.desc, self.n = int(total), desc, 0
        self.stream, self.interval, self.clock = stream, float(interval), clock
        self.start = self.last = clock()
        self.closed = False

    def line(self, now: float | None = None) -> str:
        """The progress line at time ``now`` (default: the clock's)."""
        now = self.clock() if now is None else now
        elapsed = now - self.start
        eta = elapsed * (self.total - self.n) / self.n if self.n else float("nan")
        pct = f"{100 * self.n / self.total:.0f}" if self.total else "100"
        return (
            f"{self.desc}: {self.n}/{self.total} ({pct}%) elapsed {clock_text(elapsed)} "
            f"ETA {clock_text(eta)}"
        )

    def _emit(self, now: float) -> None:
        self.last = now
        print(self.line(now), file=self.stream or sys.stderr, flush=True)

    def update(self, n: int = 1) -> None:
        """``n`` more steps done; prints a line when ``interval`` seconds have passed."""
        self.n += int(n)
        now = self.clock()
        if now - self.last >= self.interval and not self.closed:
            self._emit(now)

    def close(self) -> None:
        """The last line (once)."""
        if not self.closed:
            self.closed = True
            self._emit(self.clock())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def progress_bar(total: int, desc: str, *, leave: bool = True, stream=None, clock=None):
    """A progress report over ``total`` steps: a tqdm bar on a terminal, else lines.

    Returns ``None`` (nothing to update) when ``desc`` is empty or inside :func:`quiet`.
    The object has ``update(n=1)`` and ``close()``.
    """
    if not desc or is_quiet():
        return None
    stream = sys.stderr if stream is None else stream
    if _terminal(stream):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, leave=leave, file=stream)
    return LineProgress(total, desc, stream=stream, clock=clock or time.monotonic)


class DaskLines(Callback):
    """A dask callback printing :class:`LineProgress` lines over each compute's tasks.

    Only the compute started by the thread that entered first is counted (a compute started
    inside a task, by a worker thread, is not another job).  A compute shorter than
    ``min_seconds`` prints nothing (a block of code that runs many small computes stays
    quiet but for the long ones).
    """

    def __init__(
        self, desc: str, *, stream=None, interval=INTERVAL, clock=time.monotonic, min_seconds=0.0
    ):
        super().__init__()
        self.desc, self.stream, self.interval, self.clock = desc, stream, interval, clock
        self.min_seconds = float(min_seconds)
        self.lines: LineProgress | None = None
        self.thread: int | None = None

    def _mine(self) -> bool:
        return self.thread == threading.get_ident()

    def _start_state(self, dsk, state):
        if self.lines is not None and not self.lines.closed:
            return  # a compute inside a task of the compute being counted
        self.thread = threading.get_ident()
        total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
        self.lines = LineProgress(
            total, self.desc, stream=self.stream, interval=self.interval, clock=self.clock
        )

    def _posttask(self, key, result, dsk, state, worker_id):
        if self.lines is not None and self._mine():
            self.lines.update()

    def _finish(self, dsk, state, errored):
        lines = self.lines
        if lines is not None and self._mine() and not lines.closed:
            long = lines.clock() - lines.start >= self.min_seconds or lines.last > lines.start
            if long and not errored:
                lines.close()
            lines.closed = True


def dask_progress(desc: str, *, enabled: bool = True, stream=None, min_seconds: float = 0.0):
    """A context manager reporting the progress of the dask computes run inside it.

    A tqdm bar on a terminal (``tqdm.dask.TqdmCallback``), :class:`DaskLines` elsewhere
    (computes shorter than ``min_seconds`` print no line), nothing when not ``enabled`` or
    inside :func:`quiet`.  It sees the local schedulers (threads, processes, synchronous); a
    ``distributed`` cluster has its own dashboard.
    """
    if not enabled or not desc or is_quiet():
        return contextlib.nullcontext()
    stream = sys.stderr if stream is None else stream
    if _terminal(stream):
        from tqdm.dask import TqdmCallback

        return TqdmCallback(desc=desc, leave=False, file=stream)
    return DaskLines(desc, stream=stream, min_seconds=min_seconds)


__all__ = [
    "INTERVAL",
    "DaskLines",
    "LineProgress",
    "clock_text",
    "dask_progress",
    "is_quiet",
    "progress_bar",
    "quiet",
]
