"""Calibration of a susceptibility map: reliability curve and expected calibration error.

A map is *calibrated* when, among the pixels it gives a probability near ``p``, a fraction
``p`` are landslides.  The AUC cannot see this (it only ranks pixels); the NLL mixes it with
ranking.  :func:`calibration` bins the evaluated pixels by predicted probability and
returns, per bin, the number of pixels, their mean predicted probability and the observed
landslide frequency, plus the expected calibration error

    ECE = sum_b (n_b / N) |observed_b - predicted_b|

and the largest gap over the non-empty bins.  Pixels are selected as in
:func:`xlandslide.evaluate` (known label, ``mask`` True, probability not NaN).

Streaming: every block contributes three weighted ``bincount`` vectors (count, sum of
``p``, sum of ``y``) that are summed in one ``dask.compute``; the maps are never loaded
whole, so the result is exact for any map size and any chunking (up to float64 round-off
in the sums).

Bins: ``bins`` uniform bins on [0, 1] (scikit-learn's ``calibration_curve`` with
``strategy="uniform"``), or explicit increasing edges from 0 to 1.  Susceptibilities crowd
near 0 (landslides are ~1 % of pixels), so :data:`SUSCEPTIBILITY_EDGES`, roughly
logarithmic below 0.1, is usually more telling than uniform bins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError, EvaluationError
from ._histogram import chunked as _chunked
from ._histogram import prepare as _prepare

#: Bin edges for rare-event maps: roughly logarithmic below 0.1, then wider.
SUSCEPTIBILITY_EDGES = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def _edges(bins) -> np.ndarray:
    if np.ndim(bins) == 0:
        n = int(bins)
        if n != bins or n < 1:
            raise ConfigError(
                f"bins must be a positive integer or a sequence of edges, got {bins!r}"
            )
        return np.linspace(0.0, 1.0, n + 1)
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2:
        raise ConfigError(f"bin edges must be a 1-D sequence of at least 2 values, got {bins!r}")
    if edges[0] != 0.0 or edges[-1] != 1.0 or np.any(np.diff(edges) <= 0):
        raise ConfigError(
            f"bin edges must increase strictly from 0 to 1, got {edges.tolist()}; "
            "for example xlandslide.evaluate.SUSCEPTIBILITY_EDGES"
        )
    return edges


def _block_sums(prob, label, mask=None, *, edges: np.ndarray) -> np.ndarray:
    """Per block: ``[count | sum of p | sum of y]`` per bin, float64 (3 * n_bins,)."""
    prob = np.asarray(prob)
    label = np.asarray(label)
    sel = (label >= 0) & ~np.isnan(prob)
    if mask is not None:
        sel &= np.asarray(mask, dtype=bool)
    p = prob[sel].astype(np.float64)
    y = label[sel]
    if np.any((p < 0) | (p > 1)) or np.any((y != 0) & (y != 1)):
        raise EvaluationError(
            "evaluated pixels hold a probability outside [0, 1] or a label other than -1, 0 "
            "or 1; pass probabilities (not logits) and labels following the region data model"
        )
    n = edges.size - 1
    # bin b holds edges[b] <= p < edges[b + 1]; the last bin also holds p == 1
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n - 1)
    return np.concatenate(
        [
            np.bincount(b, minlength=n).astype(np.float64),
            np.bincount(b, weights=p, minlength=n),
            np.bincount(b, weights=(y == 1).astype(np.float64), minlength=n),
        ]
    )


def _block_sums_3d(*blocks, edges):
    return _block_sums(*blocks, edges=edges)[None, None, :]


def calibration(prob, label, mask=None, *, bins: int | Sequence[float] = 10) -> dict:
    """Reliability curve and expected calibration error of a probability map.

    Parameters
    ----------
    prob : DataArray (y, x)
        Landslide probabilities in [0, 1] (NaN = no prediction).  Numpy-, store- or
        dask-backed.
    label : DataArray (y, x)
        1 landslide, 0 stable, -1 unknown (ignored).
    mask : DataArray (y, x) of bool, optional
        Pixels to evaluate, e.g. ``patchset.core_mask("test", like=region)``.
    bins : int or sequence of float
        Number of uniform bins on [0, 1], or increasing edges from 0 to 1 (see
        :data:`SUSCEPTIBILITY_EDGES`).

    Returns
    -------
    dict
        ``edges`` (n + 1,), and per bin ``count``, ``mean_predicted`` and
        ``observed_frequency`` (NaN for empty bins); ``ece`` (expected calibration error),
        ``max_error`` (largest gap over non-empty bins) and ``n_pixels``.

    Examples
    --------
    >>> import numpy as np
    >>> c = calibration(np.array([[0.1, 0.1, 0.9, 0.9]]), np.array([[0, 0, 1, 0]]), bins=2)
    >>> c["observed_frequency"].tolist(), round(c["ece"], 3)
    ([0.0, 0.5], 0.25)
    """
    import dask

    edges = _edges(bins)
    prob, label, mask = _prepare(prob, label, mask)
    arrays = [a for a in (prob, label, mask) if a is not None]
    n = edges.size - 1
    if all(a.chunks is None for a in arrays) and prob.size <= 5_000_000:
        sums = _block_sums(*[a.values for a in arrays], edges=edges)
    else:
        import dask.array as da

        data = [_chunked(a).data for a in arrays]
        _, data = da.core.unify_chunks(*[x for d in data for x in (d, "ij")])
        cy, cx = data[0].chunks
        vec = da.map_blocks(
            _block_sums_3d,
            *data,
            edges=edges,
            new_axis=2,
            chunks=((1,) * len(cy), (1,) * len(cx), (3 * n,)),
            dtype=np.float64,
            meta=np.empty((0, 0, 0), np.float64),
            token="xlandslide-calibration",
        )
        (sums,) = dask.compute(vec.sum(axis=(0, 1)))
    count, sum_p, sum_y = sums[:n], sums[n : 2 * n], sums[2 * n :]
    total = float(count.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, sum_p / count, np.nan)
        freq = np.where(count > 0, sum_y / count, np.nan)
    gap = np.abs(freq - mean_p)
    full = count > 0
    return {
        "edges": edges,
        "count": count.astype(np.int64),
        "mean_predicted": mean_p,
        "observed_frequency": freq,
        "ece": float(np.sum(count[full] * gap[full]) / total) if total else math.nan,
        "max_error": float(gap[full].max()) if full.any() else math.nan,
        "n_pixels": int(total),
    }


__all__ = ["SUSCEPTIBILITY_EDGES", "calibration"]
