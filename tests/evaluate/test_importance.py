"""Tests of xlandslide.evaluate.importance: LLR weights, shuffles, permutation importance,
the uncertainty map of an ensemble."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings

import xlandslide as xl
from tests.helpers import custom_region, raise_if_dask_computes
from tests.strategies import yx_chunks
from xlandslide.errors import ConfigError
from xlandslide.evaluate.importance import (
    llr_weights,
    permutation_importance,
    shuffled,
    uncertainty_map,
)
from xlandslide.model import LandslideModel, spec_for_region
from xlandslide.train.ensemble import EnsembleModel


def llr_with(region, weights, bias=-2.0):
    """An LLR whose weights are set by hand (features: a, b, soil c0..c2, cover c0..c1)."""
    spec = spec_for_region("llr", region)
    module = spec.build_module()
    with torch.no_grad():
        module.body.weight.copy_(torch.tensor(weights, dtype=torch.float32).view(1, -1, 1, 1))
        module.body.bias.fill_(bias)
    return LandslideModel(module, spec)


@pytest.fixture(scope="module")
def region():
    r = custom_region((48, 56), seed=3)
    a = r["continuous"].sel(layer="a").values
    rng = np.random.default_rng(0)
    lab = (rng.random(a.shape) < 1 / (1 + np.exp(-(3 * a - 2)))).astype(np.int8)
    lab[np.isnan(a)] = -1
    r["label"][:] = lab
    return r


def test_llr_weights_table(region):
    m = llr_with(region, [3.0, -0.5, 0, 0.2, 0, 0, 1.0])
    t = llr_weights(m)
    assert list(t.feature[:3]) == ["a", "cover_c1", "b"]
    assert t.weight.tolist()[:3] == pytest.approx([3.0, 1.0, -0.5])
    ens = EnsembleModel([m, llr_with(region, [1.0, -0.5, 0, 0.2, 0, 0, 1.0])])
    t = llr_weights(ens)
    assert t.loc[t.feature == "a", "weight"].item() == pytest.approx(2.0)
    assert t.loc[t.feature == "a", "sd"].item() == pytest.approx(np.std([3, 1], ddof=1))
    with pytest.raises(ConfigError, match="LLR"):
        llr_weights(
            xl.fit(region, "naive", patches=xl.make_patches(region, xl.PatchGeometry(8, 2)))
        )


def test_shuffle_permutes_within_tiles(region):
    layer = region["continuous"].sel(layer="a")
    out = shuffled(layer, seed=1, tile=16).values
    src = layer.values
    np.testing.assert_array_equal(np.isnan(out), np.isnan(src))
    for i in range(0, 48, 16):
        for j in range(0, 56, 16):
            a, b = src[i : i + 16, j : j + 16], out[i : i + 16, j : j + 16]
            np.testing.assert_array_equal(np.sort(a[~np.isnan(a)]), np.sort(b[~np.isnan(b)]))
    assert (out[~np.isnan(src)] != src[~np.isnan(src)]).mean() > 0.9
    codes = region["categorical"].sel(group="soil")
    sc = shuffled(codes, seed=1, tile=16).values
    np.testing.assert_array_equal(sc == 255, codes.values == 255)
    with raise_if_dask_computes():
        shuffled(layer.chunk(10))


@settings(max_examples=6, deadline=None)
@given(chunks=yx_chunks((48, 56)))
def test_shuffle_does_not_depend_on_chunks(region, chunks):
    layer = region["continuous"].sel(layer="b")
    ref = shuffled(layer, seed=2, repeat=1, tile=20).values
    got = shuffled(layer.chunk(dict(zip(("y", "x"), chunks))), seed=2, repeat=1, tile=20)
    np.testing.assert_array_equal(got.values, ref)


def test_permutation_importance_against_a_direct_computation(region):
    model = llr_with(region, [3.0, 0.0, 0, 0, 0, 0.0, 0.0])  # only "a" matters
    t = permutation_importance(region, model, n_repeats=2, seed=0, tile=64)
    row = t.set_index("name")
    assert t.name.iloc[0] == "a" and row.loc["a", "importance"] > 0.2
    for name in ("b", "soil", "cover"):
        assert row.loc[name, "importance"] == pytest.approx(0.0, abs=1e-12)
    assert row.loc["soil", "kind"] == "group"
    # by hand: the AUC with "a" shuffled (repeat 0) from the shuffled layer itself
    base = xl.evaluate(xl.predict(region, model), region["label"])["auc"]
    a = shuffled(region["continuous"].sel(layer="a"), seed=0, repeat=0, tile=64).values
    prob = 1 / (1 + np.exp(-(3 * np.nan_to_num(a) - 2)))
    prob[np.isnan(region["continuous"].values).any(0)] = np.nan
    lab = region["label"].values
    from sklearn.metrics import roc_auc_score

    ok = (lab >= 0) & np.isfinite(prob)
    drop0 = base - roc_auc_score(lab[ok], prob[ok])
    a1 = shuffled(region["continuous"].sel(layer="a"), seed=0, repeat=1, tile=64).values
    prob1 = 1 / (1 + np.exp(-(3 * np.nan_to_num(a1) - 2)))
    prob1[~ok] = np.nan
    drop1 = base - roc_auc_score(lab[ok], prob1[ok])
    assert row.loc["a", "importance"] == pytest.approx((drop0 + drop1) / 2, abs=1e-5)
    assert row.loc["a", "baseline"] == pytest.approx(base)
    # losses: larger is more important too
    nll = permutation_importance(
        region, model, metric="nll", n_repeats=1, features=["a"], groups=[]
    )
    assert nll.importance.iloc[0] > 0
    with pytest.raises(ConfigError, match="metric"):
        permutation_importance(region, model, metric="accuracy")
    with pytest.raises(ConfigError, match="no continuous layer"):
        permutation_importance(region, model, features=["slope"])


def test_uncertainty_map_of_an_ensemble(region):
    members = [llr_with(region, [w, 0.5, 0, 0, 0, 0, 0]) for w in (1.0, 2.0, 3.0)]
    with raise_if_dask_computes():
        u = uncertainty_map(region, EnsembleModel(members))
    maps = np.stack([xl.predict(region, m).values for m in members])
    np.testing.assert_allclose(u["mean"].values, maps.mean(0), atol=1e-6)
    np.testing.assert_allclose(u["std"].values, maps.std(0), atol=1e-6)
    assert u.attrs["n_members"] == 3
    with pytest.raises(ConfigError, match="at least 2"):
        uncertainty_map(region, members[:1])
