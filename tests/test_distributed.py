"""The same lazy graphs on a dask.distributed cluster (process workers) give the same values."""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _small_model(region, name="lacnn"):
    """An untrained (seeded) LACNN (or LANN) for ``region``'s layout, distances 30 and 100 m."""
    import torch

    from xlandslide.grid import PatchGeometry
    from xlandslide.model import LandslideModel, spec_for_region

    spec = spec_for_region(
        name,
        region,
        aligned=("slope", "dem"),
        distances=(30.0, 100.0),
        geometry=PatchGeometry(core=48, halo=16),
        model_config={"base_width": 4} if name == "lacnn" else {"hidden": [8]},
    )
    torch.manual_seed(0)
    return LandslideModel(spec.build_module(), spec)


def test_offsets_and_prediction_on_a_cluster(client):
    import xlandslide

    region = xlandslide.synthetic_region(shape=(150, 170), seed=3, chunks=64)
    region = region.landslide.with_offsets((30, 100), halo=16)
    local_offsets = region["uphill_dy"].compute(scheduler="sync")
    remote_offsets = client.compute(region["uphill_dy"]).result()
    np.testing.assert_array_equal(remote_offsets.values, local_offsets.values)
    for name in ("lacnn", "lann"):  # tiles, and per-pixel strips
        prob = region.landslide.predict(_small_model(region, name))
        local_prob = prob.compute(scheduler="sync")
        remote_prob = client.compute(prob).result()
        np.testing.assert_allclose(remote_prob.values, local_prob.values, rtol=0, atol=1e-6)
        assert np.isfinite(remote_prob.values).mean() > 0.9


def test_the_model_reaches_each_worker_once(client):
    import xlandslide

    def install_counter():  # nested: cloudpickle ships it by value
        import xlandslide.model as ckpt

        cls = ckpt.LandslideModel
        if not hasattr(cls, "_unpickles"):
            original = cls.__setstate__

            def counting(self, state):
                type(self)._unpickles += 1
                original(self, state)

            cls.__setstate__ = counting
        cls._unpickles = 0

    def unpickles():
        import xlandslide.model as ckpt

        return getattr(ckpt.LandslideModel, "_unpickles", 0)

    region = xlandslide.synthetic_region(shape=(160, 160), seed=1, chunks=48)
    region = region.landslide.with_offsets((30, 100), halo=16)
    model = _small_model(region)
    prob = region.landslide.predict(model, block_size=48)  # 4 x 4 blocks (the last of 16 px)
    assert prob.data.npartitions == 16
    client.run(install_counter)
    values = client.compute(prob).result()
    assert np.isfinite(values.values).mean() > 0.9
    counts = client.run(unpickles)
    # a copy in every task would be 16 or more; as one key of the graph it is decoded a
    # couple of times per worker at most (the task that holds it, a transfer to a peer)
    assert 1 <= sum(counts.values()) <= 2 * len(counts), counts


def test_gbm_trains_on_the_cluster_with_lightgbm_dask(client):
    """``GBM.fit_dask`` (``lightgbm.dask`` on 2 workers) from the distributed pixel table:
    the same rows as the local table, and an AUC within 0.01 of the local fit (the oracle)
    on those pixels; the booster saves as text and predicts by the compiled trees."""
    pytest.importorskip("lightgbm")
    from sklearn.metrics import roc_auc_score

    import xlandslide
    from xlandslide.learners import GBM, learner_from_state
    from xlandslide.train.exact import gbm_dask_features
    from xlandslide.train.table import distributed_pixel_table, pixel_table

    region = xlandslide.synthetic_region((256, 256), seed=2, chunks=64)
    local = pixel_table(region, max_pixels=40_000, seed=1)
    table = distributed_pixel_table(region, client=client, max_pixels=40_000, seed=1)
    assert table.layout == local.layout and table.label.shape[0] == local.n
    flat = np.lexsort(np.c_[table.continuous.compute(), table.codes.compute()].T)
    ref = np.lexsort(np.c_[local.continuous, local.codes].T)
    np.testing.assert_array_equal(table.codes.compute()[flat], local.codes[ref])
    np.testing.assert_array_equal(table.weight.compute()[flat], local.weight[ref])

    x = gbm_dask_features(table)
    remote = GBM(num_boost_round=100, num_threads=1)
    remote.fit_dask(x, table.label, table.weight, table.layout, client)
    near = GBM(num_boost_round=100, num_threads=1).fit(local)
    auc = [
        roc_auc_score(local.label, m.predict_logit(local.continuous, local.codes))
        for m in (remote, near)
    ]
    assert auc[0] > 0.9 and abs(auc[0] - auc[1]) < 0.01, auc
    again = learner_from_state(remote.to_state())
    z = again.predict_logit(local.continuous, local.codes)
    x = remote.features(local.continuous, local.codes)
    np.testing.assert_allclose(z, remote.booster_.predict(x, raw_score=True), atol=1e-6)


def test_fit_learner_trains_gbm_on_the_cluster(client):
    """The training entry point with ``client=``: a gbm model trained on the workers, saved
    and loaded like the local one (its booster's text in the checkpoint)."""
    pytest.importorskip("lightgbm")
    import xlandslide
    from xlandslide.model import spec_for_region
    from xlandslide.train.config import TrainConfig
    from xlandslide.train.exact import fit_learner

    region = xlandslide.synthetic_region((192, 192), seed=4, chunks=64)
    spec = spec_for_region("gbm", region, geometry=xlandslide.PatchGeometry(64, 16))
    model = fit_learner(
        region, spec, TrainConfig.default("gbm"), train_mask=None, prior=0.01,
        progress=False, client=client,
    )  # fmt: skip
    state = model.module.fitted.to_state()
    assert state["name"] == "gbm" and state["model"].startswith("tree")
    assert model.history["n_pixels"] == int((region.label >= 0).sum())
    with pytest.raises(xlandslide.errors.ConfigError, match="Dask cluster"):
        woe = spec_for_region("woe", region, geometry=xlandslide.PatchGeometry(64, 16))
        fit_learner(region, woe, TrainConfig.default("woe"), train_mask=None, prior=0.01,
                    progress=False, client=client)  # fmt: skip


def test_fit_takes_a_client_for_gbm_only(client):
    """The public façade: ``xlandslide.fit(..., client=)`` trains gbm on the workers and
    refuses a client for a torch model.  LightGBM's data-parallel training bins and splits
    each worker's share of the rows, so it is not the local booster: on these 27 k pixels the
    two maps' AUCs (0.92 and 0.89 when measured) differ by more than on a larger region
    (0.008 on 512 x 512); the oracle is that both learn and stay within 0.05."""
    pytest.importorskip("lightgbm")
    import xlandslide

    region = xlandslide.synthetic_region((192, 192), seed=4, chunks=64)
    patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(64, 16), seed=0)
    remote = xlandslide.fit(region, "gbm", patches=patches, progress=False, client=client)
    local = xlandslide.fit(region, "gbm", patches=patches, progress=False)
    label = region["label"]
    auc_remote, _ = xlandslide.roc_auc(region.landslide.predict(remote), label)
    auc_local, _ = xlandslide.roc_auc(region.landslide.predict(local), label)
    assert auc_local > 0.8 and auc_remote > 0.8 and abs(auc_remote - auc_local) < 0.05
    with pytest.raises(xlandslide.errors.ConfigError, match="Dask cluster"):
        xlandslide.fit(region, "cnn", patches=patches, progress=False, client=client)


def test_cross_validate_trains_the_cluster_models_on_the_workers(client):
    """``cross_validate(..., client=)``: the LLR trains here as without a client (the same
    AUCs, exactly); the gbm trains on the workers (one ``lightgbm.dask`` training task per
    fold, run by the cluster's workers) and scores as the local one (within 0.02 AUC: on
    this small region each fold's sample lies in one block, so one worker boosts it)."""
    pytest.importorskip("lightgbm")
    from distributed import get_task_stream

    import xlandslide

    region = xlandslide.synthetic_region((96, 96), seed=0)
    with pytest.warns(xlandslide.errors.SmallFoldWarning):  # 96 x 96 pixels in 3 folds
        folds = xlandslide.spatial_folds(region, "kmeans", k=3, seed=0)
    kwargs = {
        "geometry": xlandslide.PatchGeometry(32, 16),
        "model_configs": {"gbm": {"num_boost_round": 20}},
    }
    local = xlandslide.cross_validate(region, ["llr", "gbm"], folds, **kwargs)
    with get_task_stream(client) as stream:
        remote = xlandslide.cross_validate(region, ["llr", "gbm"], folds, client=client, **kwargs)
    auc = {k: r.table.set_index(["model", "fold"])["auc"] for k, r in (("l", local), ("r", remote))}
    np.testing.assert_array_equal(auc["r"]["llr"].values, auc["l"]["llr"].values)
    assert (auc["l"]["gbm"] > 0.6).all()
    np.testing.assert_allclose(auc["r"]["gbm"].values, auc["l"]["gbm"].values, atol=0.02)
    trained = [t for t in stream.data if str(t["key"]).startswith("_train_part")]
    assert len(trained) == folds.k  # lightgbm.dask's training task, once per fold
    assert {t["worker"] for t in trained} <= set(client.scheduler_info()["workers"])
    assert remote.settings["scheduler"] == client.scheduler.address
    assert local.settings["scheduler"] is None
    with pytest.raises(xlandslide.errors.ConfigError, match="models that do: gbm, lagbm"):
        patches = xlandslide.make_patches(region, kwargs["geometry"])
        xlandslide.fit(region, "woe", patches=patches, client=client)


def test_the_registry_says_which_models_train_on_a_cluster(client, capsys):
    """A fact of each entry, not a list of names in the code: the gbm learners, and no other
    (fr, woe and gam are learners too, fitted in the calling process); ``train
    --scheduler`` hands the client to those models only, and says so for the others."""
    from xlandslide.cli._cluster import cluster_keywords
    from xlandslide.models import MODELS, cluster_models, model_entry

    assert cluster_models() == ("gbm", "lagbm")
    learners = {n for n, e in MODELS.items() if e.backend == "learner"}
    assert set(cluster_models()) < learners and "woe" in learners
    assert cluster_keywords(client, model_entry("lagbm")) == {"client": client}
    assert cluster_keywords(None, model_entry("gbm")) == {}
    assert cluster_keywords(client, model_entry("woe")) == {}
    assert "the woe model trains in this process" in capsys.readouterr().out


def test_cli_cv_on_a_local_cluster(tmp_path, capsys, monkeypatch):
    """``xlandslide cv --scheduler local:2``: a LocalCluster for the command, the gbm folds
    trained through ``lightgbm.dask`` (its classifier's ``fit`` called once per fold), the
    tables written, and the client closed at the end of the command."""
    pytest.importorskip("lightgbm")
    import pandas as pd
    from lightgbm.dask import DaskLGBMClassifier

    from xlandslide.cli import main
    from xlandslide.errors import SmallFoldWarning

    calls = []
    original = DaskLGBMClassifier.fit

    def counted(self, *args, **kwargs):
        calls.append(self.client)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DaskLGBMClassifier, "fit", counted)
    store, out = tmp_path / "region.zarr", tmp_path / "cv"
    assert main(["synthetic", str(store), "--shape", "96", "96", "--distances"]) == 0
    argv = ["cv", str(store), "--models", "gbm", "--k", "3", "--core", "32"]
    argv += ["--halo", "16", "--keep-degenerate", "--quiet", "--out", str(out)]
    with pytest.warns(SmallFoldWarning):  # 96 x 96 pixels in 3 folds
        assert main([*argv, "--scheduler", "local:2"]) == 0
    printed = capsys.readouterr().out
    assert "a local Dask cluster of 2 worker processes (tcp://" in printed
    table = pd.read_csv(out / "cv_table.csv")
    assert set(table.model) == {"gbm"} and len(table) == 3
    assert len(calls) == 3 and len({id(c) for c in calls}) == 1  # the command's client
    assert calls[0].status == "closed"  # closed at the end of the command, its cluster too


def test_cli_scheduler_mistakes_are_one_line(tmp_path, capsys, monkeypatch):
    """A scheduler that does not answer (a closed port, within the connect timeout), a
    malformed ``local:N`` and a missing dask.distributed: one line naming the fix, status 2,
    before the command reads anything."""
    import socket
    import sys

    import dask

    from xlandslide.cli import main

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["zone", str(tmp_path / "absent.zarr"), "--out", str(tmp_path / "z.tif")]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert main([*argv, "--scheduler", f"tcp://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xlandslide: error: --scheduler")
    assert "no dask scheduler answered" in err[0] and "--scheduler local:N" in err[0]
    assert main([*argv, "--scheduler", "local:zero"]) == 2
    assert "positive number of worker processes" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    assert main([*argv, "--scheduler", "local:2"]) == 2
    assert 'pip install "dask[distributed]"' in capsys.readouterr().err


def test_maps_are_written_with_a_client_as_the_default_scheduler(client, tmp_path):
    """With a ``Client`` as dask's default scheduler (as under ``--scheduler``), a Zarr map
    is written by the workers and a GeoTIFF by this process's threads (its file is open
    here, which the workers cannot reach): the same values as the map computed locally."""
    import dask

    import xlandslide

    region = xlandslide.synthetic_region((96, 96), seed=0, chunks=48)
    patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    model = xlandslide.fit(region, "llr", patches=patches, progress=False)
    prob = region.landslide.predict(model)
    assert dask.base.get_scheduler() == client.get  # the client is the default
    expected = prob.compute(scheduler="sync").values
    for name in ("m.zarr", "m.tif"):
        xlandslide.write_map(prob, tmp_path / name)
        got = xlandslide.open_map(tmp_path / name).values
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
