"""Tests of xlandslide.train.ensemble (seed ensembles) and xlandslide.train.presets."""

from __future__ import annotations

import numpy as np
import pytest

import xlandslide as xl
from tests.helpers import custom_region
from xlandslide.errors import ConfigError
from xlandslide.grid import PatchGeometry
from xlandslide.train import TrainConfig
from xlandslide.train.ensemble import EnsembleModel, fit_ensemble
from xlandslide.train.presets import POINT_SETTINGS, point_inventory


@pytest.fixture(scope="module")
def trained():
    region = custom_region((40, 48), seed=1)
    ps = xl.make_patches(region, PatchGeometry(8, 2), seed=0)
    cfg = TrainConfig.paper("nn", epochs=1, batch_size=4, device="cpu")
    ens = fit_ensemble(
        region,
        "nn",
        seeds=(0, 1, 2),
        patches=ps,
        config=cfg,
        model_config={"hidden": [4], "dropout": 0.2},
        progress=False,
    )
    return region, ps, cfg, ens


def test_seed_ensemble_is_the_mean_of_its_seeds(trained):
    region, ps, cfg, ens = trained
    assert isinstance(ens, EnsembleModel) and len(ens) == 3 and ens.name == "nn"
    seeds = [m.spec.train_config["seed"] for m in ens.members]
    assert seeds == [0, 1, 2]
    one = xl.fit(
        region,
        "nn",
        patches=ps,
        config=cfg.replace(seed=1),
        model_config={"hidden": [4], "dropout": 0.2},
        progress=False,
    )
    x = np.nan_to_num(region["continuous"].values[None], nan=0.0)
    c = region["categorical"].values[None]
    np.testing.assert_allclose(one.predict_proba(x, c), ens.members[1].predict_proba(x, c))
    mean = np.mean([m.predict_proba(x, c) for m in ens.members], axis=0)
    np.testing.assert_allclose(ens.predict_proba(x, c), mean, rtol=1e-6)
    # predict streams it like one model
    prob = xl.predict(region, ens).values
    inside = np.isfinite(prob)
    assert inside.mean() > 0.8
    # one seed: the plain model
    assert isinstance(
        fit_ensemble(
            region,
            "nn",
            seeds=(3,),
            patches=ps,
            config=cfg,
            model_config={"hidden": [4]},
            progress=False,
        ),
        xl.LandslideModel,
    )


def test_ensemble_members_must_match(trained):
    region, ps, _, ens = trained
    llr = xl.fit(
        region,
        "llr",
        patches=ps,
        config=TrainConfig.paper("llr", epochs=1, device="cpu"),
        progress=False,
    )
    with pytest.raises(ConfigError, match="same model"):
        EnsembleModel([ens.members[0], llr])
    with pytest.raises(ConfigError, match="at least one"):
        EnsembleModel([])
    with pytest.raises(ConfigError, match="seeds"):
        fit_ensemble(region, "llr", seeds=(), patches=ps)


def test_point_inventory_presets():
    for name in POINT_SETTINGS:
        p = point_inventory(name)
        assert isinstance(p["config"], TrainConfig) and p["config"].early_stopping
        assert p["oversample"] == 1 and p["core"] >= 32
        xl.models.build_model(
            name,
            n_continuous=2,
            aligned_index=[0] if name in ("lann", "lacnn") else (),
            n_distances=1 if name in ("lann", "lacnn") else 0,
            **p["model_config"],
        )
    assert point_inventory("llr")["seeds"] == (0,)
    assert point_inventory("lacnn", epochs=3)["config"].epochs == 3
    with pytest.raises(ConfigError, match="not trained"):
        point_inventory("naive")


def test_each_seed_starts_from_its_paired_member(trained, monkeypatch):
    """An ensemble warm-started from an ensemble of networks pairs member i with seed i (a
    LACNN chained from a CNN ensemble), cycling when the start has fewer members; an LLR (or
    an ensemble of LLRs) starts every seed."""
    import sys

    fit_module = sys.modules["xlandslide.train.fit"]  # the package re-exports fit over it
    region, ps, cfg, ens = trained
    llr = xl.fit(region, "llr", patches=ps, progress=False)
    seen = []

    def record(region, model, *, config, warm_start=None, **kwargs):
        seen.append((config.seed, warm_start))
        return ens.members[0]

    monkeypatch.setattr(fit_module, "fit", record)
    fit_ensemble(region, "nn", seeds=(5, 6, 7, 8), config=cfg, warm_start=ens, patches=ps)
    assert [s for s, _ in seen] == [5, 6, 7, 8]
    assert [w for _, w in seen] == [*ens.members, ens.members[0]]
    seen.clear()
    fit_ensemble(region, "nn", seeds=(0, 1), config=cfg, warm_start=llr, patches=ps)
    assert [w for _, w in seen] == [llr, llr]
