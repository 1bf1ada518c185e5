"""Evaluation throughput: streaming AUC (histograms) and NLL on dask-backed maps.

A probability map and labels of N x N pixels (N from ``XLANDSLIDE_BENCH_EVAL_N``, else
``XLANDSLIDE_BENCH_N``, default 4096: 16.8 Mpix, above the exact limit of 5 Mpix) held in
memory and wrapped as dask arrays with chunks 2048, so only the evaluation is timed, with
the threaded scheduler.  Probabilities are concentrated near 0 like susceptibilities
(landslides ~1 %).  Cases: ``roc_auc`` (streaming histogram, 2**16 bins), ``nll`` and the
full ``evaluate``; plus the exact AUC (sorting) on a 2048 x 2048 map for comparison.
"""

from __future__ import annotations

import os
import time

import numpy as np

CHUNK = 2048


def bench_n() -> int:
    """Side of the benchmark map (default 4096)."""
    return int(
        os.environ.get("XLANDSLIDE_BENCH_EVAL_N", os.environ.get("XLANDSLIDE_BENCH_N", 4096))
    )


def make_maps(n: int, seed: int = 0, chunks: int = CHUNK):
    """(prob, label) dask-backed DataArrays of n x n pixels (values in memory)."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    label = (rng.random((n, n), dtype=np.float32) < 0.01).astype(np.int8)
    label[:, : n // 10] = -1  # an unknown strip
    logit = rng.standard_normal((n, n), dtype=np.float32) - 4.5 + 2.0 * label
    prob = (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    prob = xr.DataArray(prob, dims=("y", "x")).chunk(chunks)
    label = xr.DataArray(label, dims=("y", "x")).chunk(chunks)
    return prob, label


class StreamingAUC:
    """Histogram AUC, NLL and the full evaluate() on an N x N dask-backed map."""

    timeout = 600
    number = 1
    repeat = 3

    def setup(self):
        self.n = bench_n()
        self.prob, self.label = make_maps(self.n)

    def time_roc_auc(self):
        from xlandslide.evaluate import roc_auc

        roc_auc(self.prob, self.label)

    def time_nll(self):
        from xlandslide.evaluate import nll

        nll(self.prob, self.label)

    def time_evaluate(self):
        from xlandslide.evaluate import evaluate

        evaluate(self.prob, self.label, train_ratio=0.01, roc=True)

    def track_auc_mpix_per_second(self):
        t0 = time.perf_counter()
        self.time_roc_auc()
        return self.n * self.n / (time.perf_counter() - t0) / 1e6

    track_auc_mpix_per_second.unit = "Mpix/s"


class ExactAUC:
    """Exact AUC (one bin per distinct value, by sorting) on 2048 x 2048 pixels."""

    timeout = 300
    number = 1
    repeat = 3

    def setup(self):
        self.prob, self.label = make_maps(2048)

    def time_roc_auc_exact(self):
        from xlandslide.evaluate import roc_auc

        roc_auc(self.prob, self.label)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def table_rows(n: int | None = None) -> list[dict]:
    """Rows ``{benchmark, seconds, per_second, unit}`` for the lead's table script."""
    from xlandslide.evaluate import evaluate, nll, roc_auc

    n = n or bench_n()
    prob, label = make_maps(n)
    cases = [
        (f"roc_auc histogram {n}^2 dask", lambda: roc_auc(prob, label), n * n),
        (f"nll {n}^2 dask", lambda: nll(prob, label), n * n),
        (
            f"evaluate nll+auc+roc {n}^2 dask",
            lambda: evaluate(prob, label, train_ratio=0.01, roc=True),
            n * n,
        ),
    ]
    small = make_maps(2048)
    cases.append(("roc_auc exact (sort) 2048^2", lambda: roc_auc(*small), 2048 * 2048))
    rows = []
    for name, fn, pixels in cases:
        fn()  # warm up (imports, first-call costs)
        dt = min(_timed(fn) for _ in range(2))
        rows.append(
            {"benchmark": name, "seconds": dt, "per_second": pixels / dt / 1e6, "unit": "Mpix/s"}
        )
    return rows


if __name__ == "__main__":
    for row in table_rows():
        print(f"{row['benchmark']}: {row['per_second']:.1f} {row['unit']} ({row['seconds']:.2f} s)")
