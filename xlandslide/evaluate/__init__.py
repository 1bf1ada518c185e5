"""Skill of susceptibility maps: metrics only (streaming), calibration, zoning, importance.

- :mod:`~xlandslide.evaluate.metrics`: NLL, Brier score, ROC curve and AUC, average
  precision (PR AUC) (exact or streaming with a rigorous error bound), :func:`evaluate`
  (all in one pass), the Naive baseline;
- :mod:`~xlandslide.evaluate.calibration`: reliability curve and expected calibration error;
- :mod:`~xlandslide.evaluate.paired`: :func:`~xlandslide.evaluate.paired.delong`, whether two
  models' AUCs on the same pixels differ by more than noise;
- :mod:`~xlandslide.evaluate.zoning`: susceptibility classes, the zoning table, success and
  prediction-rate curves;
- :mod:`~xlandslide.evaluate.importance`: LLR weights, permutation importance, the
  uncertainty map of an ensemble.

What chains training, prediction and these metrics (spatial cross-validation, the paper's
report, the demo) lives in :mod:`xlandslide.workflows`.

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
from .paired import delong

__all__ = [
    "SUSCEPTIBILITY_EDGES",
    "average_precision",
    "brier_score",
    "calibration",
    "delong",
    "evaluate",
    "naive_nll",
    "naive_ratio",
    "nll",
    "roc_auc",
    "roc_curve",
]
