"""Metrics of a susceptibility map: NLL, Brier score, ROC and PR AUC — streaming, dask-friendly.

Every function takes a probability map ``prob`` and the ground truth ``label`` (1 landslide,
0 stable, -1 unknown) on the same grid — DataArrays backed by numpy, a lazily indexed store
or dask — and an optional boolean ``mask`` (for example
:meth:`xlandslide.PatchSet.core_mask` of the test split).  A pixel is *evaluated* when its
label is known (>= 0), the mask is True and the probability is not NaN; a NaN probability on
a known pixel is left out and counted as ``n_missing``.

Functions return Python floats (or numpy curves): they compute reductions only — sums,
counts and per-bin histograms — in a single ``dask.compute``, never the maps themselves,
except when the maps are small (at most ``exact_limit`` pixels), where loading them is
cheaper than a graph.  A region larger than memory is therefore evaluated chunk by chunk.

AUC
---
Exact (ties count one half, which is what ``sklearn.metrics.roc_auc_score`` does) when the
number of evaluated pixels is at most ``exact_limit``.  Above it, a streaming histogram: the
probabilities of positives and negatives are counted per bin in every block and the counts
summed (with the per-bin minimum and maximum of each class).  With ``pos_b`` / ``neg_b`` the
counts of bin ``b`` and ``P``, ``N`` the totals,

    AUC = sum_b pos_b * (neg_<b + neg_b / 2) / (P * N)

Only pairs in the same bin have an unknown order, so the error is at most
``sum_b pos_b * neg_b / (2 P N)`` — the reported ``auc_error_bound``.  Bins whose values are
all equal (true ties) or whose classes do not overlap (the maximum negative below the minimum
positive, or the reverse) are scored exactly and leave the bound.

Bins are uniform in a log-odds-like scale, because susceptibilities crowd near 0 (landslides
are ~1 % of pixels): the key of ``p`` is the float32 bit pattern of ``min(p, 1 - p)``,
mirrored above 0.5 — 2**23 codes per factor of two, i.e. piecewise-linear in ``log2`` of the
distance to 0 or 1.  It is exactly monotone (integer arithmetic on IEEE-754 bits; ``1 - p``
is exact in float32 for ``p >= 0.5``), so the bound is rigorous.  The keys between
``p = 2**-40`` and ``1 - 2**-40`` are cut into ``bins`` equal ranges (with ``2**16`` bins,
about 840 per factor of two: a relative resolution of 0.08 %); probabilities beyond them go
to the end bins.

Average precision (PR AUC)
--------------------------
``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct thresholds (scikit-learn's
``average_precision_score``: ties form one threshold).  Exact below ``exact_limit``.  From
the histogram, with ``T``, ``F`` the positives and negatives of the bins above and ``p``,
``n`` those of bin ``b``, the precision at each of the bin's positives lies between
``(T + t) / (T + F + t + n)`` (its ``t``-th positive after all the bin's negatives) and
``(T + p) / (T + F + p)`` (every positive first, all tied), whatever the order and ties
inside the bin.  The bin contributes the middle of the two sums (over ``t = 1 .. p``,
divided by ``P``) and half their difference to ``pr_auc_error_bound`` — a rigorous bound
(up to float64 round-off).  Bins holding a single value, or no positive, are exact;
bins whose classes do not overlap get the tighter bounds of their order.

Brier score
-----------
``mean((p - y)^2)`` over the evaluated pixels: a sum, exact in one pass for any map size.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ..errors import EvaluationError
from ..grid import check_same_grid
from ._histogram import (
    BINS,
    EPS,
    EXACT_LIMIT,
    Stats,
    bin_index,
    stats,
)

# --------------------------------------------------------------------------- rank metrics


def _need_both(st: Stats, what: str) -> tuple[float, float]:
    P, N = st.pos.sum(), st.neg.sum()
    if P == 0 or N == 0:
        raise EvaluationError(
            f"{what} needs both classes among the evaluated pixels, got {int(P)} landslide "
            f"and {int(N)} stable pixels; evaluate on a larger area or another split"
        )
    return P, N


def _auc(st: Stats) -> tuple[float, float]:
    P, N = _need_both(st, "the AUC")
    pos, neg = st.pos, st.neg
    below = np.cumsum(neg) - neg
    both = (pos > 0) & (neg > 0)
    above = both & (st.hi_neg < st.lo_pos)  # every positive above every negative
    under = both & (st.hi_pos < st.lo_neg)  # every positive below every negative
    tied = both & (np.minimum(st.lo_neg, st.lo_pos) == np.maximum(st.hi_neg, st.hi_pos))
    unsure = both & ~above & ~under & ~tied
    pairs = pos * neg
    within = np.where(above, pairs, np.where(under, 0.0, 0.5 * pairs))
    auc = (np.sum(pos * below) + np.sum(within)) / (P * N)
    bound = np.sum(0.5 * pairs[unsure]) / (P * N)
    return float(auc), float(bound)


def _precision_sum(T, D, p):
    """``sum_{t=1..p} (T + t) / (D + t)`` elementwise (``D >= T``), via the digamma function."""
    from scipy.special import digamma

    T, D, p = (np.asarray(v, dtype=np.float64) for v in (T, D, p))
    gap = D - T
    with np.errstate(invalid="ignore"):
        harmonic = digamma(D + p + 1.0) - digamma(D + 1.0)
    return np.where(gap > 0, p - gap * harmonic, p)


def _average_precision(st: Stats) -> tuple[float, float]:
    """Average precision and a rigorous bound on its error (see the module notes)."""
    P, _ = _need_both(st, "the average precision")
    # descending bins
    pos, neg = st.pos[::-1], st.neg[::-1]
    lo = np.minimum(st.lo_neg, st.lo_pos)[::-1]
    hi = np.maximum(st.hi_neg, st.hi_pos)[::-1]
    T = np.cumsum(pos) - pos
    F = np.cumsum(neg) - neg
    has = pos > 0
    p, n = pos[has], neg[has]
    T, F, lo, hi = T[has], F[has], lo[has], hi[has]
    lo_neg, hi_neg = st.lo_neg[::-1][has], st.hi_neg[::-1][has]
    lo_pos, hi_pos = st.lo_pos[::-1][has], st.hi_pos[::-1][has]
    tied = lo == hi
    above = (n == 0) | (hi_neg < lo_pos)  # no negative of the bin before any positive
    under = (n > 0) & (hi_pos < lo_neg)  # every negative of the bin before every positive
    exact = p * (T + p) / (T + F + p + n)  # one threshold for the whole bin (a true tie)
    lower = _precision_sum(T, T + F + np.where(above, 0.0, n), p)
    upper = p * (T + p) / (T + F + p + np.where(under, n, 0.0))
    sure = tied | ((F == 0) & above)  # a tie, or precision 1 throughout
    mid = np.where(sure, exact, 0.5 * (lower + upper))
    half = np.where(sure, 0.0, 0.5 * np.maximum(upper - lower, 0.0))
    ap = float(np.sum(mid) / P)
    bound = float(np.sum(half) / P)
    return min(max(ap, 0.0), 1.0), bound


def _curve(st: Stats, drop_intermediate: bool):
    P, N = st.pos.sum(), st.neg.sum()
    if P == 0 or N == 0:
        raise EvaluationError(
            f"the ROC curve needs both classes among the evaluated pixels, got {int(P)} "
            f"landslide and {int(N)} stable pixels"
        )
    keep = (st.pos + st.neg) > 0
    thr = np.minimum(st.lo_neg, st.lo_pos)[keep][::-1]
    tps = np.cumsum(st.pos[keep][::-1])
    fps = np.cumsum(st.neg[keep][::-1])
    if drop_intermediate and fps.size > 2:  # as sklearn.metrics.roc_curve
        idx = np.where(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
        fps, tps, thr = fps[idx], tps[idx], thr[idx]
    fpr = np.r_[0.0, fps] / N
    tpr = np.r_[0.0, tps] / P
    return fpr, tpr, np.r_[np.inf, thr]


# --------------------------------------------------------------------------- public API


def nll(prob, label, mask=None, *, eps: float = EPS) -> float:
    """Mean negative log-likelihood (binary cross-entropy) per evaluated pixel.

    ``-mean(y log p + (1 - y) log(1 - p))`` over pixels with a known label, ``mask`` True
    and a non-NaN probability, with ``p`` clipped to ``[eps, 1 - eps]``.

    Examples
    --------
    >>> import numpy as np
    >>> round(nll(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.164252
    """
    st = stats(prob, label, mask, eps=eps, ranks=False)
    return st.nll_sum / st.n if st.n else math.nan


def brier_score(prob, label, mask=None) -> float:
    """Mean squared difference between probability and label over the evaluated pixels.

    ``mean((p - y)^2)`` (``sklearn.metrics.brier_score_loss``), pixels selected as by
    :func:`nll`; one streaming pass, exact for any map size.

    Examples
    --------
    >>> import numpy as np
    >>> round(brier_score(np.array([[0.9, 0.2]]), np.array([[1, 0]])), 6)
    0.025
    """
    st = stats(prob, label, mask, ranks=False)
    return st.brier_sum / st.n if st.n else math.nan


def naive_ratio(label, mask=None) -> float:
    """Fraction of landslide pixels among the known (and masked) ones: the Naive model.

    Computes two counts (lazily, chunk by chunk for a large map);
    :func:`xlandslide.region.positive_ratio`.

    Examples
    --------
    >>> import numpy as np
    >>> naive_ratio(np.array([[1, 0, 0, -1]]))  # -1: unknown, not counted
    0.3333333333333333
    """
    from ..region import positive_ratio

    if mask is not None and isinstance(label, xr.DataArray) and isinstance(mask, xr.DataArray):
        check_same_grid(label, mask, "label and mask")
    return positive_ratio(label, mask)


def naive_nll(ratio: float, label, mask=None, *, eps: float = EPS) -> float:
    """NLL of the constant prediction ``ratio``, in closed form.

    ``-(p log r + (1 - p) log(1 - r))`` with ``r = clip(ratio, eps, 1 - eps)`` and ``p``
    the positive fraction of the evaluated pixels (:func:`naive_ratio`).  Equal to
    ``nll(full_like(label, ratio), label, mask)``; with ``ratio = p`` it is the entropy of
    the labels, the NLL of the paper's Naive model.

    Examples
    --------
    >>> import numpy as np
    >>> label = np.array([[1, 0, 0, 0]])
    >>> round(naive_nll(0.25, label), 6)  # the entropy of the labels
    0.562335
    >>> round(naive_nll(0.25, label), 6) == round(nll(np.full((1, 4), 0.25), label), 6)
    True
    """
    p = naive_ratio(label, mask)
    return _naive_nll(p, ratio, eps)


def _naive_nll(p: float, ratio: float, eps: float) -> float:
    r = min(max(float(ratio), eps), 1 - eps)
    return float(-(p * math.log(r) + (1 - p) * math.log1p(-r)))


def roc_auc(
    prob, label, mask=None, *, exact_limit: int = EXACT_LIMIT, bins: int = BINS
) -> tuple[float, float]:
    """Area under the ROC curve and a rigorous bound on its error: ``(auc, error_bound)``.

    Exact (bound 0; equal to ``sklearn.metrics.roc_auc_score``) when at most
    ``exact_limit`` pixels are evaluated; otherwise the streaming histogram of the module
    notes, whose bound is ``sum_b pos_b neg_b / (2 P N)`` over bins with distinct values.
    Raises :class:`~xlandslide.errors.EvaluationError` (a ValueError) when the evaluated
    pixels hold only one class.

    Examples
    --------
    >>> import numpy as np
    >>> roc_auc(np.array([[0.9, 0.6, 0.4, 0.2]]), np.array([[1, 0, 1, 0]]))
    (0.75, 0.0)
    """
    return _auc(stats(prob, label, mask, exact_limit=exact_limit, bins=bins))


def average_precision(
    prob, label, mask=None, *, exact_limit: int = EXACT_LIMIT, bins: int = BINS
) -> tuple[float, float]:
    """Area under the precision-recall curve (average precision) and its error bound.

    ``(ap, error_bound)``: exact (bound 0; equal to
    ``sklearn.metrics.average_precision_score``) when at most ``exact_limit`` pixels are
    evaluated, otherwise from the streaming histogram with the rigorous bound of the module
    notes.  The AP of a random map is the positive ratio (not 0.5, as for the ROC AUC).
    Raises :class:`~xlandslide.errors.EvaluationError` when one class is absent.

    Examples
    --------
    >>> import numpy as np
    >>> ap, bound = average_precision(np.array([[0.9, 0.6, 0.4, 0.2]]), np.array([[1, 0, 1, 0]]))
    >>> round(ap, 6), bound  # (1/1 + 2/3) / 2, as sklearn.metrics.average_precision_score
    (0.833333, 0.0)
    """
    return _average_precision(stats(prob, label, mask, exact_limit=exact_limit, bins=bins))


def roc_curve(
    prob,
    label,
    mask=None,
    *,
    exact_limit: int = EXACT_LIMIT,
    bins: int = BINS,
    drop_intermediate: bool = True,
):
    """ROC curve ``(fpr, tpr, thresholds)``, thresholds decreasing, the first ``inf``.

    Same conventions as ``sklearn.metrics.roc_curve`` (a pixel is predicted a landslide
    when ``prob >= threshold``; ``drop_intermediate`` drops collinear points).  Exact on at
    most ``exact_limit`` evaluated pixels; above, one point per non-empty histogram bin (the
    threshold is the bin's smallest probability, so every point lies exactly on the curve).

    Examples
    --------
    >>> import numpy as np
    >>> fpr, tpr, thr = roc_curve(np.array([[0.9, 0.6, 0.4, 0.2]]), np.array([[1, 0, 1, 0]]))
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    st = stats(prob, label, mask, exact_limit=exact_limit, bins=bins)
    return _curve(st, drop_intermediate)


def evaluate(
    prob,
    label,
    mask=None,
    *,
    train_ratio: float | None = None,
    eps: float = EPS,
    exact_limit: int = EXACT_LIMIT,
    bins: int = BINS,
    roc: bool = False,
) -> dict:
    """All metrics of a probability map in one pass.

    Parameters
    ----------
    prob : DataArray (y, x)
        Landslide probabilities in [0, 1] (NaN = no prediction).
    label : DataArray (y, x)
        1 landslide, 0 stable, -1 unknown (ignored).
    mask : DataArray (y, x) of bool, optional
        Pixels to evaluate, e.g. ``patchset.core_mask("test", like=region)``.
    train_ratio : float, optional
        Positive ratio of the training set: adds the Naive model's NLL on these pixels.
    eps, exact_limit, bins
        See :func:`nll` and :func:`roc_auc`.
    roc : bool
        Add the ROC curve (``"fpr"``, ``"tpr"``, ``"thresholds"``; collinear points dropped).

    Returns
    -------
    dict
        ``nll``, ``brier``, ``auc``, ``auc_error_bound``, ``pr_auc`` (average precision),
        ``pr_auc_error_bound``, ``auc_method`` (``"exact"`` or ``"histogram"``, for both
        AUCs), ``n_pixels`` (evaluated), ``n_positive``, ``positive_ratio``,
        ``n_missing`` (known pixels with a NaN probability, left out) and, when
        ``train_ratio`` is given, ``naive_nll``.  ``auc`` and ``pr_auc`` are NaN when one
        class is absent.

    Notes
    -----
    A single ``dask.compute`` of reductions (sums and histograms); none of the maps is
    loaded unless it has at most ``exact_limit`` pixels.  A second compute gathers the
    evaluated pixels when a large map holds at most ``exact_limit`` of them, for the exact
    AUC.

    Examples
    --------
    >>> import numpy as np
    >>> m = evaluate(np.array([[0.9, 0.6, 0.4, 0.2]]), np.array([[1, 0, 1, -1]]))
    >>> m["n_pixels"], m["n_positive"], m["auc"], round(m["brier"], 4)
    (3, 2, 0.5, 0.2433)
    """
    st = stats(prob, label, mask, eps=eps, exact_limit=exact_limit, bins=bins)
    out = {
        "nll": st.nll_sum / st.n if st.n else math.nan,
        "brier": st.brier_sum / st.n if st.n else math.nan,
        "n_pixels": st.n,
        "n_positive": st.n_positive,
        "positive_ratio": st.n_positive / st.n if st.n else math.nan,
        "n_missing": st.n_missing,
    }
    if st.n_positive and st.n_positive < st.n:
        out["auc"], out["auc_error_bound"] = _auc(st)
        out["pr_auc"], out["pr_auc_error_bound"] = _average_precision(st)
    else:
        out["auc"], out["auc_error_bound"] = math.nan, math.nan
        out["pr_auc"], out["pr_auc_error_bound"] = math.nan, math.nan
    out["auc_method"] = st.method
    if train_ratio is not None:
        out["naive_nll"] = _naive_nll(out["positive_ratio"], train_ratio, eps)
    if roc:
        if st.n_positive and st.n_positive < st.n:
            out["fpr"], out["tpr"], out["thresholds"] = _curve(st, True)
        else:
            out["fpr"] = out["tpr"] = out["thresholds"] = np.array([])
    return out


__all__ = [
    "BINS",
    "EPS",
    "EXACT_LIMIT",
    "average_precision",
    "bin_index",
    "brier_score",
    "evaluate",
    "naive_nll",
    "naive_ratio",
    "nll",
    "roc_auc",
    "roc_curve",
]
