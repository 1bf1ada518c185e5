"""The compiled trees equal LightGBM's own predict (the oracle) on every decision rule."""

from __future__ import annotations

import numpy as np
import pytest

from xlandslide.learners import GBM
from xlandslide.learners.trees import bit_tables, compile_trees, tree_logits

from .common import synthetic_table

lgb = pytest.importorskip("lightgbm")


def _data(n, seed, missing):
    """Two continuous columns, a categorical one of 30 codes (some NaN, unseen, negative)."""
    rng = np.random.default_rng(seed)
    x = np.c_[rng.normal(size=(n, 2)), rng.integers(0, 30, n).astype(float)]
    y = rng.random(n) < 1 / (1 + np.exp(-2 * x[:, 0] + np.sin(x[:, 1]) - (x[:, 2] % 3 == 0)))
    if missing:
        x[rng.random((n, 3)) < missing] = np.nan
    return x, y.astype(float)


def _probe(seed=9):
    """Rows the training never saw: NaN everywhere, zeros, +-inf, codes 30..300 and -1."""
    x, _ = _data(3000, seed, 0.1)
    special = np.array([np.nan, 0.0, -0.0, np.inf, -np.inf, 1e-40, -1.0, 30.0, 255.0, 300.0])
    grid = np.array(np.meshgrid(special, special, special)).reshape(3, -1).T
    return np.r_[x, grid]


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 15},  # uint16 bit tables
        {"num_leaves": 31, "min_data_in_leaf": 5},  # uint32
        {"num_leaves": 63, "min_data_in_leaf": 2, "max_cat_to_onehot": 64},  # uint64, one-hot
        {"num_leaves": 15, "zero_as_missing": True},  # "Zero" missing type: the walking kernel
        {"num_leaves": 7, "min_data_in_leaf": 10_000},  # one-leaf trees
    ],
)
@pytest.mark.parametrize("missing", [0.0, 0.15])  # missing type None / NaN in the training
def test_compiled_trees_equal_lightgbm(params, missing):
    x, y = _data(2000, 0, missing)
    full = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 1, **params}
    data = lgb.Dataset(x, label=y, categorical_feature=[2])
    booster = lgb.train(full, data, num_boost_round=60)
    trees = compile_trees(booster.dump_model())
    tables = bit_tables(trees)
    probe = _probe()
    ref = booster.predict(probe, raw_score=True)
    walked = tree_logits(trees, probe.T)
    np.testing.assert_allclose(walked, ref, rtol=0, atol=1e-6)
    if params.get("zero_as_missing"):
        assert tables is None  # not tabulated: the walking kernel serves it
    else:
        assert tables is not None
        np.testing.assert_allclose(tree_logits(trees, probe.T, tables), ref, rtol=0, atol=1e-6)
    leaves = max(t["num_leaves"] for t in booster.dump_model()["tree_info"])
    if tables is not None and leaves > 1:
        expect = np.uint16 if leaves <= 16 else np.uint32 if leaves <= 32 else np.uint64
        assert tables.table.dtype == expect


def test_gbm_predicts_by_the_compiled_trees():
    table = synthetic_table(n=800, seed=4, missing=0.1, weight=True)
    gbm = GBM(num_boost_round=50, num_threads=1).fit(table)
    x = gbm.features(table.continuous, table.codes)
    ref = gbm.booster_.predict(x, raw_score=True)
    np.testing.assert_allclose(
        gbm.predict_logit(table.continuous, table.codes), ref, rtol=0, atol=1e-6
    )
    assert gbm.compiled()[1] is not None  # the bit tables, not the walk


def test_tables_that_do_not_fit_fall_back_to_none():
    x, y = _data(500, 1, 0.0)
    booster = lgb.train({"objective": "binary", "verbosity": -1}, lgb.Dataset(x, label=y), 5)
    assert bit_tables(compile_trees(booster.dump_model()), max_bytes=1) is None
