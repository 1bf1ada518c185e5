"""Counter-based hashing of pixel indices: the one splitmix64 of the package (numpy).

Every seeded, chunk-independent choice of pixels (random folds, samples of a map, the
stratified sample of a pixel table) is a pure function of the pixel's row-major index and
a seed, so that any chunking chooses the same pixels.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser of every element of ``x`` (viewed as uint64), vectorised.

    Examples
    --------
    >>> hex(int(splitmix64(np.array([0], dtype=np.uint64))[0]))
    '0xe220a8397b1dcdaf'
    """
    z = np.asarray(x).astype(np.uint64) + _GOLDEN  # arrays wrap modulo 2**64 silently
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def pixel_hash(flat: np.ndarray, seed: int) -> np.ndarray:
    """Uniform [0, 1) float64 per row-major pixel index and seed (chunk-independent)."""
    key = splitmix64(np.asarray(flat, dtype=np.uint64) ^ splitmix64(np.array([seed], np.uint64)))
    return (key >> np.uint64(11)).astype(np.float64) * 2.0**-53


__all__ = ["pixel_hash", "splitmix64"]
