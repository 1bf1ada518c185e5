"""The field's learners as registry models: fit, save, load, predict lazily, CV, tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xlandslide as xl
from xlandslide.errors import CheckpointError
from xlandslide.evaluate.importance import model_tables
from xlandslide.learners import build_learner
from xlandslide.train.table import pixel_table

from ..train.common import TINY_GEOM, tiny, tiny_aligned, tiny_patches


@pytest.fixture(scope="module")
def region():
    return tiny()


@pytest.mark.parametrize("name", ["fr", "woe", "gam", "gbm"])
def test_fit_equals_the_learner_on_the_training_pixels(region, name, tmp_path):
    patches = tiny_patches()
    options = {"num_boost_round": 20, "num_threads": 1} if name == "gbm" else {}
    model = xl.fit(region, name, patches=patches, model_config=options, progress=False)
    # the oracle: the learner called directly on the same training pixels
    table = pixel_table(region, patches.core_mask("train", like=region))
    direct = build_learner(name, **options).fit(table)
    lazy = xl.predict(region, model)
    assert lazy.chunks is not None  # lazy, block by block
    got = lazy.values
    cont = np.moveaxis(region["continuous"].values, 0, -1).reshape(-1, 2)
    codes = np.moveaxis(region["categorical"].values, 0, -1).reshape(-1, 4)
    want = 1 / (1 + np.exp(-direct.predict_logit(cont, codes))).reshape(got.shape)
    inside = np.isfinite(got)
    np.testing.assert_allclose(got[inside], want[inside], rtol=1e-5, atol=1e-7)
    # save / load: the same map; the booster travels as its own text model
    path = tmp_path / f"{name}.pt"
    xl.save_model(model, path)
    again = xl.load_model(path)
    np.testing.assert_array_equal(xl.predict(region, again).values, got)
    if name in ("fr", "woe"):
        assert {"w_plus", "contrast", "s_contrast", "fr"} <= set(model_tables(model)["classes"])
    if name == "gbm":
        assert model_tables(model)["gain"]["gain"].sum() > 0
    if name == "gam":
        assert set(model_tables(model)["effects"]["layer"]) == {"slope", "dem"}


def test_aligned_learner_reads_the_uphill_features(region):
    patches = tiny_patches()
    model = xl.fit(
        region, "lagam", patches=patches, aligned=tiny_aligned(), distances=[30.0], progress=False
    )
    assert model.spec.needs_offsets and model.history["n_pixels"] > 0
    n_cont = model.module.fitted.layout.n_continuous
    assert n_cont == 2 + len(tiny_aligned())  # the aligned columns after the layers
    assert np.isfinite(xl.predict(region, model).values).any()


def test_a_tampered_payload_is_refused(region, tmp_path):
    model = xl.fit(region, "woe", patches=tiny_patches(), progress=False)
    path = tmp_path / "woe.pt"
    xl.save_model(model, path)
    obj = torch.load(path, weights_only=True)
    payload = obj["state_dict"]["payload"].clone()
    payload[10] = (int(payload[10]) + 1) % 256
    obj["state_dict"]["payload"] = payload
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match=r"SHA-256|payload"):
        xl.load_model(path)


def test_learners_in_cross_validate(region):
    folds = xl.spatial_folds(region, "blocks", k=3, block_size=400.0)
    cv = xl.cross_validate(region, ["llr", "woe", "gam"], folds, geometry=TINY_GEOM)
    assert set(cv.table["model"]) == {"llr", "woe", "gam"}
    assert cv.table["auc"].notna().all()


def test_cli_trains_a_gam_and_writes_its_tables_and_effects(region, tmp_path, capsys):
    from xlandslide.cli import main

    store = tmp_path / "r.zarr"
    xl.write_region(region, store)
    model = tmp_path / "gam.pt"
    argv = ["train", str(store), "--model", "gam", "--out", str(model), "--core", "32"]
    assert main([*argv, "--halo", "16", "--keep-degenerate"]) == 0
    out = tmp_path / "gam_importance.csv"
    argv = ["importance", str(store), str(model), "--out", str(out), "--repeats", "1"]
    assert main(argv) == 0
    effects = tmp_path / "gam_importance.effects.csv"
    assert effects.exists() and effects.with_suffix(".png").exists()
    import pandas as pd

    assert set(pd.read_csv(effects)["layer"]) == {"slope", "dem"}


def test_learner_forwards_run_side_by_side_on_the_cpu(region):
    """dask's threads run a learner's blocks at once: its forward takes no device lock on
    the CPU (its kernels are single-threaded); the networks and other devices keep theirs."""
    import threading

    from xlandslide._device import device_lock, forward_lock

    model = xl.fit(region, "woe", patches=tiny_patches(), progress=False)
    cpu = torch.device("cpu")
    cont = region["continuous"].values[None]
    codes = region["categorical"].values[None]
    want = model.predict_proba(cont, codes, lookup=True)
    got = []
    with device_lock(cpu):  # another forward holds the CPU: the learner's still runs
        thread = threading.Thread(target=lambda: got.append(model.predict_proba(cont, codes)))
        thread.start()
        thread.join(60)
        assert got, "the learner's forward waited for the CPU's device lock"
    np.testing.assert_array_equal(got[0], want)
    assert forward_lock(cpu, torch.nn.Linear(1, 1)) is device_lock(cpu)
    assert forward_lock(torch.device("cuda", 0), model.module) is device_lock("cuda:0")
