"""Chunk-independent stratified sampling of pixels for the pixel table.

A pixel is kept iff a hash of its global index (``y * nx + x``) and the seed falls below its
class's rate: the decision of a pixel depends on nothing else, so any partition of a region
into chunks (dask blocks, tiles, folds) keeps exactly the same pixels.  The rates come from
the class counts of the whole region (one cheap reduction), passed as ``counts`` when the
function is called on a chunk.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._hash import pixel_hash, splitmix64
from ..errors import ConfigError

__all__ = ["StratifiedSample", "sampling_rates", "splitmix64", "stratified_sample"]


def sampling_rates(n_stable: int, n_landslide: int, max_pixels: int) -> np.ndarray:
    """Keep rates ``[stable, landslide]`` for a budget of ``max_pixels`` expected pixels.

    Landslide pixels come first: all of them when they fit in half the budget (or in what
    the stable pixels leave), else half the budget; stable pixels fill the rest.

    Examples
    --------
    >>> sampling_rates(9_000, 100, 1_000)
    array([0.1, 1. ])
    >>> sampling_rates(9_000, 4_000, 1_000)
    array([0.05555556, 0.125     ])
    """
    if isinstance(max_pixels, bool) or int(max_pixels) != max_pixels or max_pixels < 2:
        raise ConfigError(f"max_pixels must be an integer >= 2, got {max_pixels!r}")
    if n_stable < 0 or n_landslide < 0:
        raise ConfigError(f"counts must be >= 0, got {n_stable} and {n_landslide}")
    budget = float(max_pixels)
    keep_pos = min(float(n_landslide), max(budget / 2, budget - n_stable))
    keep_neg = min(float(n_stable), budget - keep_pos)
    return np.array(
        [keep_neg / n_stable if n_stable else 1.0, keep_pos / n_landslide if n_landslide else 1.0]
    )


class StratifiedSample(NamedTuple):
    """Result of :func:`stratified_sample`."""

    #: (n,) bool: the pixels kept
    keep: np.ndarray
    #: (2,) float64: ``1 / rate`` of stable (0) and landslide (1) pixels; a kept pixel's
    #: sampling weight is ``class_weight[label]``
    class_weight: np.ndarray
    #: (2,) float64: the keep rates of stable and landslide pixels
    rate: np.ndarray


def stratified_sample(
    index: np.ndarray,
    label: np.ndarray,
    max_pixels: int,
    seed: int = 0,
    *,
    counts: tuple[int, int] | None = None,
) -> StratifiedSample:
    """Keep about ``max_pixels`` labelled pixels, landslides first, independently of chunks.

    Parameters
    ----------
    index : (n,) int64
        Global pixel indices ``y * nx + x`` (any integers that identify a pixel).
    label : (n,) int
        1 landslide, 0 stable; any other value (-1 unknown) is never kept.
    max_pixels : int
        Expected number of pixels kept (the budget) over the whole region.
    seed : int
        Seed of the hash.
    counts : (n_stable, n_landslide) or None
        Class counts of the WHOLE region; needed when ``index`` is a chunk of it (else the
        rates would depend on the chunk).  ``None``: counted from ``label``.

    Returns
    -------
    StratifiedSample
        ``keep`` mask, ``class_weight = 1 / rate`` (so weighted losses and counts estimate
        the whole region's), and ``rate``.

    Notes
    -----
    Pixel ``i`` is kept iff ``u(i, seed) < rate[label_i]`` with ``u`` the top 53 bits of
    ``splitmix64(i XOR splitmix64(seed))`` over ``2**53``.  The number kept is random
    (binomial around ``rate * count``), not exactly ``max_pixels``.

    Examples
    --------
    >>> import numpy as np
    >>> label = np.zeros(10_000, "i1"); label[:50] = 1
    >>> s = stratified_sample(np.arange(10_000), label, 1_000, seed=1)
    >>> int(s.keep[:50].sum()), s.class_weight.round(3).tolist()
    (50, [10.474, 1.0])
    """
    index = np.asarray(index)
    label = np.asarray(label)
    if index.shape != label.shape or index.ndim != 1:
        raise ConfigError(f"index and label must be 1-D of one shape: {index.shape}, {label.shape}")
    if not np.issubdtype(index.dtype, np.integer):
        raise ConfigError(f"index must hold integers, got dtype {index.dtype}")
    if counts is None:
        counts = (int((label == 0).sum()), int((label == 1).sum()))
    rate = sampling_rates(int(counts[0]), int(counts[1]), max_pixels)
    u = pixel_hash(index, seed)
    keep = ((label == 0) & (u < rate[0])) | ((label == 1) & (u < rate[1]))
    return StratifiedSample(keep, 1.0 / rate, rate)
