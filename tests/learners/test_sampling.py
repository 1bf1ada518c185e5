"""stratified_sample: a pure function of (pixel, seed) -- any chunking keeps the same pixels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlandslide.errors import ConfigError
from xlandslide.learners import sampling_rates, stratified_sample
from xlandslide.learners.sampling import splitmix64


def _region(n=20_000, n_pos=300, seed=0):
    rng = np.random.default_rng(seed)
    label = np.zeros(n, np.int8)
    label[rng.choice(n, n_pos, replace=False)] = 1
    label[rng.random(n) < 0.1] = -1  # unknown pixels: never kept
    return np.arange(n, dtype=np.int64) * 7 + 3, label


def _splitmix64_python(x: int) -> int:
    """Vigna's splitmix64 step on Python integers (the slow obvious oracle)."""
    mask = 2**64 - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_splitmix64_against_python_integers():
    values = np.random.default_rng(0).integers(0, 2**63, 200, dtype=np.int64).view(np.uint64)
    values = np.r_[values, np.array([0, 2**64 - 1], np.uint64)]
    got = splitmix64(values)
    assert [int(v) for v in got] == [_splitmix64_python(int(v)) for v in values]
    # the published first output of splitmix64 seeded with 0
    assert hex(int(splitmix64(np.array([0], np.uint64))[0])) == "0xe220a8397b1dcdaf"


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 20_000), max_size=8), seed=st.integers(0, 2**31))
def test_any_chunking_keeps_the_same_pixels(cuts, seed):
    index, label = _region()
    whole = stratified_sample(index, label, 2_000, seed)
    counts = (int((label == 0).sum()), int((label == 1).sum()))
    edges = [0, *sorted(cuts), index.size]
    parts = [
        stratified_sample(index[a:b], label[a:b], 2_000, seed, counts=counts)
        for a, b in itertools.pairwise(edges)
    ]
    np.testing.assert_array_equal(np.concatenate([p.keep for p in parts]), whole.keep)
    for p in parts:
        np.testing.assert_array_equal(p.class_weight, whole.class_weight)
    # and a permutation of the pixels keeps the same ones
    order = np.random.default_rng(seed).permutation(index.size)
    shuffled = stratified_sample(index[order], label[order], 2_000, seed, counts=counts)
    np.testing.assert_array_equal(shuffled.keep, whole.keep[order])


def test_expected_counts_and_weights():
    index, label = _region(n=200_000, n_pos=400)
    n_neg, n_pos = int((label == 0).sum()), int((label == 1).sum())
    s = stratified_sample(index, label, 10_000, seed=3)
    assert s.keep[label == 1].all()  # 400 fit in half the budget: all kept
    assert not s.keep[label == -1].any()
    rate_neg = (10_000 - n_pos) / n_neg
    np.testing.assert_allclose(s.rate, [rate_neg, 1.0])
    np.testing.assert_allclose(s.class_weight, [1 / rate_neg, 1.0])
    kept_neg = int(s.keep[label == 0].sum())
    sd = np.sqrt(n_neg * rate_neg * (1 - rate_neg))
    assert abs(kept_neg - (10_000 - n_pos)) < 4 * sd
    # weighted counts estimate the region's (unbiased): within 4 sd
    assert abs(kept_neg * s.class_weight[0] - n_neg) < 4 * sd * s.class_weight[0]
    # another seed keeps other pixels
    other = stratified_sample(index, label, 10_000, seed=4)
    assert (other.keep != s.keep).any()


@pytest.mark.parametrize(
    "n_neg, n_pos, budget, expected",
    [
        (9_000, 100, 1_000, [0.1, 1.0]),  # positives fit in half: all
        (9_000, 4_000, 1_000, [500 / 9_000, 500 / 4_000]),  # too many: half the budget
        (100, 4_000, 1_000, [1.0, 900 / 4_000]),  # few negatives: positives take the rest
        (300, 200, 1_000, [1.0, 1.0]),  # everything fits
        (0, 50, 10, [1.0, 0.2]),
    ],
)
def test_rates(n_neg, n_pos, budget, expected):
    np.testing.assert_allclose(sampling_rates(n_neg, n_pos, budget), expected)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="max_pixels"):
        sampling_rates(10, 10, 1.5)
    with pytest.raises(ConfigError, match="1-D of one shape"):
        stratified_sample(np.arange(3), np.zeros(4), 10)
    with pytest.raises(ConfigError, match="integers"):
        stratified_sample(np.arange(3.0), np.zeros(3), 10)
