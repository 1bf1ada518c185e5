"""Uphill offsets: the highest pixel on a ring around every pixel (pure numba kernels).

The ring (the contract)
-----------------------
For a radius of ``r >= 1`` pixels the ring is every integer offset ``(dy, dx)`` with
``round(hypot(dy, dx)) == r``.  In integers: ``r*r - r + 1 <= dy*dy + dx*dx <= r*r + r``
(the hypot of two integers is never exactly half-way between integers, so the rounding has
no tie to break).  :func:`ring_offsets` lists the ring in **row-major order**: ``dy``
ascending from ``-r`` to ``r``, then ``dx`` ascending.  This order is part of the
contract: it decides ties.  Radii 3, 10 and 30 have 16, 56 and 200 offsets.

``dy`` is the row offset (positive = down the array = south on a north-up grid whose
``y`` coordinate descends) and ``dx`` the column offset (positive = right = east when
``x`` ascends).  The uphill point of pixel ``(i, j)`` is ``(i + dy, j + dx)``.

The uphill point
----------------
:func:`ring_argmax` returns, for every pixel, the ``int16`` index into
``ring_offsets(r)`` of the ring pixel with the highest elevation, or ``-1`` when no ring
pixel is valid.  Ring pixels outside the array and NaN elevations are skipped (as are
``-inf`` ones).  Ties (equal maximum elevation) keep the **first** offset in ring order:
the kernel compares each ring pixel in order with a running best initialised to ``-inf``
using a strict ``>``, so NaN never wins and a later equal value never replaces an earlier.

Halo: the stencil reaches ``r`` pixels on each axis, so a ``map_overlap`` depth of ``r``
(or more) gives every block the same result as the whole array.

How it is fast
--------------
A per-pixel loop over the ring does not vectorise (about 2 Mpix/s per thread for radii
3, 10 and 30 together).  :func:`ring_argmax` sweeps a row at a time instead: for each
output row and each block of ``BLOCK`` columns (kept in L1) it keeps a running best value
and index per column, and for groups of 8 consecutive ring offsets it reads the 8 shifted
source rows as contiguous slices and updates the running best with branch-free selects,
which LLVM turns into SIMD max / compare / masked-move instructions; best and index are
loaded and stored once per group rather than once per offset.  Columns where some offset
of a group falls off the array (only near the left and right edges) are done offset by
offset.  See ``asv_bench/benchmarks/features.py`` for the measured throughput.

:func:`gather` reads features at the offsets: ``out[f, i, j] = features[f, i + dy, j + dx]``,
NaN where ``(dy, dx) == (0, 0)`` (no valid ring pixel) or the target is off the array.

Every function here is pure: numpy in, numpy out.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ShapeError
from ._jit import jit, run_row_bands

#: Columns per block of the row sweep: best (4 B) and index (4 B) per column stay in L1.
BLOCK = 1024

#: Ring offsets compared per pass over a block (best and index loaded and stored once per
#: group).  The fused loop of :func:`_ring_argmax_rows` is written out for exactly 8.
GROUP = 8


def ring_offsets(radius: int) -> np.ndarray:
    """Integer offsets ``(dy, dx)`` of the ring of ``radius`` pixels, in row-major order.

    Parameters
    ----------
    radius : int
        Ring radius in pixels, at least 1.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)`` int64: every ``(dy, dx)`` with ``round(hypot(dy, dx)) == radius``,
        sorted by ``dy`` then ``dx`` (both ascending).  This order decides ties in
        :func:`ring_argmax` (the first wins).

    Examples
    --------
    >>> ring_offsets(1).tolist()
    [[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1]]
    >>> [len(ring_offsets(r)) for r in (3, 10, 30)]
    [16, 56, 200]
    """
    if (
        isinstance(radius, bool)
        or not isinstance(radius, (int, float, np.integer, np.floating))
        or not np.isfinite(radius)
        or int(radius) != radius
        or radius < 1
    ):
        raise ConfigError(f"radius must be an integer >= 1 (pixels), got {radius!r}")
    r = int(radius)
    d = np.arange(-r, r + 1, dtype=np.int64)
    dy, dx = np.meshgrid(d, d, indexing="ij")  # row-major: dy outer, dx inner
    n2 = dy * dy + dx * dx
    on_ring = (n2 >= r * r - r + 1) & (n2 <= r * r + r)
    return np.stack([dy[on_ring], dx[on_ring]], axis=1)


@jit(inline="always")
def _update_run(dem, row, dx, k, best, idx, lo, hi, j0):
    """Fold ring offset ``k`` (source ``row``, shift ``dx``) into columns ``lo:hi``."""
    src = dem[row, lo + dx : hi + dx]
    b = best[lo - j0 : hi - j0]
    ix = idx[lo - j0 : hi - j0]
    for j in range(hi - lo):
        v = src[j]
        if v > b[j]:
            b[j] = v
            ix[j] = k


@jit
def _ring_argmax_rows(dem, dys, dxs, out, row0, row1):
    """Write ``out[row0:row1]``: index of the first highest valid ring pixel, or -1."""
    ny, nx = dem.shape
    n = dys.shape[0]
    best = np.empty(BLOCK, dtype=dem.dtype)
    idx = np.empty(BLOCK, dtype=np.int32)
    valid = np.empty(n + GROUP, dtype=np.int64)
    rows = np.empty(GROUP, dtype=np.int64)
    shifts = np.empty(GROUP, dtype=np.int64)
    ks = np.empty(GROUP, dtype=np.int32)
    los = np.empty(GROUP, dtype=np.int64)
    his = np.empty(GROUP, dtype=np.int64)
    # columns in nblocks blocks of equal width (at most BLOCK): no narrow trailing block
    nblocks = max(1, (nx + BLOCK - 1) // BLOCK)
    width = (nx + nblocks - 1) // nblocks
    for i in range(row0, row1):
        # ring offsets whose source row is inside the array, in ring order
        nv = 0
        for k in range(n):
            r = i + dys[k]
            if r >= 0 and r < ny:
                valid[nv] = k
                nv += 1
        if nv == 0:
            out[i, :] = -1
            continue
        # pad to whole groups by repeating the last offset: a repeat never wins (strict >)
        ng = (nv + GROUP - 1) // GROUP
        for q in range(nv, ng * GROUP):
            valid[q] = valid[nv - 1]
        for jb in range(nblocks):
            j0 = jb * width
            j1 = min(j0 + width, nx)
            w = j1 - j0
            best[:w] = -np.inf
            idx[:w] = -1
            for g in range(ng):
                lo_all = j0
                hi_all = j1
                for q in range(GROUP):
                    k = valid[g * GROUP + q]
                    rows[q] = i + dys[k]
                    shifts[q] = dxs[k]
                    ks[q] = k
                    los[q] = max(j0, -dxs[k])
                    his[q] = min(j1, nx - dxs[k])
                    lo_all = max(lo_all, los[q])
                    hi_all = min(hi_all, his[q])
                if lo_all >= hi_all:
                    lo_all = j1
                    hi_all = j1
                # columns where some offset of the group is off the array: one by one, in order
                for q in range(GROUP):
                    lo, hi = los[q], his[q]
                    left_end = min(lo_all, hi)
                    right_start = max(hi_all, lo)
                    if left_end > lo:
                        _update_run(dem, rows[q], shifts[q], ks[q], best, idx, lo, left_end, j0)
                    if hi > right_start:
                        _update_run(dem, rows[q], shifts[q], ks[q], best, idx, right_start, hi, j0)
                if hi_all <= lo_all:
                    continue
                # columns where all 8 are inside: one fused, vectorised pass
                s0 = dem[rows[0], lo_all + shifts[0] : hi_all + shifts[0]]
                s1 = dem[rows[1], lo_all + shifts[1] : hi_all + shifts[1]]
                s2 = dem[rows[2], lo_all + shifts[2] : hi_all + shifts[2]]
                s3 = dem[rows[3], lo_all + shifts[3] : hi_all + shifts[3]]
                s4 = dem[rows[4], lo_all + shifts[4] : hi_all + shifts[4]]
                s5 = dem[rows[5], lo_all + shifts[5] : hi_all + shifts[5]]
                s6 = dem[rows[6], lo_all + shifts[6] : hi_all + shifts[6]]
                s7 = dem[rows[7], lo_all + shifts[7] : hi_all + shifts[7]]
                k0, k1, k2, k3 = ks[0], ks[1], ks[2], ks[3]
                k4, k5, k6, k7 = ks[4], ks[5], ks[6], ks[7]
                bb = best[lo_all - j0 : hi_all - j0]
                ii = idx[lo_all - j0 : hi_all - j0]
                for j in range(hi_all - lo_all):
                    b = bb[j]
                    x = ii[j]
                    v = s0[j]
                    gt = v > b
                    b = v if gt else b
                    x = k0 if gt else x
                    v = s1[j]
                    gt = v > b
                    b = v if gt else b
                    x = k1 if gt else x
                    v = s2[j]
                    gt = v > b
                    b = v if gt else b
                    x = k2 if gt else x
                    v = s3[j]
                    gt = v > b
                    b = v if gt else b
                    x = k3 if gt else x
                    v = s4[j]
                    gt = v > b
                    b = v if gt else b
                    x = k4 if gt else x
                    v = s5[j]
                    gt = v > b
                    b = v if gt else b
                    x = k5 if gt else x
                    v = s6[j]
                    gt = v > b
                    b = v if gt else b
                    x = k6 if gt else x
                    v = s7[j]
                    gt = v > b
                    b = v if gt else b
                    x = k7 if gt else x
                    bb[j] = b
                    ii[j] = x
            for j in range(w):
                out[i, j0 + j] = idx[j]


def _as_dem(dem) -> np.ndarray:
    dem = np.asarray(dem)
    if dem.ndim != 2:
        raise ShapeError(f"dem must be 2-D (y, x), got shape {dem.shape}")
    if dem.dtype not in (np.float32, np.float64):
        dem = dem.astype(np.result_type(dem.dtype, np.float32))
    return np.ascontiguousarray(dem)


def ring_argmax(dem, radius: int, *, threads: int | None = 1) -> np.ndarray:
    """Index into ``ring_offsets(radius)`` of the highest valid ring pixel of every pixel.

    Parameters
    ----------
    dem : numpy.ndarray
        2-D elevations (float32 or float64; other numbers are cast to float).  NaN is
        missing.
    radius : int
        Ring radius in pixels.
    threads : int or None
        Threads for row bands (1: serial, the right choice inside dask tasks; None or 0:
        every available CPU).

    Returns
    -------
    numpy.ndarray
        int16, same shape as ``dem``: index of the first (in ring order) ring pixel with
        the highest valid elevation, -1 where the ring holds no valid pixel.
    """
    dem = _as_dem(dem)
    offs = ring_offsets(radius)
    if len(offs) > np.iinfo(np.int16).max:
        raise ConfigError(f"radius {radius} has {len(offs)} ring offsets, more than int16 holds")
    out = np.empty(dem.shape, dtype=np.int16)
    if dem.size:
        dys = np.ascontiguousarray(offs[:, 0])
        dxs = np.ascontiguousarray(offs[:, 1])
        run_row_bands(_ring_argmax_rows, dem.shape[0], dem, dys, dxs, out, threads=threads)
    return out


@jit
def _gather_rows(features, dy, dx, out, row0, row1):
    """Write ``out[:, row0:row1]`` = features at ``(i + dy, j + dx)``, NaN at (0, 0)/off."""
    nf, ny, nx = features.shape
    flat = features.reshape(nf, ny * nx)
    src = np.empty(nx, dtype=np.int64)  # flat source index per column, -1 = NaN
    for i in range(row0, row1):
        for j in range(nx):
            a = np.int64(dy[i, j])
            c = np.int64(dx[i, j])
            ti = i + a
            tj = j + c
            if (a == 0 and c == 0) or ti < 0 or ti >= ny or tj < 0 or tj >= nx:
                src[j] = -1
            else:
                src[j] = ti * nx + tj
        for f in range(nf):
            plane = flat[f]
            for j in range(nx):
                q = src[j]
                out[f, i, j] = plane[q] if q >= 0 else np.nan


def gather(features, dy, dx, *, threads: int | None = 1) -> np.ndarray:
    """Features read at offsets: ``out[f, i, j] = features[f, i + dy[i, j], j + dx[i, j]]``.

    Parameters
    ----------
    features : numpy.ndarray
        ``(F, ny, nx)`` (cast to float32).
    dy, dx : numpy.ndarray
        ``(ny, nx)`` integer offsets (cast to int8).
    threads : int or None
        As in :func:`ring_argmax`.

    Returns
    -------
    numpy.ndarray
        ``(F, ny, nx)`` float32; NaN where ``(dy, dx) == (0, 0)`` or the target pixel is
        outside the array.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    if features.ndim != 3:
        raise ShapeError(f"features must be 3-D (feature, y, x), got shape {features.shape}")
    dy = np.ascontiguousarray(dy, dtype=np.int8)
    dx = np.ascontiguousarray(dx, dtype=np.int8)
    if dy.shape != features.shape[1:] or dx.shape != features.shape[1:]:
        raise ShapeError(
            f"dy {dy.shape} and dx {dx.shape} must have the (y, x) shape of the features "
            f"{features.shape[1:]}"
        )
    out = np.empty(features.shape, dtype=np.float32)
    if out.size:
        run_row_bands(_gather_rows, features.shape[1], features, dy, dx, out, threads=threads)
    return out


@jit
def _offsets_rows(dem, dys, dxs, index, out_dy, out_dx, row0, row1):
    """Uphill ``(dy, dx)`` of rows ``row0:row1`` as int8; ``(0, 0)`` where index is -1."""
    _ring_argmax_rows(dem, dys, dxs, index, row0, row1)
    nx = dem.shape[1]
    for i in range(row0, row1):
        for j in range(nx):
            k = index[i, j]
            if k >= 0:
                out_dy[i, j] = dys[k]
                out_dx[i, j] = dxs[k]
            else:
                out_dy[i, j] = 0
                out_dx[i, j] = 0


def offsets_block(dem, radii, *, threads: int | None = 1) -> np.ndarray:
    """Uphill ``(dy, dx)`` of every pixel for each radius: ``(2, len(radii), ny, nx)`` int8.

    ``(0, 0)`` marks a pixel whose ring holds no valid elevation.  This is the block
    function that :func:`xlandslide.uphill_offsets` maps over numpy or dask arrays; its
    stencil reaches ``max(radii)`` pixels.
    """
    dem = _as_dem(dem)
    ny = dem.shape[0]
    out = np.empty((2, len(radii), *dem.shape), dtype=np.int8)
    index = np.empty(dem.shape, dtype=np.int16)
    for d, radius in enumerate(radii):
        offs = ring_offsets(radius)
        if np.abs(offs).max() > np.iinfo(np.int8).max:
            raise ConfigError(f"radius {radius} does not fit int8 offsets (at most 127 pixels)")
        if dem.size:
            dys = np.ascontiguousarray(offs[:, 0])
            dxs = np.ascontiguousarray(offs[:, 1])
            args = (dem, dys, dxs, index, out[0, d], out[1, d])
            run_row_bands(_offsets_rows, ny, *args, threads=threads)
    return out


def aligned_block(features, dy, dx, *, threads: int | None = 1) -> np.ndarray:
    """Features at the uphill offsets, distance-major: ``(D * F, ny, nx)`` float32.

    ``features`` is ``(F, ny, nx)``, ``dy`` and ``dx`` are ``(D, ny, nx)``; rows
    ``d * F : (d + 1) * F`` of the result are the F features read at offsets ``d``.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    dy = np.ascontiguousarray(dy, dtype=np.int8)
    dx = np.ascontiguousarray(dx, dtype=np.int8)
    nf, ny, nx = features.shape
    if dy.ndim != 3 or dy.shape[1:] != (ny, nx) or dx.shape != dy.shape:
        raise ShapeError(f"dy {dy.shape} and dx {dx.shape} must be (D, {ny}, {nx})")
    out = np.empty((dy.shape[0] * nf, ny, nx), dtype=np.float32)
    if out.size:
        for d in range(dy.shape[0]):
            part = out[d * nf : (d + 1) * nf]  # a contiguous view: written in place
            run_row_bands(_gather_rows, ny, features, dy[d], dx[d], part, threads=threads)
    return out
