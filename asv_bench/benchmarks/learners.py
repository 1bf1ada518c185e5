"""The field's learners (``xlandslide.learners``) on a pixel table: fit and predict.

A synthetic table shaped like the paper's inputs: 2 continuous layers plus 3 aligned
(uphill-gathered) columns, 4 groups of 44, 5, 5 and 38 classes; a nonlinear logit with ~5 %
landslides.  Training rows: ``XLANDSLIDE_BENCH_LEARNER_ROWS`` (default 100,000, a typical
stratified-sample budget; ``XLANDSLIDE_BENCH_N`` squared when smaller); prediction on 10
times as many rows.  One thread (``num_threads=1`` for LightGBM).
"""

from __future__ import annotations

import os

import numpy as np

try:
    from ._timing import best_time
except ImportError:  # run as a script
    from _timing import best_time

NAMES = ["llr", "gam", "woe", "fr", "gbm"]
N_CLASSES = (44, 5, 5, 38)


def bench_rows() -> int:
    rows = int(os.environ.get("XLANDSLIDE_BENCH_LEARNER_ROWS", 100_000))
    side = os.environ.get("XLANDSLIDE_BENCH_N")
    return min(rows, int(side) ** 2) if side else rows


def make_table(n: int, seed: int = 0):
    """A PixelTable of ``n`` rows with a known nonlinear logit (and its test twin)."""
    from xlandslide.learners import PixelTable

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    x[:, 2] = x[:, 0] + 0.3 * x[:, 2]  # the uphill slope, correlated with the slope
    codes = np.stack([rng.integers(0, k, n) for k in N_CLASSES], axis=1).astype(np.uint8)
    world = np.random.default_rng(12345)  # the class effects: the same for every table
    effect = [world.normal(0, 0.7, k) for k in N_CLASSES]
    logit = -3.5 + 1.2 * x[:, 0] + 0.8 * np.tanh(2 * x[:, 2]) - 0.6 * x[:, 1] ** 2
    logit += sum(e[codes[:, g]] for g, e in enumerate(effect))
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    x[rng.random(x.shape) < 0.01] = np.nan
    names = ("slope", "dem", "slope_up_20", "dem_up_20", "slope_up_40")
    groups = ("lithology", "land_cover", "rock_family", "rock_age")
    return PixelTable(x, codes, label, N_CLASSES, None, names, groups)


def _learner(name: str):
    from xlandslide.learners import build_learner

    return build_learner(name, **({"num_threads": 1} if name == "gbm" else {}))


class Learners:
    params = NAMES
    param_names = ("learner",)
    timeout = 600

    def setup(self, name):
        n = bench_rows()
        self.table = make_table(n)
        self.test = make_table(10 * n, seed=1)
        self.fitted = _learner(name).fit(self.table)

    def time_fit(self, name):
        _learner(name).fit(self.table)

    def time_predict(self, name):
        self.fitted.predict_logit(self.test.continuous, self.test.codes)


def table_rows(n: int | None = None) -> list[dict]:
    """Rows for ``benchmarks/bench_table.py learners``: fit and predict, with test AUC / NLL."""
    from sklearn.metrics import log_loss, roc_auc_score

    n = n or bench_rows()
    table, test = make_table(n), make_table(10 * n, seed=1)
    rows = []
    for name in NAMES:
        fitted = _learner(name).fit(table)
        fit_s = best_time(lambda name=name: _learner(name).fit(table), repeat=2)
        logit = fitted.predict_logit(test.continuous, test.codes)
        prob = 1 / (1 + np.exp(-logit))
        auc, nll = roc_auc_score(test.label, logit), log_loss(test.label, prob)
        pred_s = best_time(lambda f=fitted: f.predict_logit(test.continuous, test.codes), 2)
        rows.append(
            {
                "benchmark": f"{name} fit {n} rows (test AUC {auc:.3f}, NLL {nll:.4f})",
                "seconds": fit_s,
                "per_second": n / fit_s / 1e3,
                "unit": "krows/s",
            }
        )
        rows.append(
            {
                "benchmark": f"{name} predict {10 * n} rows",
                "seconds": pred_s,
                "per_second": 10 * n / pred_s / 1e6,
                "unit": "Mpix/s",
            }
        )
    return rows


if __name__ == "__main__":
    for row in table_rows():
        print(f"{row['benchmark']}: {row['per_second']:.2f} {row['unit']} ({row['seconds']:.2f} s)")
