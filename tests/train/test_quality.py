"""Degenerate models are flagged: by fit, in the checkpoint, in the CV table, by the CLI."""

from __future__ import annotations

import numpy as np
import pytest

import xlandslide as xl
from xlandslide.train.quality import MIN_LOGIT_SPREAD, QualityAccumulator, is_degenerate

from .common import TINY_GEOM, tiny, tiny_patches


def test_accumulator_against_a_hand_computation():
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.2).astype(float)
    z = rng.normal(-1.5, 1.0, 500) + 2 * y
    acc = QualityAccumulator(0.2)
    acc.add(z[:200], y[:200])
    acc.add(z[200:], y[200:])
    r = acc.result()
    lm = np.logaddexp(0, z) - y * z
    b = np.log(0.2 / 0.8)
    ln = np.logaddexp(0, b) - y * b
    d = ln - lm
    assert r["gain"] == pytest.approx(d.mean())
    assert r["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(500))
    assert r["logit_spread"] == pytest.approx(np.subtract(*np.percentile(z, [99, 1])), rel=1e-5)
    from sklearn.metrics import roc_auc_score

    assert r["auc"] == pytest.approx(roc_auc_score(y, z))
    assert not r["degenerate"]
    # ranking better than chance is learning, even when the loss gain is within noise
    few = QualityAccumulator(0.5)
    yy = np.array([0, 1] * 30)
    few.add(np.where(yy == 1, 0.3, -0.3) + rng.normal(0, 0.05, 60) + 2.0, yy)
    r = few.result()
    assert r["z"] < 2 < r["auc_z"] and not r["degenerate"]
    flat = QualityAccumulator(0.2)
    flat.add(np.full(500, b + 0.01), y)
    r = flat.result()
    assert r["degenerate"] and r["logit_spread"] < MIN_LOGIT_SPREAD and len(r["reasons"]) == 2


def _broken(region, patches, **changes):
    cfg = xl.TrainConfig.default("nn", epochs=2, device="cpu", early_stopping=None, **changes)
    return xl.fit(region, "nn", patches=patches, config=cfg, progress=False)


def test_a_learning_rate_of_10_is_flagged_by_fit_and_recorded(tmp_path):
    region, patches = tiny(), tiny_patches()
    with pytest.warns(xl.DegenerateModelWarning, match="degenerate"):
        model = _broken(region, patches, lr=10.0, clip_norm=None)
    q = model.history["quality"]
    assert q["checked"] and q["degenerate"] and is_degenerate(model)
    xl.save_model(model, tmp_path / "nn.pt")
    assert xl.load_model(tmp_path / "nn.pt").history["quality"]["degenerate"]


def _shuffled(region, seed=0):
    rng = np.random.default_rng(seed)
    label = region["label"].values.copy()
    known = label >= 0
    label[known] = rng.permutation(label[known])
    return region.assign(label=region["label"].copy(data=label))


def test_shuffled_labels_are_flagged():
    shuffled, patches = _shuffled(tiny()), tiny_patches()
    with pytest.warns(xl.DegenerateModelWarning):
        model = xl.fit(shuffled, "llr", patches=patches, progress=False)
    assert model.history["quality"]["degenerate"]


def test_a_model_that_learns_is_not_flagged():
    region = xl.synthetic_region((192, 192), seed=4, chunks=96).compute()
    patches = xl.make_patches(region, xl.PatchGeometry(32, 8), seed=0)
    model = xl.fit(region, "llr", patches=patches, progress=False)
    assert not model.history["quality"]["degenerate"], model.history["quality"]


def test_cross_validate_and_the_cli_flag_a_broken_run(tmp_path, capsys):
    """Labels shuffled: the CV table flags every fold; a learning rate of 10: the CLI."""
    region = tiny()
    folds = xl.spatial_folds(region, "random", k=3)
    with pytest.warns(xl.DegenerateModelWarning):
        cv = xl.cross_validate(_shuffled(region), ["llr"], folds, geometry=TINY_GEOM)
    assert cv.table["degenerate"].all()
    # the command line: exit 3 unless --keep-degenerate
    from xlandslide.cli import main

    store = tmp_path / "r.zarr"
    xl.write_region(region, store)
    argv = [
        "train",
        str(store),
        "--model",
        "nn",
        "--out",
        str(tmp_path / "nn.pt"),
        "--lr",
        "10",
        "--epochs",
        "1",
        "--core",
        "32",
        "--halo",
        "16",
        "--device",
        "cpu",
        "--preset",  # the paper's NN: no linear path started from the LLR to fall back to
        "paper",
    ]
    with pytest.warns(xl.DegenerateModelWarning):
        assert main(argv) == 3
    assert "degenerate" in capsys.readouterr().out
    with pytest.warns(xl.DegenerateModelWarning):
        assert main([*argv, "--overwrite", "--keep-degenerate"]) == 0
