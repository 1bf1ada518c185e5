"""The passes behind :func:`xlandslide.zoning_breaks`: one streaming histogram (with a hashed,
chunk-independent sample for natural breaks), equal intervals and Fisher-Jenks."""

from __future__ import annotations

import numpy as np

from ..errors import EvaluationError, MissingOptionalDependency
from ._histogram import Stats, class_histogram, reduce_blocks, unified


def _histogram_pass(prob, mask, bins, sample, seed):
    """One pass: the histogram of the valid pixels and a hashed sample of them."""
    import dask

    from .._hash import pixel_hash

    arrays = [prob] + ([mask] if mask is not None else [])
    data = unified(arrays)
    nx = prob.sizes["x"]
    size = 6 * bins

    def hist_block(p, m=None):
        v = _values(p, m)
        return class_histogram(v, np.zeros(v.size, dtype=bool), bins)

    vec = reduce_blocks(hist_block, data, size, "xlandslide-zoning-hist")
    parts = [vec[:, :, : 2 * bins].sum(axis=(0, 1))]
    parts += [vec[:, :, 2 * bins : 4 * bins].min(axis=(0, 1))]
    parts += [vec[:, :, 4 * bins :].max(axis=(0, 1))]
    tasks = []
    if sample:
        rows = np.r_[0, np.cumsum(data[0].chunks[0])]
        cols = np.r_[0, np.cumsum(data[0].chunks[1])]
        blocks = [d.to_delayed() for d in data]

        def sample_block(p, m, r0, c0):
            p = np.asarray(p)
            sel = ~np.isnan(p) if m is None else ~np.isnan(p) & np.asarray(m, bool)
            r, c = np.nonzero(sel)
            h = pixel_hash((r + r0).astype(np.int64) * nx + (c + c0), seed)
            v = p[r, c].astype(np.float64)
            if h.size > sample:
                keep = np.argpartition(h, sample)[:sample]
                h, v = h[keep], v[keep]
            return np.stack([h, v])

        for i in range(blocks[0].shape[0]):
            for j in range(blocks[0].shape[1]):
                m = blocks[1][i, j] if mask is not None else None
                tasks.append(
                    dask.delayed(sample_block)(blocks[0][i, j], m, int(rows[i]), int(cols[j]))
                )
    computed = dask.compute(*parts, *tasks)
    hist = np.concatenate(computed[:3])
    st = Stats(0.0, 0.0, 0, 0, 0).set_histogram(hist, bins)  # class 0: the valid pixels
    st.n = int(st.neg.sum())
    values = None
    if sample:
        both = np.concatenate([c for c in computed[3:]], axis=1)
        if both.shape[1] > sample:
            keep = np.argpartition(both[0], sample)[:sample]
            both = both[:, keep]
        values = both[1]
    return st, values


def _values(p, m=None) -> np.ndarray:
    p = np.asarray(p)
    sel = ~np.isnan(p)
    if m is not None:
        sel &= np.asarray(m, dtype=bool)
    v = p[sel]
    if v.size and (v.min() < 0 or v.max() > 1):
        raise EvaluationError(
            "the map holds values outside [0, 1]; zone probabilities (not logits)"
        )
    return v


def _equal(lo: float, hi: float, n: int) -> np.ndarray:
    return lo + (hi - lo) * np.arange(1, n) / n


def _jenks(values: np.ndarray, n: int) -> np.ndarray:
    try:
        import jenkspy
    except ImportError as err:
        raise MissingOptionalDependency(
            "natural breaks need jenkspy, which is not installed: "
            "pip install 'xlandslide[zoning]' (or jenkspy)"
        ) from err
    values = np.asarray(values, dtype=np.float64)
    if np.unique(values).size < n:
        raise EvaluationError(
            f"natural breaks into {n} classes need at least {n} distinct values; the map "
            f"(sample) holds {np.unique(values).size}: use fewer classes or quantiles"
        )
    return np.asarray(jenkspy.jenks_breaks(values, n_classes=n), dtype=np.float64)[1:-1]
