"""Tests of the one dispatcher: numpy and dask give the same result for any chunking."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import raise_if_dask_computes
from tests.strategies import chunkings
from xlandslide._dispatch import _yx_chunks, apply_stencil, is_dask


def box_and_shift(a, b, *, reach):
    """Stencil of reach ``reach``: out[0] box sum of nansum(a), out[1] b at (i-r, j+r).

    ``a`` is (F, ny, nx) float (NaN missing, also outside), ``b`` (ny, nx) int (0 outside).
    """
    ny, nx = b.shape
    s = np.pad(np.nansum(a, axis=0), reach)  # outside = 0 = NaN under nansum
    out = np.zeros((2, ny, nx), dtype=np.float64)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            out[0] += s[reach + dy : reach + dy + ny, reach + dx : reach + dx + nx]
    bp = np.pad(b, reach)
    out[1] = bp[:ny, 2 * reach : 2 * reach + nx]  # b[i - reach, j + reach]
    return out


def inputs(shape, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((3, *shape))
    a[rng.random(a.shape) < 0.2] = np.nan
    b = rng.integers(-5, 6, shape).astype(np.int8)
    return a, b


def test_numpy_path_calls_kernel_on_whole_array():
    a, b = inputs((9, 11))
    out = apply_stencil(box_and_shift, a, b, depth=1, dtype="float32", leading=(2,), reach=1)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (2, 9, 11)
    # hand-checked values: out[1] is b shifted by one row down and one column left
    assert out[1, 1, 0] == b[0, 1] and out[1, 0, 0] == 0 and out[1, 5, 10] == 0
    expected = np.nansum(a[:, 3:6, 4:7])
    assert out[0, 4, 5] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "chunks", [((4, 5), (6, 5)), ((1, 1, 1, 6), (3, 8)), ((9,), (11,)), ((2, 7), (1, 10))]
)
@pytest.mark.parametrize("reach", [1, 2])
def test_dask_equals_numpy(chunks, reach):
    a, b = inputs((9, 11))
    expected = apply_stencil(
        box_and_shift, a, b, depth=reach, dtype="f8", leading=(2,), reach=reach
    )
    ad = da.from_array(a, chunks=((1, 2), *chunks))  # split leading axis too
    bd = da.from_array(b, chunks=chunks)
    with raise_if_dask_computes():
        lazy = apply_stencil(
            box_and_shift, ad, bd, depth=reach, dtype="f8", leading=(2,), reach=reach
        )
    assert is_dask(lazy) and lazy.shape == (2, 9, 11)
    np.testing.assert_array_equal(lazy.compute(scheduler="sync"), expected)
    # mixed: one numpy input, one dask input
    mixed = apply_stencil(box_and_shift, a, bd, depth=reach, dtype="f8", leading=(2,), reach=reach)
    np.testing.assert_array_equal(mixed.compute(scheduler="sync"), expected)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), ny=st.integers(1, 14), nx=st.integers(1, 14), reach=st.integers(1, 4))
def test_any_chunking_gives_the_numpy_result(data, ny, nx, reach):
    # includes chunks smaller than the depth and axes shorter than it
    a, b = inputs((ny, nx), seed=ny * 100 + nx)
    expected = box_and_shift(a, b, reach=reach)
    cy = data.draw(chunkings(ny))
    cx = data.draw(chunkings(nx))
    depth = reach + data.draw(st.integers(0, 2))  # a deeper halo than needed is fine too
    ad = da.from_array(a, chunks=(3, cy, cx))
    bd = da.from_array(b, chunks=(cy, cx))
    got = apply_stencil(box_and_shift, ad, bd, depth=depth, dtype="f8", leading=(2,), reach=reach)
    np.testing.assert_array_equal(got.compute(scheduler="sync"), expected)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), ny=st.integers(1, 12), nx=st.integers(1, 12), depth=st.integers(1, 5))
def test_every_block_carries_exactly_depth_context(data, ny, nx, depth):
    # block-tiling kernels (predict) rely on it: depth pixels of context on each side
    def core_size(x):
        h, w = x.shape[0] - 2 * depth, x.shape[1] - 2 * depth
        return np.stack([np.full(x.shape, h), np.full(x.shape, w)])

    x = da.zeros((ny, nx), chunks=(data.draw(chunkings(ny)), data.draw(chunkings(nx))))
    lazy = apply_stencil(core_size, x, depth=depth, dtype="int64", leading=(2,))
    got = lazy.compute(scheduler="sync")
    assert lazy.chunks[1:] == x.chunks  # the result keeps the input's chunks
    (cy, cx), _ = _yx_chunks(x, depth)  # the blocks the kernel saw (small ones merged)
    assert sum(cy) == ny and sum(cx) == nx
    np.testing.assert_array_equal(got[0], np.repeat(cy, cy)[:, None] * np.ones((1, nx), int))
    np.testing.assert_array_equal(got[1], np.repeat(cx, cx)[None, :] * np.ones((ny, 1), int))


def test_names_do_not_collide_between_calls():
    a1, b1 = inputs((8, 8), seed=1)
    a2, b2 = inputs((8, 8), seed=2)
    kw = {"depth": 1, "dtype": "f8", "leading": (2,), "name": "same-name", "reach": 1}
    x1 = apply_stencil(box_and_shift, da.from_array(a1, chunks=4), da.from_array(b1, 4), **kw)
    x2 = apply_stencil(box_and_shift, da.from_array(a2, chunks=4), da.from_array(b2, 4), **kw)
    assert x1.name != x2.name and x1.name.startswith("same-name")
    r1, r2 = dask.compute(x1, x2, scheduler="sync")
    np.testing.assert_array_equal(r1, box_and_shift(a1, b1, reach=1))
    np.testing.assert_array_equal(r2, box_and_shift(a2, b2, reach=1))
    # same inputs and arguments: same (deterministic) name
    x3 = apply_stencil(box_and_shift, da.from_array(a1, chunks=4), da.from_array(b1, 4), **kw)
    assert x3.name == x1.name


def test_fills_and_default_boundaries():
    def left_neighbour(x):  # reach 1, relies on the halo (garbage in column 0 is trimmed)
        out = x.copy()
        out[..., 1:] = x[..., :-1]
        return out

    b = da.from_array(np.ones((4, 6), dtype=np.int8), chunks=(2, 3))
    f = da.from_array(np.ones((4, 6), dtype=np.float32), chunks=(2, 3))
    got = apply_stencil(left_neighbour, b, depth=1, dtype="int8").compute(scheduler="sync")
    assert (got[:, 0] == 0).all() and (got[:, 1:] == 1).all()  # int boundary: 0
    got = apply_stencil(left_neighbour, f, depth=1, dtype="f4").compute(scheduler="sync")
    assert np.isnan(got[:, 0]).all() and (got[:, 1:] == 1).all()  # float boundary: NaN
    got = apply_stencil(left_neighbour, b, depth=1, dtype="i1", fills=[7])
    assert (got.compute(scheduler="sync")[:, 0] == 7).all()


def test_dask_result_keeps_the_input_chunks_when_small_chunks_were_merged():
    """A last chunk shorter than the halo is merged for the overlap, then split back: the
    result can be written to a store with the input's chunk layout."""
    import dask.array as da

    from xlandslide._dispatch import apply_stencil

    a = da.arange(300 * 300, dtype="f4").reshape(300, 300).rechunk(256)
    out = apply_stencil(lambda b: b + 1, a, depth=64, dtype="f4")
    assert out.chunks == a.chunks
    np.testing.assert_array_equal(out.compute(), a.compute() + 1)
    stacked = da.stack([a, a]).rechunk((1, 256, 256))
    out = apply_stencil(lambda b: b[:1] * 2, stacked, depth=64, dtype="f4", leading=(1,))
    assert out.chunks == ((1,), *a.chunks)
