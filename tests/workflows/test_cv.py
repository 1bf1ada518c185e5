"""Tests of xlandslide.workflows.cv: cross_validate against its definition, step by step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xlandslide as xl
from tests.helpers import raise_if_dask_computes, tiny_region
from xlandslide.errors import ConfigError
from xlandslide.grid import PatchGeometry
from xlandslide.patches.grid import mask_patches
from xlandslide.train import TrainConfig
from xlandslide.workflows.cv import compare, cross_validate, hanley_mcneil_se

GEOM = PatchGeometry(core=32, halo=16)
CFG = {
    "llr": TrainConfig.paper("llr", epochs=2, batch_size=4, lr=0.05, device="cpu"),
    "lann": TrainConfig.paper("lann", epochs=2, batch_size=4, lr=0.01, device="cpu"),
}
OPTS = {"lann": {"hidden": [4], "dropout": 0.1}}


@pytest.fixture(scope="module")
def region():
    return tiny_region(distances=(30.0, 100.0), halo=16).compute()


@pytest.fixture(scope="module")
def folds(region):
    return xl.spatial_folds(region, "kmeans", k=3, seed=0, buffer=20.0)


@pytest.fixture(scope="module")
def result(region, folds):
    return cross_validate(
        region, ["naive", "llr", "lann"], folds, geometry=GEOM, configs=CFG, model_configs=OPTS
    )


def test_each_fold_is_the_documented_fit_and_score(region, folds, result):
    """The LLR of fold 1 is fit() on the fold's masks; its row is evaluate() on the test."""
    f, v = 1, 2
    train = folds.train_mask(f, region, exclude=[v]).compute()
    val = folds.test_mask(v, region).compute()
    test = folds.test_mask(f, region).compute()
    # the held-out pixels never train: test and validation are disjoint from training
    assert not (train & test).any() and not (train & val).any()
    ps = mask_patches(region, GEOM, train=train, val=val, test=test)
    ref = xl.fit(
        region,
        "llr",
        patches=ps,
        config=CFG["llr"],
        train_mask=train,
        val_mask=val,
        progress=False,
    )
    got = result.models["llr"][f]
    for a, b in zip(ref.module.state_dict().values(), got.module.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    row = result.table[(result.table.model == "llr") & (result.table.fold == f)].iloc[0]
    m = xl.evaluate(xl.predict(region, ref), region["label"], test)
    assert row["auc"] == pytest.approx(m["auc"]) and row["nll"] == pytest.approx(m["nll"])
    assert row["pr_auc"] == pytest.approx(m["pr_auc"]) and row["brier"] == pytest.approx(m["brier"])
    assert row["n_pixels"] == m["n_pixels"] == int(test.sum())
    ece = xl.calibration(xl.predict(region, ref), region["label"], test, bins=10)["ece"]
    assert row["ece"] == pytest.approx(ece)
    # the Naive model of the fold is the training ratio of its pixels
    naive = result.models["naive"][f]
    assert naive.module.ratio == pytest.approx(xl.naive_ratio(region["label"], train), rel=1e-6)
    # the LANN reads what the fold's LLR chose
    assert result.models["lann"][f].spec.aligned == result.aligned[f]


def test_table_summary_and_out_of_fold_map(region, folds, result):
    t = result.table
    assert list(t.model.unique()) == ["naive", "llr", "lann"] and len(t) == 9
    s = result.summary()
    for name in ("llr", "lann"):
        aucs = t[t.model == name]["auc"].to_numpy()
        assert s.loc[name, "auc_mean"] == pytest.approx(aucs.mean())
        assert s.loc[name, "auc_sd"] == pytest.approx(aucs.std(ddof=1))
        assert s.loc[name, "min_auc"] == pytest.approx(aucs.min())
    assert "±" in result.format() and "lann" in result.format()
    # the out-of-fold map: each pixel from the model of its own fold (lazy until asked)
    oof = result.oof["llr"]
    assert oof.chunks is not None
    ids = folds.fold_ids(region).values
    values = oof.values
    for f in range(3):
        own = result.maps["llr"][f].values
        np.testing.assert_array_equal(values[ids == f], own[ids == f])
    pooled = xl.evaluate(oof, region["label"])
    assert 0 <= pooled["auc"] <= 1
    # the fold ensemble predicts the mean of the fold models
    ens = result.ensemble("llr")
    assert len(ens) == 3
    mean = np.mean([m.values for m in result.maps["llr"]], axis=0)
    np.testing.assert_allclose(xl.predict(region, ens).values, mean, atol=1e-6)


def test_paired_gap_of_two_models_on_every_fold(region, folds, result):
    """cv.paired: per fold, DeLong on exactly the fold's held-out pixels of both maps."""
    from xlandslide.evaluate.paired import delong

    table = result.paired(region, "lann", "llr")
    assert list(table.fold) == [0, 1, 2]
    label = region["label"].values
    for f in range(3):
        held = folds.test_mask(f, region).values & (label >= 0)
        a, b = (result.maps[m][f].values[held] for m in ("lann", "llr"))
        want = delong(a, b, label[held])
        row = table.iloc[f]
        assert row["difference"] == pytest.approx(want["difference"], abs=1e-12)
        assert row["se"] == pytest.approx(want["se"], abs=1e-12)
        assert row["n_pixels"] == held.sum()
        # the fold's AUC in the CV table is the same figure
        t = result.table
        auc = t[(t.model == "llr") & (t.fold == f)]["auc"].item()
        assert row["auc_llr"] == pytest.approx(auc, abs=1e-6)
    # tiles of 8 pixels as the independent units: the same gap, the clustered error
    from xlandslide.evaluate.paired import tile_clusters
    from xlandslide.grid import pixel_size

    tiled = result.paired(region, "lann", "llr", tile_size=8 * pixel_size(region))
    tiles = tile_clusters(label.shape, 8)
    for f in range(3):
        held = folds.test_mask(f, region).values & (label >= 0)
        a, b = (result.maps[m][f].values[held] for m in ("lann", "llr"))
        want = delong(a, b, label[held], clusters=tiles[held])
        row = tiled.iloc[f]
        assert row["difference"] == pytest.approx(table.iloc[f]["difference"], abs=1e-12)
        assert row["se"] == pytest.approx(want["se"], abs=1e-12)
        assert row["n_clusters"] == want["n_clusters"] == len(np.unique(tiles[held]))
    with pytest.raises(xl.EvaluationError, match="no model 'cnn'"):
        result.paired(region, "cnn")


def test_random_folds_side_by_side(region, result):
    rnd = xl.spatial_folds(region, "random", k=3, seed=0)
    res = cross_validate(region, ["llr"], rnd, geometry=GEOM, configs=CFG, validation=None)
    side = compare({"spatial": result, "random": res})
    assert ("random - spatial", "mean") in side.columns
    assert side.loc["llr", ("random - spatial", "mean")] == pytest.approx(
        res.summary().loc["llr", "auc_mean"] - result.summary().loc["llr", "auc_mean"]
    )


def test_seed_ensembles(region, folds):
    res = cross_validate(region, ["llr"], folds, geometry=GEOM, configs=CFG, seeds=(0, 1))
    m = res.models["llr"][0]
    assert type(m).__name__ == "EnsembleModel" and len(m) == 2


def test_a_network_keeps_its_warm_start_unless_it_beats_it_beyond_the_margin(region, folds):
    """With a linear skip the LANN starts as the fold's LLR; a margin no gain can pass keeps
    the LLR on every fold (the same map), and the table says so (``kept`` 0)."""
    opts = {"lann": {"hidden": [4], "linear_skip": True}}
    lann = CFG["lann"].replace(lr=0.05, epochs=3)
    runs = {}
    for margin in (None, 1e6):
        configs = {**CFG, "lann": lann.replace(accept_margin=margin)}
        runs[margin] = cross_validate(
            region, ["llr", "lann"], folds, geometry=GEOM, configs=configs, model_configs=opts
        )
    free, strict = runs[None].table, runs[1e6].table
    assert free[free.model == "llr"]["kept"].isna().all()  # no warm start, nothing to keep
    best = free[free.model == "lann"]["best_epoch"].to_numpy()
    np.testing.assert_array_equal(free[free.model == "lann"]["kept"], (best > 0).astype(float))
    assert (best > 0).any()  # the test below has something to refuse
    assert (strict[strict.model == "lann"]["kept"] == 0).all()
    assert (strict[strict.model == "lann"]["best_epoch"] == 0).all()
    for f in range(folds.k):
        np.testing.assert_allclose(
            runs[1e6].maps["lann"][f].values, runs[1e6].maps["llr"][f].values, atol=1e-5
        )
        # the same training as without a margin: only the choice at the end differs
        assert runs[1e6].models["lann"][f].history.get("trained_best_epoch", 0) == best[f]


def test_an_aligned_model_starts_where_its_base_does_unless_chained(region, folds):
    """Default (``CHAIN_ALIGNED`` off): the LANN starts from the fold's LLR, as the NN does,
    so the two differ by the aligned gather alone; ``chain=True``: from the fold's NN.  A
    margin no gain passes keeps the LANN at its start, which shows which start it had."""
    from xlandslide.train.defaults import CHAIN_ALIGNED

    opts = {n: {"hidden": [4], "linear_skip": True} for n in ("nn", "lann")}
    nn = TrainConfig.paper("nn", epochs=3, batch_size=4, lr=0.05, device="cpu")
    configs = {**CFG, "nn": nn, "lann": CFG["lann"].replace(accept_margin=1e6)}
    runs = {
        chain: cross_validate(
            region,
            ["llr", "nn", "lann"],
            folds,
            geometry=GEOM,
            configs=configs,
            model_configs=opts,
            **({} if chain is None else {"chain": chain}),
        )
        for chain in (None, True)
    }
    assert CHAIN_ALIGNED is False and runs[None].settings["chain"] is False
    assert runs[True].settings["chain"] is True
    moved = 0
    for f in range(folds.k):
        llr, nn = (runs[None].maps[n][f].values for n in ("llr", "nn"))
        np.testing.assert_allclose(runs[None].maps["lann"][f].values, llr, atol=1e-5)
        np.testing.assert_allclose(runs[True].maps["lann"][f].values, nn, atol=1e-5)
        moved += float(np.nanmax(np.abs(nn - llr))) > 1e-3  # the NN left the LLR
    assert moved  # so the two starts differ on some fold


def test_predict_is_lazy_for_an_ensemble(region, result):
    ens = result.ensemble("llr")
    with raise_if_dask_computes():
        prob = xl.predict(region, ens)
    assert prob.chunks is not None


def test_hanley_mcneil():
    # the closed form of Hanley & McNeil (1982): AUC 0.5 with 50 + 50 points
    assert hanley_mcneil_se(0.5, 50, 50) == pytest.approx(
        np.sqrt((0.25 + 49 * (1 / 3 - 0.25) * 2) / 2500)
    )
    assert np.isnan(hanley_mcneil_se(0.7, 0, 10))


def test_errors(region, folds):
    with pytest.raises(ConfigError, match="SpatialFolds"):
        cross_validate(region, ["llr"], [0, 1])
    with pytest.raises(ConfigError, match="distinct"):
        cross_validate(region, ["llr", "LLR"], folds)
    with pytest.raises(ConfigError, match="validation"):
        cross_validate(region, ["llr"], folds, validation="random")
    with pytest.raises(ConfigError, match="TrainConfig"):
        cross_validate(region, ["llr"], folds, geometry=GEOM, configs={"llr": {"lr": 1}})
