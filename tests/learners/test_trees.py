"""The compiled trees equal LightGBM's own predict (the oracle) on every decision rule."""

from __future__ import annotations

import numpy as np
import pytest

from xlandslide.learners import GBM
from xlandslide.learners.trees import TILE, bit_tables, compile_trees, tree_logits

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


def _codes(values, n_classes):
    """uint8 codes of a float column (255 where it holds no integer 0..255), and the column
    LightGBM sees for them (NaN where the code is >= ``n_classes``)."""
    ok = np.isfinite(values) & (values >= 0) & (values <= 255) & (values == np.round(values))
    codes = np.where(ok, values, 255).astype(np.uint8)
    return codes, np.where(codes >= n_classes, np.nan, codes.astype(np.float64))


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
    walked = tree_logits(trees, probe)
    np.testing.assert_allclose(walked, ref, rtol=0, atol=1e-12)
    if params.get("zero_as_missing"):
        assert tables is None  # not tabulated: the walking kernel serves it
    else:
        assert tables is not None
        got = tree_logits(trees, probe, tables=tables)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    # the categorical column as uint8 codes, those >= 30 classes missing (NaN for LightGBM)
    codes, as_lgb = _codes(probe[:, 2], 30)
    oracle = booster.predict(np.c_[probe[:, :2], as_lgb], raw_score=True)
    for t in (None, tables):
        got = tree_logits(trees, probe[:, :2], codes[:, None], (30,), tables=t)
        np.testing.assert_allclose(got, oracle, rtol=0, atol=1e-12)
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
        gbm.predict_logit(table.continuous, table.codes), ref, rtol=0, atol=1e-12
    )
    assert gbm.compiled()[1] is not None  # the bit tables, not the walk


def test_tables_that_do_not_fit_fall_back_to_none():
    x, y = _data(500, 1, 0.0)
    booster = lgb.train({"objective": "binary", "verbosity": -1}, lgb.Dataset(x, label=y), 5)
    assert bit_tables(compile_trees(booster.dump_model()), max_bytes=1) is None


def test_smooth_rows_over_several_tiles_equal_lightgbm():
    """Image-like rows: long runs of equal and nearly equal values (the table kernel then
    redoes only the rows that change and reorders the features every TILE rows), float32
    continuous columns read in place, codes with missing classes."""
    x, y = _data(3000, 2, 0.1)
    full = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 3}
    booster = lgb.train(full, lgb.Dataset(x, label=y, categorical_feature=[2]), 80)
    trees = compile_trees(booster.dump_model())
    tables = bit_tables(trees)
    n = 3 * TILE + 123
    i = np.arange(n)
    cont = np.c_[np.sin(i / 900.0) * 2, np.round(np.cos(i / 3000.0) * 8) / 4].astype(np.float32)
    cont[(i // 700) % 5 == 3, 1] = np.nan  # a missing stretch
    codes = ((i // 1500) % 33).astype(np.uint8)[:, None]  # 30, 31, 32: no class
    codes[(i // 200) % 17 == 4] = 255
    _, as_lgb = _codes(codes[:, 0].astype(np.float64), 30)
    ref = booster.predict(np.c_[cont.astype(np.float64), as_lgb], raw_score=True)
    got = tree_logits(trees, cont, codes, (30,), tables)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tree_logits(trees, cont, codes, (30,)), ref, rtol=0, atol=1e-12)
