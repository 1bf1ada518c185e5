"""Is one model's AUC above another's on the same pixels by more than noise? (DeLong 1988)

Two models scored on the same held-out pixels have correlated AUCs: the standard error of
their *difference* is smaller than either AUC's own (Hanley & McNeil) error, and it is the
figure that says whether a gap between them is noise.  :func:`delong` computes both AUCs,
their difference and its standard error from the placement values of DeLong, DeLong &
Clarke-Pearson (1988), ties counted as one half, in ``O(n log n)``.

It needs every scored pixel in memory (two float arrays), so it refuses more than
:data:`MAX_PIXELS`; on a whole map use the streaming AUC and its error bound
(:func:`xlandslide.evaluate`).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import EvaluationError

#: Most pixels :func:`delong` accepts (the exact-AUC limit of :func:`xlandslide.evaluate`).
MAX_PIXELS = 5_000_000


def _placements(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V10 of the positives, V01 of the negatives): each positive's share of negatives
    scored below it (ties one half), each negative's share of positives scored above it."""
    pos, neg = np.sort(scores[positive]), np.sort(scores[~positive])
    x, y = scores[positive], scores[~positive]
    below = np.searchsorted(neg, x, side="left")
    equal = np.searchsorted(neg, x, side="right") - below
    v10 = (below + 0.5 * equal) / len(neg)
    above = len(pos) - np.searchsorted(pos, y, side="right")
    equal = np.searchsorted(pos, y, side="right") - np.searchsorted(pos, y, side="left")
    v01 = (above + 0.5 * equal) / len(pos)
    return v10, v01


def delong(scores_a, scores_b, labels) -> dict:
    """AUCs of two score arrays on the same labelled pixels, their difference and its SE.

    Parameters
    ----------
    scores_a, scores_b : array-like
        Scores (probabilities) of the two models at the same pixels.
    labels : array-like
        1 (landslide) or 0 (stable) at those pixels; pixels where either score is NaN or the
        label is neither are left out.

    Returns
    -------
    dict
        ``auc_a``, ``auc_b``, ``difference`` (a - b), ``se`` (of the difference), ``z``
        (difference / se; 0 when both are 0), ``p`` (two-sided, normal), ``se_a``, ``se_b``
        (each AUC's own DeLong error), ``n_positive``, ``n_negative``.
    """
    a = np.asarray(scores_a, dtype=np.float64).ravel()
    b = np.asarray(scores_b, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if not (a.shape == b.shape == y.shape):
        raise EvaluationError(
            f"scores and labels must have the same size, got {a.size}, {b.size}, {y.size}"
        )
    keep = np.isfinite(a) & np.isfinite(b) & ((y == 0) | (y == 1))
    if keep.sum() > MAX_PIXELS:
        raise EvaluationError(
            f"{int(keep.sum())} scored pixels is above delong's limit of {MAX_PIXELS}; "
            "compare models on a sample of pixels, or use the streaming AUC's error bound"
        )
    a, b, positive = a[keep], b[keep], y[keep] == 1
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        raise EvaluationError(
            f"delong needs at least 2 landslide and 2 stable pixels, got {m} and {n}"
        )
    va10, va01 = _placements(a, positive)
    vb10, vb01 = _placements(b, positive)
    s10 = np.cov(np.stack([va10, vb10]), ddof=1)
    s01 = np.cov(np.stack([va01, vb01]), ddof=1)
    cov = s10 / m + s01 / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    auc_a, auc_b = float(va10.mean()), float(vb10.mean())
    diff = auc_a - auc_b
    se = math.sqrt(max(var, 0.0))
    z = diff / se if se > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
    return {
        "auc_a": auc_a,
        "auc_b": auc_b,
        "difference": diff,
        "se": se,
        "z": z,
        "p": math.erfc(abs(z) / math.sqrt(2)),
        "se_a": math.sqrt(max(cov[0, 0], 0.0)),
        "se_b": math.sqrt(max(cov[1, 1], 0.0)),
        "n_positive": m,
        "n_negative": n,
    }


__all__ = ["MAX_PIXELS", "delong"]
