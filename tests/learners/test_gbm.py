"""gbm: the same numbers as lightgbm called directly; the text state; it learns."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from xlandslide.errors import ConfigError, MissingOptionalDependency
from xlandslide.learners import GBM, learner_from_state

from .common import auc, synthetic_table

lgb = pytest.importorskip("lightgbm")


def test_equals_lightgbm_called_directly():
    table = synthetic_table(n=500, seed=0, missing=0.1, weight=True)
    gbm = GBM(num_boost_round=40, num_threads=1, seed=3).fit(table)
    # the same pixels by hand: codes as floats, no-class codes (255) as NaN, declared categorical
    cats = table.codes.astype(float)
    cats[cats == 255] = np.nan
    x = np.c_[table.continuous.astype(float), cats]
    params = {
        "objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
        "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0,
        "max_cat_to_onehot": 4, "cat_smooth": 10.0, "deterministic": True,
        "force_row_wise": True, "verbosity": -1, "seed": 3, "num_threads": 1,
    }  # fmt: skip
    assert gbm.lightgbm_params() == params
    data = lgb.Dataset(x, label=table.label, weight=table.weight, categorical_feature=[2, 3])
    booster = lgb.train(params, data, num_boost_round=40)
    ref = booster.predict(x, raw_score=True)
    got = gbm.predict_logit(table.continuous, table.codes)
    assert got.dtype == np.float64 and got.shape == (500,)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    assert gbm.booster_.dump_model()["feature_names"] == ["slope", "dem", "rock", "cover"]
    # the groups are categorical features: category lists, not ranges
    infos = gbm.booster_.dump_model()["feature_infos"]
    assert sorted(infos["rock"]["values"]) == [-1, 0, 1, 2] and infos["slope"]["values"] == []
    assert "[categorical_feature: 2,3]" in gbm.to_state()["model"]


def test_state_round_trip_and_importance():
    table = synthetic_table(n=400, seed=1)
    gbm = GBM(num_boost_round=30, num_threads=1).fit(table)
    state = gbm.to_state()
    assert isinstance(state["model"], str) and state["model"].startswith("tree")
    again = learner_from_state(state)
    np.testing.assert_array_equal(
        again.predict_logit(table.continuous, table.codes),
        gbm.predict_logit(table.continuous, table.codes),
    )
    gain = gbm.importance()
    assert list(gain.index) == ["slope", "dem", "rock", "cover"]
    assert gain.idxmax() == "slope" and (gain >= 0).all()
    assert gbm.importance("split").sum() > 0


def test_learns_a_known_signal():
    table = synthetic_table(n=2000, seed=2)
    test = synthetic_table(n=2000, seed=3)
    gbm = GBM(num_boost_round=100, num_threads=1).fit(table)
    assert auc(test.label, gbm.predict_logit(test.continuous, test.codes)) > 0.8


def test_missing_lightgbm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm -> ImportError
    with pytest.raises(MissingOptionalDependency, match=r"xlandslide\[gbm\]"):
        GBM().fit(synthetic_table(n=50))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"num_boost_round": 0}, "num_boost_round"),
        ({"num_threads": -1}, "num_threads"),
        ({"params": {"objective": "regression"}}, "binary"),
    ],
)
def test_bad_options(kw, match):
    with pytest.raises(ConfigError, match=match):
        GBM(**kw)
