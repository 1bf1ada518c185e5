"""Skill of susceptibility maps: streaming metrics and calibration.

- :mod:`~xlandslide.evaluate.metrics`: NLL, Brier score, ROC curve and AUC, average
  precision (PR AUC) (exact or streaming with a rigorous error bound), :func:`evaluate`
  (all in one pass), the Naive baseline;
- :mod:`~xlandslide.evaluate.calibration`: reliability curve and expected calibration error.

Every function takes DataArrays backed by numpy, a lazily indexed store or dask, and
computes reductions chunk by chunk: maps larger than memory are scored without loading them.
"""

from __future__ import annotations

from .calibration import SUSCEPTIBILITY_EDGES, calibration
from .metrics import (
    average_precision,
    brier_score,
    evaluate,
    naive_nll,
    naive_ratio,
    nll,
    roc_auc,
    roc_curve,
)

__all__ = [
    "SUSCEPTIBILITY_EDGES",
    "average_precision",
    "brier_score",
    "calibration",
    "evaluate",
    "naive_nll",
    "naive_ratio",
    "nll",
    "roc_auc",
    "roc_curve",
]
