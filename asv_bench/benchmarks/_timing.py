"""Timing helper of the plain table (``benchmarks/bench_table.py``); ASV times on its own."""

from __future__ import annotations

import time


def best_time(fn, repeat: int = 3, budget: float = 60.0) -> float:
    """Best wall time of up to ``repeat`` runs of ``fn()`` (fewer once ``budget`` s are spent)."""
    times = []
    while len(times) < repeat:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if sum(times) > budget:
            break
    return min(times)
