"""Tiny synthetic pixel tables for the learner tests."""

from __future__ import annotations

import numpy as np

from xlandslide.learners import PixelTable


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def auc(y, score):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(y, score)


def synthetic_table(n=600, seed=0, *, nonlinear=False, missing=0.0, weight=False):
    """Two continuous layers and two groups (3 and 4 classes) with a known logit.

    ``logit = -1 + 1.5 x0 - 0.5 x1 + [0.8, 0, -0.8][g0] + [0, 0.5, 0, -0.5][g1]``, or with
    ``nonlinear``: ``2 * (x0**2 - 1) + 2 sin(2 x1)`` (no linear part).  ``missing``: share of
    NaN / 255 entries.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    g = np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], axis=1)
    if nonlinear:
        logit = 2 * (x[:, 0] ** 2 - 1) + 2 * np.sin(2 * x[:, 1])
    else:
        logit = -1 + 1.5 * x[:, 0] - 0.5 * x[:, 1]
        logit = logit + np.array([0.8, 0, -0.8])[g[:, 0]] + np.array([0, 0.5, 0, -0.5])[g[:, 1]]
    y = (rng.random(n) < sigmoid(logit)).astype(np.int8)
    continuous = x.astype(np.float32)
    codes = g.astype(np.uint8)
    if missing:
        continuous[rng.random(continuous.shape) < missing] = np.nan
        codes[rng.random(codes.shape) < missing] = 255
    w = rng.uniform(0.5, 3.0, n) if weight else None
    return PixelTable(
        continuous, codes, y, n_classes=(3, 4), weight=w,
        continuous_names=("slope", "dem"), group_names=("rock", "cover"),
    )  # fmt: skip


def json_plain(value) -> bool:
    """True when ``value`` holds only JSON-plain values and numpy arrays (no objects)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(json_plain(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    return value is None or type(value) in (bool, int, float, str)
