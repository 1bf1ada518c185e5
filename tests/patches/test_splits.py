"""Tests of xlandslide.patches.splits: split sizes, the seeded random deal, checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlandslide.errors import ConfigError, InputTypeError
from xlandslide.patches.splits import (
    SPLITS,
    check_fractions,
    check_split,
    random_split,
    split_sizes,
)


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        (0, (0, 0, 0)),
        (1, (1, 0, 0)),
        (2, (2, 0, 0)),
        (3, (1, 1, 1)),
        (4, (2, 1, 1)),
        (7, (5, 1, 1)),
        (10, (8, 1, 1)),
        (15, (11, 2, 2)),
        (25, (19, 3, 3)),
        (100, (80, 10, 10)),
        (1677, (1341, 168, 168)),
    ],
)
def test_split_sizes(n, sizes):
    assert split_sizes(n) == sizes
    assert sum(sizes) == n


@pytest.mark.parametrize("n", ["10", 10.0, None, True])
def test_split_sizes_refuses_what_is_not_a_count(n):
    with pytest.raises(InputTypeError, match="must be an integer"):
        split_sizes(n)


def test_split_sizes_other_fractions():
    assert split_sizes(3, (0.0, 0.5, 0.5)) == (0, 1, 2)  # no train wanted: none forced
    assert split_sizes(3, (0.2, 0.4, 0.4)) == (1, 1, 1)
    assert split_sizes(10, (1.0, 0.0, 0.0)) == (10, 0, 0)
    assert split_sizes(10, (0.6, 0.2, 0.2)) == (6, 2, 2)
    assert split_sizes(5, (0.0, 1.0, 0.0)) == (0, 5, 0)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 500),
    f=st.tuples(st.integers(0, 10), st.integers(0, 10), st.integers(0, 10)).filter(any),
)
def test_split_sizes_invariants(n, f):
    fractions = tuple(v / sum(f) for v in f)
    sizes = split_sizes(n, fractions)
    assert sum(sizes) == n and min(sizes) >= 0
    if n >= 3:  # every wanted split holds a patch, train keeps one
        for size, frac in zip(sizes, fractions):
            assert size >= 1 or frac == 0
    for size, frac in zip(sizes[1:], fractions[1:]):
        if frac == 0:
            assert size == 0
        else:  # round half up, or the minimum of one, give or take the one given back
            assert abs(size - max(np.floor(n * frac + 0.5), 1 if n >= 3 else 0)) <= 1


def test_random_split_deals_the_sizes_in_the_seeded_order():
    for n, seed in [(0, 0), (1, 3), (10, 0), (42, 5)]:
        split = random_split(n, (0.8, 0.1, 0.1), seed)
        assert len(split) == n and set(split) <= set(SPLITS)
        n_train, n_val, n_test = split_sizes(n)
        assert [split.count(s) for s in SPLITS] == [n_train, n_val, n_test]
        perm = np.random.Generator(np.random.PCG64(seed)).permutation(n)
        assert [split[k] for k in perm] == ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    assert random_split(42, seed=1) == random_split(42, seed=1)
    assert random_split(42, seed=1) != random_split(42, seed=2)


@pytest.mark.parametrize(
    ("fractions", "match"),
    [
        ((0.5, 0.1, 0.1), "sum to 1"),
        ((1.2, -0.1, -0.1), "non-negative"),
        ((0.5, 0.5), "three"),
        ((0.5, float("nan"), 0.5), "non-negative"),
    ],
)
def test_check_fractions_errors(fractions, match):
    with pytest.raises(ConfigError, match=match):
        check_fractions(fractions)
    with pytest.raises(ConfigError, match=match):
        split_sizes(10, fractions)


def test_check_fractions_and_split():
    assert check_fractions([0.7, 0.2, 0.1]) == (0.7, 0.2, 0.1)
    assert check_fractions((1, 0, 0)) == (1.0, 0.0, 0.0)
    for s in SPLITS:
        check_split(s)
    with pytest.raises(ConfigError, match=r"unknown split 'validation'.*'val'"):
        check_split("validation")
    with pytest.raises(ConfigError, match=">= 0"):
        split_sizes(-1)
