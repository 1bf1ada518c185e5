"""Is one model's AUC above another's on the same pixels by more than noise? (DeLong 1988)

Two models scored on the same held-out pixels have correlated AUCs: the standard error of
their *difference* is smaller than either AUC's own (Hanley & McNeil) error, and it is the
figure that says whether a gap between them is noise.  :func:`delong` computes both AUCs,
their difference and its standard error from the placement values of DeLong, DeLong &
Clarke-Pearson (1988), ties counted as one half, in ``O(n log n)``.

The pixels of a polygon inventory are not independent: a landslide's pixels, and the stable
pixels beside it, are alike, so the pixel-level error is too small (a gap of "11 standard
errors" on one 2.5 km block may be one landslide cluster's doing).  ``clusters=`` gives each
pixel a cluster (e.g. the tile it lies in, :func:`tile_clusters`) and the error becomes
Obuchowski's (1997) clustered DeLong error: the placement values are summed per cluster, and
the clusters, not the pixels, are the independent units.

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


def _clustered_cov(v10, v01, positive, clusters, aucs) -> np.ndarray:
    """Obuchowski's (1997) covariance of the AUCs (rows of ``v10``/``v01``: the models) with
    the pixels grouped in ``clusters``: per cluster, the sums of the positives' and the
    negatives' placements minus their expected values; clusters are the independent units."""
    ids, index = np.unique(clusters, return_inverse=True)
    k = len(ids)
    if k < 2:
        raise EvaluationError("clustered delong needs pixels in at least 2 clusters")
    m_i = np.bincount(index[positive], minlength=k).astype(np.float64)
    n_i = np.bincount(index[~positive], minlength=k).astype(np.float64)
    m, n = m_i.sum(), n_i.sum()
    d10 = np.stack([np.bincount(index[positive], w, minlength=k) for w in v10]) - np.outer(
        aucs, m_i
    )
    d01 = np.stack([np.bincount(index[~positive], w, minlength=k) for w in v01]) - np.outer(
        aucs, n_i
    )
    scale = k / (k - 1)
    s10, s01, s11 = scale * d10 @ d10.T / m, scale * d01 @ d01.T / n, scale * d10 @ d01.T
    return s10 / m + s01 / n + (s11 + s11.T) / (m * n)


def tile_clusters(shape, tile: int) -> np.ndarray:
    """Cluster ids of a (rows, cols) grid cut into ``tile`` x ``tile`` pixel squares (row-major
    numbering): the ``clusters=`` of :func:`delong` for a map's pixels.

    Examples
    --------
    >>> from xlandslide.evaluate.paired import tile_clusters
    >>> tile_clusters((3, 4), 2)
    array([[0, 0, 1, 1],
           [0, 0, 1, 1],
           [2, 2, 3, 3]])
    """
    rows, cols = (int(v) for v in shape)
    return tile_ids(np.arange(rows)[:, None], np.arange(cols)[None, :], cols, tile)


def tile_ids(row, col, cols: int, tile: int):
    """The :func:`tile_clusters` id of pixels at ``row``, ``col`` (numpy or dask arrays,
    broadcast) of a grid ``cols`` wide: what a caller computes lazily for a map too large
    to hold one id per pixel."""
    if int(tile) < 1:
        raise EvaluationError(f"tile must be a positive number of pixels, got {tile!r}")
    per_row = -(-int(cols) // int(tile))
    return (row // int(tile)) * per_row + col // int(tile)


def delong(scores_a, scores_b, labels, clusters=None) -> dict:
    """AUCs of two score arrays on the same labelled pixels, their difference and its SE.

    Parameters
    ----------
    scores_a, scores_b : array-like
        Scores (probabilities) of the two models at the same pixels.
    labels : array-like
        1 (landslide) or 0 (stable) at those pixels; pixels where either score is NaN or the
        label is neither are left out.
    clusters : array-like of int, optional
        A cluster id per pixel (same size): the error is then Obuchowski's clustered DeLong
        error, with the clusters (e.g. the tiles of :func:`tile_clusters`) as the independent
        units instead of the pixels.  The AUCs do not change.

    Returns
    -------
    dict
        ``auc_a``, ``auc_b``, ``difference`` (a - b), ``se`` (of the difference), ``z``
        (difference / se; 0 when both are 0), ``p`` (two-sided, normal), ``se_a``, ``se_b``
        (each AUC's own DeLong error), ``n_positive``, ``n_negative``; with ``clusters``
        also ``n_clusters``.

    Examples
    --------
    >>> import numpy as np
    >>> from xlandslide.evaluate.paired import delong
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(2000) < 0.1
    >>> good, poor = y + rng.normal(0, 1, 2000), y + rng.normal(0, 2, 2000)
    >>> r = delong(good, poor, y)
    >>> round(r["auc_a"], 3), round(r["auc_b"], 3), r["z"] > 2
    (0.738, 0.611, True)
    >>> tiles = np.arange(2000) // 100  # 20 clusters of 100 pixels
    >>> delong(good, poor, y, clusters=tiles)["n_clusters"]
    20
    """
    a = np.asarray(scores_a, dtype=np.float64).ravel()
    b = np.asarray(scores_b, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if not (a.shape == b.shape == y.shape):
        raise EvaluationError(
            f"scores and labels must have the same size, got {a.size}, {b.size}, {y.size}"
        )
    keep = np.isfinite(a) & np.isfinite(b) & ((y == 0) | (y == 1))
    if clusters is not None:
        clusters = np.asarray(clusters).ravel()
        if clusters.shape != y.shape:
            raise EvaluationError(
                f"clusters must give one id per pixel: {clusters.size} ids for {y.size} pixels"
            )
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
    auc_a, auc_b = float(va10.mean()), float(vb10.mean())
    if clusters is None:
        cov = (
            np.cov(np.stack([va10, vb10]), ddof=1) / m + np.cov(np.stack([va01, vb01]), ddof=1) / n
        )
    else:
        v10, v01 = np.stack([va10, vb10]), np.stack([va01, vb01])
        cov = _clustered_cov(v10, v01, positive, clusters[keep], np.array([auc_a, auc_b]))
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
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
        **({} if clusters is None else {"n_clusters": len(np.unique(clusters[keep]))}),
    }


__all__ = ["MAX_PIXELS", "delong", "tile_clusters", "tile_ids"]
