"""The streaming machinery behind the metrics: per-block reductions and exact ranks.

A pixel is *evaluated* when its label is known (>= 0), the mask is True and the probability
is not NaN.  Every block of the maps contributes a vector of scalars (NLL and Brier sums,
counts) and, for the rank metrics (ROC AUC, average precision, rate curves), the
histogram of the probabilities of each class: per bin the count, the smallest and the
largest value.  The vectors are summed (minima and maxima reduced) in one
``dask.compute``.  Maps of at most ``exact_limit`` pixels are loaded instead and scored
exactly (one bin per distinct probability: exact ranks, ties grouped as scikit-learn does).

Bins are uniform in a log-odds-like scale (:func:`bin_index`, see
:mod:`xlandslide.evaluate.metrics`); only pairs of pixels in the same bin have an unknown
order, which is what the error bounds of the metrics count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .._dispatch import reduce_blocks
from ..errors import EvaluationError, ShapeError
from ..grid import check_same_grid

#: Largest number of evaluated pixels scored exactly (sorting); above it, histograms.
EXACT_LIMIT = 5_000_000
#: Histogram bins of the streaming AUC / ROC curve / average precision.
BINS = 2**16
#: Default probability clip of the NLL: ``p`` is taken in ``[eps, 1 - eps]``.
EPS = 1e-7

N_SCALARS = 6  # nll_sum, brier_sum, n, n_positive, n_missing, n_invalid
_HALF_BITS = int(np.float32(0.5).view(np.int32))
_KEY_LO = int(np.float32(2.0**-40).view(np.int32))
_KEY_HI = 2 * _HALF_BITS - _KEY_LO
CHUNK = 2048


# --------------------------------------------------------------------------- kernels


def bin_index(p: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Histogram bin (int64, ``0 .. bins - 1``) of probabilities ``p`` in [0, 1].

    Non-decreasing in ``p`` by construction (see the module notes of
    :mod:`xlandslide.evaluate.metrics`): the float32 bit pattern of ``min(p, 1 - p)``,
    mirrored above 0.5, cut into ``bins`` equal ranges between ``p = 2**-40`` and
    ``1 - 2**-40``.
    """
    p32 = np.asarray(p, dtype=np.float32)
    low = p32 <= np.float32(0.5)
    q = np.where(low, p32, np.float32(1.0) - p32)  # exact for p >= 0.5 (Sterbenz)
    bits = q.view(np.int32).astype(np.int64)
    key = np.where(low, bits, 2 * _HALF_BITS - bits)
    np.clip(key, _KEY_LO, _KEY_HI, out=key)
    return (key - _KEY_LO) * bins // (_KEY_HI - _KEY_LO + 1)


def class_histogram(p: np.ndarray, cls: np.ndarray, bins: int) -> np.ndarray:
    """``[counts | minima | maxima]`` per bin of class 0 then class 1 (6 * bins, float64).

    ``cls`` is 0 or 1 per value of ``p``; empty bins hold ``inf`` / ``-inf``.
    """
    key = bin_index(p, bins) + bins * cls.astype(np.int64)
    counts = np.bincount(key, minlength=2 * bins).astype(np.float64)
    pv = p.astype(np.float64, copy=False)
    lo = np.full(2 * bins, np.inf)
    hi = np.full(2 * bins, -np.inf)
    np.minimum.at(lo, key, pv)
    np.maximum.at(hi, key, pv)
    return np.concatenate([counts, lo, hi])


def _block_stats(prob, label, mask=None, *, bins: int, eps: float) -> np.ndarray:
    """Per-block reduction: ``[nll_sum, brier_sum, n, n_positive, n_missing, n_invalid]``
    then, when ``bins > 0``, :func:`class_histogram` of the evaluated pixels."""
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
    brier_sum = np.sum(np.square(p.astype(np.float64) - pos), dtype=np.float64)
    head = np.array(
        [nll_sum, brier_sum, p.size, np.count_nonzero(pos), n_missing, n_invalid], np.float64
    )
    if bins <= 0:
        return head
    return np.concatenate([head, class_histogram(p, pos, bins)])


@dataclass
class Stats:
    """Reductions of a map: scalars and, for rank metrics, per-bin class histograms."""

    nll_sum: float
    brier_sum: float
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

    def set_histogram(self, hist: np.ndarray, bins: int) -> Stats:
        """Fill the histogram fields from a :func:`class_histogram` vector."""
        c, lo, hi = hist[: 2 * bins], hist[2 * bins : 4 * bins], hist[4 * bins :]
        self.neg, self.pos = c[:bins], c[bins:]
        self.lo_neg, self.lo_pos = lo[:bins], lo[bins:]
        self.hi_neg, self.hi_pos = hi[:bins], hi[bins:]
        self.method = "histogram"
        return self


def _parse(head) -> Stats:
    n_invalid = int(head[5])
    if n_invalid:
        raise EvaluationError(
            f"{n_invalid} evaluated pixels have a probability outside [0, 1] or a label other "
            "than -1 (unknown), 0 (stable) or 1 (landslide); pass probabilities (not logits) "
            "and labels following the region data model"
        )
    return Stats(float(head[0]), float(head[1]), int(head[2]), int(head[3]), int(head[4]))


def exact_bins(st: Stats, p: np.ndarray, y: np.ndarray) -> Stats:
    """Fill ``st`` with one bin per distinct probability (exact ranks, ties grouped)."""
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


# --------------------------------------------------------------------------- driver


def prepare(prob, label, mask):
    """DataArrays with dims (y, x) on one grid (raw arrays get dims and no coordinates)."""
    prob = as_yx(prob, "prob")
    label = as_yx(label, "label")
    if prob.dtype.kind != "f":
        raise EvaluationError(
            f"prob must hold floating-point probabilities, got dtype {prob.dtype}; pass the "
            "map of xlandslide.predict (or open_map)"
        )
    check_same_grid(prob, label, "prob and label")
    if mask is not None:
        mask = as_yx(mask, "mask")
        check_same_grid(prob, mask, "prob and mask")
        if mask.dtype != bool:
            mask = mask.astype(bool)
    return prob, label, mask


def as_yx(a, name: str) -> xr.DataArray:
    """``a`` as a (y, x) DataArray (a raw 2-D array gets the dims); ShapeError otherwise."""
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


def chunked(a: xr.DataArray) -> xr.DataArray:
    """``a`` dask-backed (chunks of :data:`CHUNK` pixels when it is not)."""
    return a if a.chunks is not None else a.chunk({"y": CHUNK, "x": CHUNK})


def unified(arrays) -> list:
    """The dask arrays of ``arrays`` (DataArrays) on common chunks."""
    import dask.array as da

    data = [chunked(a).data for a in arrays]
    _, data = da.core.unify_chunks(*[x for d in data for x in (d, "ij")])
    return data


def stats(prob, label, mask=None, *, eps=EPS, bins=BINS, exact_limit=EXACT_LIMIT, ranks=True):
    """Compute the evaluation reductions (one ``dask.compute``; two when a large map has few
    evaluated pixels and exact ranks are wanted)."""
    import dask

    prob, label, mask = prepare(prob, label, mask)
    arrays = [a for a in (prob, label, mask) if a is not None]
    if prob.size <= exact_limit:  # small: load and score exactly
        lazy = [a.data if a.chunks is not None else None for a in arrays]
        computed = dask.compute(*[x for x in lazy if x is not None])
        it = iter(computed)
        data = [next(it) if x is not None else a.values for a, x in zip(arrays, lazy)]
        st = _parse(_block_stats(*data, bins=0, eps=eps))
        if ranks:
            p, lab = data[0], data[1]
            sel = lab >= 0
            if mask is not None:
                sel &= np.asarray(data[2], dtype=bool)
            exact_bins(st, p[sel], lab[sel])
        return st

    import dask.array as da

    data = unified(arrays)
    nbins = bins if ranks else 0
    vec = reduce_blocks(
        _block_stats, data, N_SCALARS + 6 * nbins, "xlandslide-eval-stats", bins=nbins, eps=eps
    )
    a = N_SCALARS + 2 * nbins
    parts = [vec[:, :, :a].sum(axis=(0, 1))]
    if nbins:
        parts += [vec[:, :, a : a + 2 * nbins].min(axis=(0, 1))]
        parts += [vec[:, :, a + 2 * nbins :].max(axis=(0, 1))]
    computed = dask.compute(*parts)
    head = computed[0]
    st = _parse(head[:N_SCALARS])
    if not nbins:
        return st
    st.set_histogram(np.concatenate([head[N_SCALARS:], computed[1], computed[2]]), nbins)
    if st.n <= exact_limit:  # few evaluated pixels on a large map: gather them, exact ranks
        p, lab = data[0], data[1]
        sel = lab >= 0
        if mask is not None:
            sel &= data[2]
        sel &= ~da.isnan(p)
        pv, yv = dask.compute(p[sel], lab[sel])
        exact_bins(st, pv, yv)
    return st


__all__ = [
    "BINS",
    "CHUNK",
    "EPS",
    "EXACT_LIMIT",
    "Stats",
    "as_yx",
    "bin_index",
    "chunked",
    "class_histogram",
    "exact_bins",
    "prepare",
    "reduce_blocks",
    "stats",
    "unified",
]
