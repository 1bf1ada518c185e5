"""Counter-based hashing and gradient noise of the synthetic world (numba kernels).

A splitmix64-style integer hash of ``(seed, lattice y, lattice x, salt)`` gives every lattice
point its random numbers, so any pixel can be evaluated without evaluating its neighbours
first: the noise, and so the synthetic region, does not depend on the chunking.  The
splitmix64 constants are those of :mod:`xlandslide._hash` (its numpy twin); the kernels are
compiled with the package policy (:mod:`xlandslide.kernels._jit`).
"""

from __future__ import annotations

import math

import numpy as np

from .._hash import _GOLDEN, _MIX1, _MIX2
from ..kernels._jit import jit

_njit = jit

_OFFSET = 1 << 40  # lattice coordinates may be negative (halo); shift them before the cast


@_njit
def _mix64(h):
    h = (h ^ (h >> np.uint64(30))) * _MIX1
    h = (h ^ (h >> np.uint64(27))) * _MIX2
    return h ^ (h >> np.uint64(31))


@_njit
def seed_hash(seed, salt):
    """Hash of a (seed, salt) pair: the key of one independent random field."""
    return _mix64(np.uint64(seed) * _GOLDEN + np.uint64(salt))


@_njit
def hash2(key, a, b):
    """64-bit hash of the lattice point (a, b) (int64 above ``-2**40``) in the field ``key``."""
    h = _mix64(key ^ (np.uint64(a + _OFFSET) * np.uint64(0xC2B2AE3D27D4EB4F)))
    return _mix64(h ^ (np.uint64(b + _OFFSET) * np.uint64(0x165667B19E3779F9)))


@_njit
def unit(h):
    """Uniform float in [0, 1) from the top 53 bits of a 64-bit hash."""
    return np.float64(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


# 16 unit gradient directions of the gradient noise
_GX = np.array([math.cos(2.0 * math.pi * (k + 0.5) / 16.0) for k in range(16)])
_GY = np.array([math.sin(2.0 * math.pi * (k + 0.5) / 16.0) for k in range(16)])


@_njit
def _fade(t):
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


@_njit
def _corner(key, ix, iy, fx, fy):
    k = np.int64(hash2(key, iy, ix) & np.uint64(15))
    return _GX[k] * fx + _GY[k] * fy


@_njit
def perlin(x, y, key):
    """2-D gradient noise at (x, y) in lattice units, about [-1, 1]; 0 on lattice points."""
    x0 = math.floor(x)
    y0 = math.floor(y)
    fx = x - x0
    fy = y - y0
    ix = np.int64(x0)
    iy = np.int64(y0)
    n00 = _corner(key, ix, iy, fx, fy)
    n10 = _corner(key, ix + 1, iy, fx - 1.0, fy)
    n01 = _corner(key, ix, iy + 1, fx, fy - 1.0)
    n11 = _corner(key, ix + 1, iy + 1, fx - 1.0, fy - 1.0)
    u = _fade(fx)
    v = _fade(fy)
    nx0 = n00 + u * (n10 - n00)
    nx1 = n01 + u * (n11 - n01)
    return 1.41 * (nx0 + v * (nx1 - nx0))


@_njit
def octave_table(seed, salt, octaves):
    """Parameters of a fractal field: per octave (cos, sin, shift u, shift v) and its key.

    Octave ``k`` is rotated by ``0.7 k`` radians and shifted by a per-seed random offset so
    that octaves do not share lattice lines.
    """
    tab = np.empty((octaves, 4))
    keys = np.empty(octaves, dtype=np.uint64)
    for k in range(octaves):
        key = seed_hash(seed, 64 * salt + k)
        tab[k, 0] = math.cos(0.7 * k)
        tab[k, 1] = math.sin(0.7 * k)
        tab[k, 2] = 1000.0 * unit(hash2(key, 1, 0))
        tab[k, 3] = 1000.0 * unit(hash2(key, 2, 0))
        keys[k] = key
    return tab, keys


@_njit
def _octave(x, y, period, tab, keys, k):
    u = (tab[k, 0] * x - tab[k, 1] * y) / period + tab[k, 2]
    v = (tab[k, 1] * x + tab[k, 0] * y) / period + tab[k, 3]
    return perlin(u, v, keys[k])


@_njit
def fbm(x, y, period, gain, field):
    """Fractal sum of gradient noises (lacunarity 2) at (x, y) metres, about [-1, 1]."""
    tab, keys = field
    total = 0.0
    norm = 0.0
    amp = 1.0
    p = period
    for k in range(keys.shape[0]):
        total += amp * _octave(x, y, p, tab, keys, k)
        norm += amp
        amp *= gain
        p *= 0.5
    return total / norm


@_njit
def ridged(x, y, period, gain, field):
    """Ridged fractal noise in about [0, 1]: rounded crests where an octave crosses zero."""
    tab, keys = field
    total = 0.0
    norm = 0.0
    amp = 1.0
    p = period
    for k in range(keys.shape[0]):
        n = _octave(x, y, p, tab, keys, k)
        r = 1.0 - math.sqrt(n * n + 0.0009)
        total += amp * r * r
        norm += amp
        amp *= gain
        p *= 0.5
    return total / norm


@_njit
def smoothstep(lo, hi, v):
    t = (v - lo) / (hi - lo)
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)
