"""Tests of the uphill kernels against slow, obvious oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xlandslide.kernels.uphill import (
    BLOCK,
    aligned_block,
    gather,
    offsets_block,
    ring_argmax,
    ring_offsets,
)

# ------------------------------------------------------------------------------- oracles


def slow_ring(radius):
    """The ring by its definition, in row-major order, with Python's round and hypot."""
    return [
        (dy, dx)
        for dy in range(-radius, radius + 1)
        for dx in range(-radius, radius + 1)
        if round(math.hypot(dy, dx)) == radius
    ]


def slow_ring_argmax(dem, radius):
    """Pixel by pixel, offset by offset: first ring pixel with the highest valid value."""
    ring = slow_ring(radius)
    ny, nx = dem.shape
    out = np.full((ny, nx), -1, dtype=np.int16)
    for i in range(ny):
        for j in range(nx):
            best = -math.inf
            for k, (dy, dx) in enumerate(ring):
                y, x = i + dy, j + dx
                if 0 <= y < ny and 0 <= x < nx:
                    v = float(dem[y, x])
                    if not math.isnan(v) and v > best:
                        best, out[i, j] = v, k
    return out


def numpy_ring_argmax(dem, radius):
    """Obvious numpy: a running best over shifted copies (NaN padded), strict ``>``."""
    dem = np.asarray(dem, dtype=np.float64)
    ny, nx = dem.shape
    r = radius
    pad = np.pad(dem, r, constant_values=np.nan)
    best = np.full(dem.shape, -np.inf)
    index = np.full(dem.shape, -1, dtype=np.int16)
    for k, (dy, dx) in enumerate(ring_offsets(r)):
        v = pad[r + dy : r + dy + ny, r + dx : r + dx + nx]
        gt = v > best
        best = np.where(gt, v, best)
        index[gt] = k
    return index


def random_dem(rng, shape, *, levels=None, nan_fraction=0.2, dtype=np.float32):
    """Random DEM; ``levels`` gives integer values (many ties, plateaus)."""
    if levels:
        dem = rng.integers(0, levels, shape).astype(dtype)
    else:
        dem = rng.standard_normal(shape).astype(dtype)
    dem[rng.random(shape) < nan_fraction] = np.nan
    return dem


# ---------------------------------------------------------------------------- the ring


@pytest.mark.parametrize("radius", [1, 2, 3, 4, 7, 10, 30, 64])
def test_ring_offsets_match_definition_and_order(radius):
    got = ring_offsets(radius)
    assert got.dtype == np.int64 and got.shape[1] == 2
    assert [tuple(p) for p in got.tolist()] == slow_ring(radius)
    # row-major order: strictly increasing (dy, dx) pairs
    keys = got[:, 0] * (4 * radius + 1) + got[:, 1]
    assert np.all(np.diff(keys) > 0)


def test_ring_offsets_counts_and_values():
    assert ring_offsets(1).tolist() == [
        [-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 1], [1, -1], [1, 0], [1, 1],
    ]  # fmt: skip
    assert [len(ring_offsets(r)) for r in (1, 2, 3, 10, 30)] == [8, 12, 16, 56, 200]
    # radius 2: hypot in [1.5, 2.5): the 4 (0, 2)-type and the 8 (1, 2)-type offsets
    r2 = {tuple(p) for p in ring_offsets(2).tolist()}
    assert (0, 2) in r2 and (1, 2) in r2 and (2, 2) not in r2 and (1, 1) not in r2


@pytest.mark.parametrize("radius", [1, 2, 3, 10, 30])
def test_ring_offsets_symmetric_and_on_ring(radius):
    offs = ring_offsets(radius)
    ring = {tuple(p) for p in offs.tolist()}
    for dy, dx in ring:
        assert {(-dy, dx), (dy, -dx), (dx, dy), (-dx, -dy)} <= ring
    assert np.all(np.round(np.hypot(offs[:, 0], offs[:, 1])) == radius)
    assert (0, 0) not in ring


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_ring_offsets_rejects_bad_radius(bad):
    with pytest.raises(ValueError, match="radius"):
        ring_offsets(bad)


# ------------------------------------------------------------------------ ring_argmax


def test_ring_argmax_hand_example():
    # a single peak: every pixel whose ring passes through it points at it
    dem = np.zeros((5, 5), dtype=np.float32)
    dem[1, 3] = 10.0
    got = ring_argmax(dem, 1)
    ring = ring_offsets(1)
    dy, dx = ring[got[2, 2]]
    assert (2 + dy, 2 + dx) == (1, 3)
    # pixel (0, 0): its ring holds (0, 1), (1, 0), (1, 1), all 0 -> first in order: (0, 1)
    assert tuple(ring[got[0, 0]]) == (0, 1)
    # pixel (4, 4) has a flat ring: first valid offset in ring order is (-1, -1)
    assert tuple(ring[got[4, 4]]) == (-1, -1)


def test_ring_argmax_ties_keep_first_in_order():
    dem = np.full((7, 7), 5.0)
    got = ring_argmax(dem, 1)
    assert got[3, 3] == 0  # (-1, -1), the first offset
    assert got[0, 0] == 4  # (0, 1): (-1, *) and (0, -1) are off the array
    assert got[0, 3] == 3  # (0, -1)


def test_ring_argmax_nan_never_wins_and_all_missing_is_minus_one():
    dem = np.full((6, 6), np.nan)
    assert (ring_argmax(dem, 1) == -1).all()
    dem[0, 0] = -1e30  # a very low but valid value still wins over missing
    got = ring_argmax(dem, 1)
    assert got[1, 1] == 0 and got[0, 1] == 3  # (-1,-1) from (1,1); (0,-1) from (0,1)
    assert got[3, 3] == -1
    single = np.array([[1.0]])
    assert ring_argmax(single, 1).tolist() == [[-1]]
    inf = np.array([[-np.inf, -np.inf], [-np.inf, -np.inf]])
    assert (ring_argmax(inf, 1) == -1).all()  # -inf counts as missing


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("radius", [1, 2, 3, 5, 10])
def test_ring_argmax_matches_slow_oracle(seed, radius):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(1, 24, 2))
    dem = random_dem(rng, shape, levels=3 if seed % 2 else None)
    expected = slow_ring_argmax(dem, radius)
    np.testing.assert_array_equal(ring_argmax(dem, radius), expected)
    np.testing.assert_array_equal(numpy_ring_argmax(dem, radius), expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 3), (4, 4)])
def test_ring_argmax_arrays_smaller_than_the_radius(shape):
    rng = np.random.default_rng(1)
    dem = random_dem(rng, shape, levels=2, nan_fraction=0.1)
    for radius in (1, 3, 10, 30):
        np.testing.assert_array_equal(ring_argmax(dem, radius), slow_ring_argmax(dem, radius))


@pytest.mark.parametrize("radius", [3, 30])
def test_ring_argmax_several_column_blocks_and_edges(radius):
    # wider than one column block: blocks, partial groups and both edges are exercised
    rng = np.random.default_rng(7)
    dem = random_dem(rng, (2 * radius + 3, BLOCK + 2 * radius + 5), levels=4, nan_fraction=0.3)
    np.testing.assert_array_equal(ring_argmax(dem, radius), numpy_ring_argmax(dem, radius))


def test_ring_argmax_dtypes_and_threads():
    rng = np.random.default_rng(3)
    dem = random_dem(rng, (130, 41), levels=5)
    expected = numpy_ring_argmax(dem, 3)
    np.testing.assert_array_equal(ring_argmax(dem.astype(np.float64), 3), expected)
    np.testing.assert_array_equal(ring_argmax(dem, 3, threads=4), expected)
    np.testing.assert_array_equal(ring_argmax(dem, 3, threads=None), expected)
    ints = rng.integers(0, 5, (20, 20)).astype(np.int16)
    np.testing.assert_array_equal(ring_argmax(ints, 2), slow_ring_argmax(ints, 2))
    noncontig = np.asfortranarray(dem)[::2, ::3]
    np.testing.assert_array_equal(ring_argmax(noncontig, 2), slow_ring_argmax(noncontig, 2))
    assert ring_argmax(dem, 3).dtype == np.int16
    with pytest.raises(ValueError, match="2-D"):
        ring_argmax(dem[0], 3)
    with pytest.raises(ValueError, match="threads"):
        ring_argmax(dem, 3, threads=-1)


# ------------------------------------------------------------------- offsets and gather


def test_offsets_block_maps_index_to_offsets():
    rng = np.random.default_rng(4)
    dem = random_dem(rng, (15, 17), levels=3, nan_fraction=0.4)
    dem[:, :3] = np.nan
    out = offsets_block(dem, (1, 3))
    assert out.shape == (2, 2, 15, 17) and out.dtype == np.int8
    for d, radius in enumerate((1, 3)):
        index = slow_ring_argmax(dem, radius)
        ring = ring_offsets(radius)
        dy = np.where(index >= 0, ring[index, 0], 0)
        dx = np.where(index >= 0, ring[index, 1], 0)
        np.testing.assert_array_equal(out[0, d], dy)
        np.testing.assert_array_equal(out[1, d], dx)
        assert ((out[0, d] == 0) & (out[1, d] == 0) == (index < 0)).all()


def fancy_gather(features, dy, dx):
    """numpy fancy-indexing oracle of :func:`gather`."""
    _, ny, nx = features.shape
    ii, jj = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    ti, tj = ii + dy.astype(int), jj + dx.astype(int)
    ok = ((dy != 0) | (dx != 0)) & (ti >= 0) & (ti < ny) & (tj >= 0) & (tj < nx)
    out = np.full(features.shape, np.nan, dtype=np.float32)
    out[:, ok] = features[:, ti[ok], tj[ok]]
    return out


def test_gather_matches_fancy_indexing():
    rng = np.random.default_rng(5)
    feats = rng.standard_normal((3, 40, 35)).astype(np.float32)
    dy = rng.integers(-6, 7, (40, 35)).astype(np.int8)
    dx = rng.integers(-6, 7, (40, 35)).astype(np.int8)
    dy[0, 0] = dx[0, 0] = 0
    got = gather(feats, dy, dx)
    np.testing.assert_array_equal(got, fancy_gather(feats, dy, dx))
    assert got.dtype == np.float32
    assert np.isnan(got[:, 0, 0]).all()
    assert got[1, 10, 10] == feats[1, 10 + dy[10, 10], 10 + dx[10, 10]]
    np.testing.assert_array_equal(gather(feats, dy, dx, threads=3), got)
    with pytest.raises(ValueError, match="shape"):
        gather(feats, dy[:5], dx)


def test_aligned_block_is_distance_major():
    rng = np.random.default_rng(6)
    feats = rng.standard_normal((2, 12, 13)).astype(np.float32)
    dy = rng.integers(-3, 4, (3, 12, 13)).astype(np.int8)
    dx = rng.integers(-3, 4, (3, 12, 13)).astype(np.int8)
    out = aligned_block(feats, dy, dx)
    assert out.shape == (6, 12, 13)
    for d in range(3):
        np.testing.assert_array_equal(out[2 * d : 2 * d + 2], fancy_gather(feats, dy[d], dx[d]))
