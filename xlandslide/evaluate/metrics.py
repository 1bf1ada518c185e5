"""Metrics of a susceptibility map: NLL, ROC curve and AUC — streaming and dask-friendly.

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import EvaluationError, ShapeError
from ..grid import check_same_grid

#: Largest number of evaluated pixels scored exactly (sorting); above it, histograms.
EXACT_LIMIT = 5_000_000
#: Histogram bins of the streaming AUC / ROC curve.
BINS = 2**16
#: Default probability clip of the NLL: ``p`` is taken in ``[eps, 1 - eps]``.
EPS = 1e-7

_N_SCALARS = 5  # nll_sum, n, n_positive, n_missing, n_invalid
_HALF_BITS = int(np.float32(0.5).view(np.int32))
_KEY_LO = int(np.float32(2.0**-40).view(np.int32))
_KEY_HI = 2 * _HALF_BITS - _KEY_LO
_CHUNK = 2048


# --------------------------------------------------------------------------- kernels


def bin_index(p: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Histogram bin (int64, ``0 .. bins - 1``) of probabilities ``p`` in [0, 1].

    Non-decreasing in ``p`` by construction (see the module notes): the float32 bit
    pattern of ``min(p, 1 - p)``, mirrored above 0.5, cut into ``bins`` equal ranges
    between ``p = 2**-40`` and ``1 - 2**-40``.
    """
    p32 = np.asarray(p, dtype=np.float32)
    low = p32 <= np.float32(0.5)
    q = np.where(low, p32, np.float32(1.0) - p32)  # exact for p >= 0.5 (Sterbenz)
    bits = q.view(np.int32).astype(np.int64)
    key = np.where(low, bits, 2 * _HALF_BITS - bits)
    np.clip(key, _KEY_LO, _KEY_HI, out=key)
    return (key - _KEY_LO) * bins // (_KEY_HI - _KEY_LO + 1)


def _block_stats(prob, label, mask=None, *, bins: int, eps: float) -> np.ndarray:
    """Per-block reduction: ``[nll_sum, n, n_positive, n_missing, n_invalid]`` then, when
    ``bins > 0``, counts, minima and maxima per bin (negatives then positives), float64."""
    prob = np.asarray(prob)
    label = np.asarray(label)
    known = label >= 0
    if mask is not None:
        known &= np.asarray(mask, dtype=bool)
    nan = np.isnan(prob)
    n_missing = np.count_nonzero(known & nan)
    sel = known & ~nan
    p = prob[sel]
    y = label[sel]
    pos = y == 1
    bad = ((y != 0) & ~pos) | (p < 0) | (p > 1)
    n_invalid = np.count_nonzero(bad)
    if n_invalid:
        p, y, pos = p[~bad], y[~bad], pos[~bad]
    work = np.result_type(p.dtype, np.float32)
    pc = np.clip(p.astype(work, copy=False), work.type(eps), work.type(1 - eps))
    nll_sum = -(
        np.sum(np.log(pc[pos]), dtype=np.float64) + np.sum(np.log1p(-pc[~pos]), dtype=np.float64)
    )
    head = np.array([nll_sum, p.size, np.count_nonzero(pos), n_missing, n_invalid], np.float64)
    if bins <= 0:
        return head
    key = bin_index(p, bins) + bins * pos
    counts = np.bincount(key, minlength=2 * bins).astype(np.float64)
    pv = p.astype(np.float64, copy=False)
    lo = np.full(2 * bins, np.inf)
    hi = np.full(2 * bins, -np.inf)
    np.minimum.at(lo, key, pv)
    np.maximum.at(hi, key, pv)
    return np.concatenate([head, counts, lo, hi])


def _block_stats_3d(*blocks, bins, eps):
    return _block_stats(*blocks, bins=bins, eps=eps)[None, None, :]


@dataclass
class _Stats:
    nll_sum: float
    n: int
    n_positive: int
    n_missing: int
    # per bin, ascending: counts and class minima / maxima (inf where empty)
    neg: np.ndarray | None = None
    pos: np.ndarray | None = None
    lo_neg: np.ndarray | None = None
    lo_pos: np.ndarray | None = None
    hi_neg: np.ndarray | None = None
    hi_pos: np.ndarray | None = None
    method: str = "exact"


def _parse(head, hist=None, lo=None, hi=None, bins=0) -> _Stats:
    n_invalid = int(head[4])
    if n_invalid:
        raise EvaluationError(
            f"{n_invalid} evaluated pixels have a probability outside [0, 1] or a label other "
            "than -1 (unknown), 0 (stable) or 1 (landslide); pass probabilities (not logits) "
            "and labels following the region data model"
        )
    st = _Stats(float(head[0]), int(head[1]), int(head[2]), int(head[3]))
    if bins:
        st.neg, st.pos = hist[:bins], hist[bins:]
        st.lo_neg, st.lo_pos = lo[:bins], lo[bins:]
        st.hi_neg, st.hi_pos = hi[:bins], hi[bins:]
        st.method = "histogram"
    return st


def _exact_bins(st: _Stats, p: np.ndarray, y: np.ndarray) -> _Stats:
    """Fill ``st`` with one bin per distinct probability (exact ranks, ties averaged)."""
    p = np.asarray(p)
    y = np.asarray(y)
    ok = ~np.isnan(p)
    p, y = p[ok], y[ok]
    u, inv = np.unique(p, return_inverse=True)
    inv = inv.ravel()
    pos = y == 1
    st.pos = np.bincount(inv[pos], minlength=u.size).astype(np.float64)
    st.neg = np.bincount(inv[~pos], minlength=u.size).astype(np.float64)
    uf = u.astype(np.float64)
    st.lo_pos = np.where(st.pos > 0, uf, np.inf)
    st.hi_pos = np.where(st.pos > 0, uf, -np.inf)
    st.lo_neg = np.where(st.neg > 0, uf, np.inf)
    st.hi_neg = np.where(st.neg > 0, uf, -np.inf)
    st.method = "exact"
    return st


def _auc(st: _Stats) -> tuple[float, float]:
    P, N = st.pos.sum(), st.neg.sum()
    if P == 0 or N == 0:
        raise EvaluationError(
            f"the AUC needs both classes among the evaluated pixels, got {int(P)} landslide "
            f"and {int(N)} stable pixels; evaluate on a larger area or another split"
        )
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


def _curve(st: _Stats, drop_intermediate: bool):
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


# --------------------------------------------------------------------------- driver


def _prepare(prob, label, mask):
    """DataArrays with dims (y, x) on one grid (raw arrays get dims and no coordinates)."""

    def as_da(a, name):
        if isinstance(a, xr.DataArray):
            out = a
        else:
            a = a if hasattr(a, "ndim") else np.asarray(a)
            if a.ndim != 2:
                raise ShapeError(f"{name} must be 2-D (y, x), got shape {a.shape}")
            out = xr.DataArray(a, dims=("y", "x"))
        if set(out.dims) != {"y", "x"}:
            raise ShapeError(f"{name} must have dims ('y', 'x'), got {out.dims}")
        return out.transpose("y", "x")

    prob = as_da(prob, "prob")
    label = as_da(label, "label")
    if prob.dtype.kind != "f":
        raise EvaluationError(
            f"prob must hold floating-point probabilities, got dtype {prob.dtype}; pass the "
            "map of xlandslide.predict (or open_map)"
        )
    check_same_grid(prob, label, "prob and label")
    if mask is not None:
        mask = as_da(mask, "mask")
        check_same_grid(prob, mask, "prob and mask")
        if mask.dtype != bool:
            mask = mask.astype(bool)
    return prob, label, mask


def _chunked(a: xr.DataArray) -> xr.DataArray:
    return a if a.chunks is not None else a.chunk({"y": _CHUNK, "x": _CHUNK})


def _stats(prob, label, mask=None, *, eps=EPS, bins=BINS, exact_limit=EXACT_LIMIT, auc=True):
    """Compute the evaluation reductions (one ``dask.compute``; two when a large map has few
    evaluated pixels and the exact AUC is wanted)."""
    import dask

    prob, label, mask = _prepare(prob, label, mask)
    arrays = [a for a in (prob, label, mask) if a is not None]
    if prob.size <= exact_limit:  # small: load and score exactly
        lazy = [a.data if a.chunks is not None else None for a in arrays]
        computed = dask.compute(*[x for x in lazy if x is not None])
        it = iter(computed)
        data = [next(it) if x is not None else a.values for a, x in zip(arrays, lazy)]
        st = _parse(_block_stats(*data, bins=0, eps=eps))
        if auc:
            p, lab = data[0], data[1]
            sel = lab >= 0
            if mask is not None:
                sel &= np.asarray(data[2], dtype=bool)
            _exact_bins(st, p[sel], lab[sel])
        return st

    import dask.array as da

    data = [_chunked(a).data for a in arrays]
    _, data = da.core.unify_chunks(*[x for d in data for x in (d, "ij")])
    nbins = bins if auc else 0
    K = _N_SCALARS + 6 * nbins
    cy, cx = data[0].chunks
    vec = da.map_blocks(
        _block_stats_3d,
        *data,
        bins=nbins,
        eps=eps,
        new_axis=2,
        chunks=((1,) * len(cy), (1,) * len(cx), (K,)),
        dtype=np.float64,
        meta=np.empty((0, 0, 0), np.float64),
        token="xlandslide-eval-stats",
    )
    a = _N_SCALARS + 2 * nbins
    parts = [vec[:, :, :a].sum(axis=(0, 1))]
    if nbins:
        parts += [vec[:, :, a : a + 2 * nbins].min(axis=(0, 1))]
        parts += [vec[:, :, a + 2 * nbins :].max(axis=(0, 1))]
    computed = dask.compute(*parts)
    head = computed[0]
    if not nbins:
        return _parse(head)
    st = _parse(head[:_N_SCALARS], head[_N_SCALARS:], computed[1], computed[2], nbins)
    if st.n <= exact_limit:  # few evaluated pixels on a large map: gather them, exact AUC
        p, lab = data[0], data[1]
        sel = lab >= 0
        if mask is not None:
            sel &= data[2]
        sel &= ~da.isnan(p)
        pv, yv = dask.compute(p[sel], lab[sel])
        _exact_bins(st, pv, yv)
    return st


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
    st = _stats(prob, label, mask, eps=eps, auc=False)
    return st.nll_sum / st.n if st.n else math.nan


def naive_ratio(label, mask=None) -> float:
    """Fraction of landslide pixels among the known (and masked) ones: the Naive model.

    Computes two counts (lazily, chunk by chunk for a large map);
    :func:`xlandslide.region.positive_ratio`.
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
    """
    return _auc(_stats(prob, label, mask, exact_limit=exact_limit, bins=bins))


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
    """
    st = _stats(prob, label, mask, exact_limit=exact_limit, bins=bins)
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
        ``nll``, ``auc``, ``auc_error_bound``, ``auc_method`` (``"exact"`` or
        ``"histogram"``), ``n_pixels`` (evaluated), ``n_positive``, ``positive_ratio``,
        ``n_missing`` (known pixels with a NaN probability, left out) and, when
        ``train_ratio`` is given, ``naive_nll``.  ``auc`` is NaN when one class is absent.

    Notes
    -----
    A single ``dask.compute`` of reductions (sums and histograms); none of the maps is
    loaded unless it has at most ``exact_limit`` pixels.  A second compute gathers the
    evaluated pixels when a large map holds at most ``exact_limit`` of them, for the exact
    AUC.
    """
    st = _stats(prob, label, mask, eps=eps, exact_limit=exact_limit, bins=bins)
    out = {
        "nll": st.nll_sum / st.n if st.n else math.nan,
        "n_pixels": st.n,
        "n_positive": st.n_positive,
        "positive_ratio": st.n_positive / st.n if st.n else math.nan,
        "n_missing": st.n_missing,
    }
    if st.n_positive and st.n_positive < st.n:
        out["auc"], out["auc_error_bound"] = _auc(st)
    else:
        out["auc"], out["auc_error_bound"] = math.nan, math.nan
    out["auc_method"] = st.method
    if train_ratio is not None:
        out["naive_nll"] = _naive_nll(out["positive_ratio"], train_ratio, eps)
    if roc:
        if st.n_positive and st.n_positive < st.n:
            out["fpr"], out["tpr"], out["thresholds"] = _curve(st, True)
        else:
            out["fpr"] = out["tpr"] = out["thresholds"] = np.array([])
    return out


__all__ = ["bin_index", "evaluate", "naive_nll", "naive_ratio", "nll", "roc_auc", "roc_curve"]
