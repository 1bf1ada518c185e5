"""Tests of xlandslide.train.select: the paper's |LLR weight| >= 0.2 rule, and the step."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import xlandslide as xl
from tests.train.common import quick, tiny, tiny_patches
from xlandslide.errors import ConfigError, XLandslideWarning
from xlandslide.train import AlignedSelection, rank_aligned, select_aligned_features

fit_mod = sys.modules["xlandslide.train.fit"]


def test_rank_aligned_rule():
    names = ["slope", "a", "b", "c", "dem"]
    w = np.array([0.5, -0.19, -0.2, 0.05, -1.0])
    assert rank_aligned(w, names) == ("slope", "b", "dem")  # |w| >= 0.2, in feature order
    assert rank_aligned(w, names, max_features=2) == ("slope", "dem")  # the largest |w|
    assert rank_aligned(w, names, threshold=0.1) == ("slope", "a", "b", "dem")
    assert rank_aligned(w.tolist(), tuple(names), threshold=0.2, max_features=1) == ("dem",)


def test_rank_aligned_ties_follow_the_feature_order():
    assert rank_aligned([0.3, -0.3, 0.3], ["x", "y", "z"], max_features=2) == ("x", "y")


def test_rank_aligned_fallback_warns():
    names = ["a", "b", "c"]
    with pytest.warns(XLandslideWarning, match="using the 2 largest"):
        got = rank_aligned([0.01, -0.1, 0.05], names, max_features=2)
    assert got == ("b", "c")
    with pytest.warns(XLandslideWarning, match="using the 3 largest"):
        assert rank_aligned([0.0, 0.0, 0.0], names) == ("a", "b", "c")
    many = [f"f{i}" for i in range(30)]
    with pytest.warns(XLandslideWarning, match="using the 22 largest"):
        assert len(rank_aligned(np.linspace(0.01, 0.1, 30), many)) == 22  # the paper's count


@pytest.mark.parametrize(
    ("weights", "names", "kwargs", "match"),
    [
        ([0.3, 0.1, -0.4], ["x", "y"], {}, "3 weights for 2 feature names"),
        ([np.nan, 1.0], ["x", "y"], {}, "finite"),
        ([np.inf, 1.0], ["x", "y"], {}, "finite"),
        ([0.3, 0.5], ["x", "y"], {"max_features": 0}, "max_features"),
    ],
)
def test_rank_aligned_errors(weights, names, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        rank_aligned(weights, names, **kwargs)


@pytest.fixture(scope="module")
def llr():
    return xl.fit(
        tiny(), "llr", patches=tiny_patches(), config=quick("llr", epochs=2), progress=False
    )


def test_select_with_a_given_llr_trains_nothing(llr, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an LLR was given: nothing to train")

    monkeypatch.setattr(fit_mod, "train_module", refuse)
    sel = select_aligned_features(tiny(), tiny_patches(), llr=llr)
    assert isinstance(sel, AlignedSelection)
    names = llr.spec.feature_names
    w = llr.module.linear_weights()
    assert sel.names == rank_aligned(w, names)
    assert sel.llr is llr
    assert list(sel.weights) == list(names) and len(names) == 94
    assert sel.weights == {n: float(v) for n, v in zip(names, w)}
    assert all(abs(sel.weights[n]) >= 0.2 for n in sel.names)
    assert all(abs(v) < 0.2 for n, v in sel.weights.items() if n not in sel.names)
    few = select_aligned_features(tiny(), tiny_patches(), llr=llr, threshold=0.5, max_features=2)
    assert few.names == rank_aligned(w, names, threshold=0.5, max_features=2)


def test_select_trains_an_llr_when_none_is_given(llr, monkeypatch):
    calls = []
    original = fit_mod.fit

    def recording(region, model, **kwargs):
        calls.append((model, kwargs))
        return original(region, model, **kwargs)

    monkeypatch.setattr(fit_mod, "fit", recording)
    sel = select_aligned_features(
        tiny(), tiny_patches(), config=quick("llr", epochs=2), progress=False, cache_bytes=1 << 20
    )
    assert [c[0] for c in calls] == ["llr"]
    assert calls[0][1]["cache_bytes"] == 1 << 20  # fit's keywords pass through
    assert sel.llr.name == "llr"
    # the same data, settings and seed: the same LLR as the fixture's, so the same names
    for key, tensor in llr.module.state_dict().items():
        assert torch.equal(sel.llr.module.state_dict()[key], tensor)
    assert sel.names == rank_aligned(sel.llr.module.linear_weights(), sel.llr.spec.feature_names)
    # and the names are what an aligned model takes
    spec = xl.ModelSpec("lacnn", sel.llr.spec.layout, aligned=sel.names, distances=(30.0,))
    assert spec.aligned == sel.names


def test_select_refuses_a_model_that_is_not_an_llr(llr):
    from tests.test_model import make_model

    with pytest.raises(ConfigError, match="llr must be an LLR"):
        select_aligned_features(tiny(), tiny_patches(), llr=make_model("cnn"))
    with pytest.raises(ConfigError, match="llr must be an LLR"):
        select_aligned_features(tiny(), tiny_patches(), llr=llr.module)
