"""Tests of xlandslide.train.loop: the epochs, validation, checkpoints and resume.

Resume (issue 8): a run killed mid-epoch and resumed from its checkpoint ends with the same
weights, bit for bit, and the same history as an uninterrupted run.  The kill is simulated by
an exception raised inside the patch dataset after a number of items (what a SIGKILL leaves
behind is the last checkpoint written, which is what the resumed run reads).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import xlandslide as xl
from tests.train.common import (
    GEOM,
    FakePatches,
    fake_spec,
    quick,
    state_equal,
    tiny,
    tiny_aligned,
    tiny_patches,
)
from xlandslide.checkpoint import load_model, read_checkpoint, save_model
from xlandslide.errors import (
    CheckpointError,
    ConfigError,
    PatchError,
    RegionError,
    StoreExistsError,
)
from xlandslide.patches import dataset as dataset_mod
from xlandslide.train import TrainConfig, masked_bce_with_logits
from xlandslide.train.loop import choose_device, epoch_batches, train_module


def train_fake(name="llr", *, config=None, train=None, val=None, **kwargs):
    aligned = name in ("lann", "lacnn")
    train = FakePatches(12, offsets=aligned, seed=1) if train is None else train
    val = FakePatches(4, offsets=aligned, seed=2) if val is None else val
    return train_module(
        fake_spec(name), train, val, config=config or quick(name), progress=False, **kwargs
    )


# ---------------------------------------------------------------------------------- batches


def test_epoch_batches_are_a_seeded_permutation_in_chunks():
    config = quick("llr", batch_size=4, seed=3)
    b1 = epoch_batches(10, config, 1, shuffle=True)
    assert [len(b) for b in b1] == [4, 4, 2]
    order = np.random.Generator(np.random.PCG64([3, 1])).permutation(10).tolist()
    assert [i for b in b1 for i in b] == order
    assert epoch_batches(10, config, 1, shuffle=True) == b1
    assert epoch_batches(10, config, 2, shuffle=True) != b1
    assert epoch_batches(10, config, 1, shuffle=False) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    capped = config.replace(max_batches_per_epoch=2)
    assert epoch_batches(10, capped, 1, shuffle=True) == b1[:2]
    assert len(epoch_batches(10, capped, 1, shuffle=False)) == 3  # validation sees all


def test_choose_device():
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device(None).type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            choose_device("cuda")


# ------------------------------------------------------------------------------- the loop


def test_llr_learns_and_records_its_history(tmp_path):
    path = tmp_path / "m.pt"
    model = train_fake("llr", config=quick("llr", epochs=3, lr=0.2), checkpoint=path)
    h = model.history
    assert isinstance(model, xl.LandslideModel)
    assert h["epoch"] == [1, 2, 3]
    assert len(h["train_loss"]) == len(h["val_loss"]) == len(h["lr"]) == len(h["seconds"]) == 3
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert h["val_loss"][-1] < h["val_loss"][0]
    assert h["best_epoch"] == int(np.argmin(h["val_loss"])) + 1
    assert h["lr"][0] == 0.2
    # the truth is 3 slope - 2: slope's weight dominates dem's after 3 epochs (the soil
    # classes sum to one: with the bias, they share the intercept)
    w = model.module.linear_weights()
    assert w[0] > 1.0 and w[0] > 3 * abs(w[1])
    assert not model.module.training
    loaded = load_model(path, device="cpu")
    assert loaded.history == h
    assert state_equal(loaded.module.state_dict(), model.module.state_dict())


def test_best_validation_weights_are_kept():
    """The returned weights are those of the best epoch: re-evaluating gives its val loss."""
    val = FakePatches(4, seed=2)
    model = train_fake("nn", config=quick("nn", epochs=4, lr=0.5), val=val)
    h = model.history
    with torch.no_grad():
        logits = model.module(val.x, val.codes)
    loss = masked_bce_with_logits(logits, val.label, GEOM.halo).item()
    assert math.isclose(loss, min(h["val_loss"]), rel_tol=1e-5)
    assert h["val_loss"][h["best_epoch"] - 1] == min(h["val_loss"])


@pytest.mark.parametrize("name", ["nn", "lann", "cnn", "lacnn"])
def test_every_kind_trains(name):
    model = train_fake(name, config=quick(name, epochs=1))
    assert model.name == name and len(model.history["train_loss"]) == 1
    assert all(np.isfinite(model.history["train_loss"]))
    assert model.needs_offsets == (name in ("lann", "lacnn"))


def test_seeded_reproducibility():
    def weights(seed):
        return train_fake("lacnn", config=quick("lacnn", epochs=1, seed=seed)).module.state_dict()

    a, b, c = weights(0), weights(0), weights(1)
    assert state_equal(a, b)
    assert not state_equal(a, c)


def test_the_prior_starts_the_output_bias():
    prior = 0.03
    config = quick("llr", epochs=1, lr=1e-30, weight_decay=0.0, max_batches_per_epoch=1)
    model = train_fake("llr", config=config, prior=prior)
    assert math.isclose(
        float(model.module.body.bias.detach()), math.log(prior / (1 - prior)), rel_tol=1e-6
    )


def test_max_batches_callbacks_and_progress(capsys):
    seen, also = [], []

    def stop_after_two(record):
        seen.append(record)
        return record["epoch"] == 2

    train = FakePatches(12, seed=1)
    model = train_module(
        fake_spec("llr"),
        train,
        None,  # no validation set: the training loss drives the schedule
        config=quick("llr", epochs=5, max_batches_per_epoch=1),
        callbacks=[stop_after_two, also.append],
        progress=True,
    )
    assert [r["epoch"] for r in seen] == [1, 2]
    assert [r["epoch"] for r in also] == [1, 2]  # every callback runs, also after a stop
    assert train.reads == 2 * 4  # one batch of 4 per epoch, nothing read beyond it
    assert set(seen[0]) == {"epoch", "train_loss", "val_loss", "lr", "seconds", "improved"}
    assert model.history["epoch"] == [1, 2]
    assert all(math.isnan(v) for v in model.history["val_loss"])
    err = capsys.readouterr().err
    assert "llr epoch 1/5: train" in err and "llr epoch 2/5" in err


def test_plateau_reduces_the_learning_rate():
    model = train_fake("llr", config=quick("llr", epochs=4, lr=50.0, patience=0))
    lrs = model.history["lr"]
    assert lrs[0] == 50.0 and min(lrs) == pytest.approx(5.0)


def test_early_stopping():
    # an lr so large that validation cannot improve for long
    model = train_fake("llr", config=quick("llr", epochs=10, lr=50.0, early_stopping=1))
    h = model.history
    assert len(h["epoch"]) < 10
    assert len(h["epoch"]) == h["best_epoch"] + 1  # one epoch without improvement


def test_aligned_batches_without_offsets_fail_clearly():
    with pytest.raises(RegionError, match=r"no 'offsets'.*with_offsets"):
        train_module(
            fake_spec("lann"), FakePatches(4), None, config=quick("lann", epochs=1), progress=False
        )


def test_argument_errors(tmp_path):
    spec, config = fake_spec("llr"), quick("llr", epochs=1)
    with pytest.raises(PatchError, match="holds no patch"):
        train_module(spec, FakePatches(0), None, config=config, progress=False)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="save_every"):
            train_module(
                spec, FakePatches(2), None, config=config, save_every=bad, checkpoint="x.pt"
            )
    with pytest.raises(ConfigError, match="needs a checkpoint"):
        train_module(spec, FakePatches(2), None, config=config, save_every=1)


def test_a_foreign_checkpoint_path_is_refused_before_training(tmp_path):
    foreign = tmp_path / "notes.pt"
    foreign.write_text("my notes")
    train = FakePatches(4)
    with pytest.raises(StoreExistsError, match="not an xlandslide checkpoint"):
        train_module(
            fake_spec("llr"), train, None, config=quick("llr"), checkpoint=foreign, progress=False
        )
    assert train.reads == 0 and foreign.read_text() == "my notes"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_with_amp_matches_cpu_predictions():
    model = train_fake("lacnn", config=quick("lacnn", epochs=1, device="cuda", amp=True))
    assert model.device.type == "cuda"
    val = FakePatches(3, offsets=True, seed=5)
    args = (val.x.numpy(), val.codes.numpy(), val.offsets.numpy())
    np.testing.assert_allclose(
        model.predict_proba(*args), model.predict_proba(*args, device="cpu"), atol=1e-4
    )


def test_checkpoints_do_not_change_the_training(tmp_path):
    """Writing checkpoints (even every batch) leaves batch norm training as it was."""
    spec = fake_spec("cnn", model_config={"base_width": 2, "depth": 1, "batch_norm": True})
    config = quick("cnn", epochs=2, batch_size=2)
    plain = train_module(spec, FakePatches(8, seed=1), None, config=config, progress=False)
    saved = train_module(
        spec,
        FakePatches(8, seed=1),
        None,
        config=config,
        progress=False,
        checkpoint=tmp_path / "bn.pt",
        save_every=1,
    )
    assert state_equal(plain.module.state_dict(), saved.module.state_dict())


# ----------------------------------------------------------------------------------- resume


class Killed(Exception):
    """Stands for the SIGKILL of a training run."""


def kill_after(monkeypatch, n_items: int):
    """Make the n-th training item of every following run raise :class:`Killed`."""
    original = dataset_mod.PatchDataset.__getitem__
    served = {"n": 0}

    def getitem(self, i):
        if self.split == "train":
            served["n"] += 1
            if served["n"] == n_items:
                raise Killed(f"killed at training item {n_items}")
        return original(self, i)

    monkeypatch.setattr(dataset_mod.PatchDataset, "__getitem__", getitem)
    return lambda: monkeypatch.setattr(dataset_mod.PatchDataset, "__getitem__", original)


def without_seconds(history: dict) -> dict:
    return {k: v for k, v in history.items() if k != "seconds"}


RESUMED = {
    "llr": {},
    "lacnn": {"aligned": tiny_aligned(), "model_config": {"base_width": 2, "depth": 2}},
}
RESUMED["lacnn-default"] = RESUMED["lacnn"]


@pytest.mark.parametrize("name", ["llr", "lacnn", "lacnn-default"])
def test_killed_mid_epoch_and_resumed_equals_uninterrupted(name, tmp_path, monkeypatch):
    """Table 1's settings, and the package's defaults (cosine schedule per batch, clipping)."""
    region, patches = tiny(), tiny_patches()
    each = {"epochs": 3, "batch_size": 3, "max_batches_per_epoch": 3}  # 9 items an epoch
    if name.endswith("-default"):
        name = name.removesuffix("-default")
        config = TrainConfig.default(name, device="cpu", early_stopping=None, **each)
    else:
        config = quick(name, **each)
    kwargs = {"patches": patches, "config": config, "progress": False, "save_every": 1}
    kwargs.update(RESUMED[name if config.schedule == "plateau" else f"{name}-default"])
    whole = xl.fit(region, name, checkpoint=tmp_path / "whole.pt", **kwargs)

    path = tmp_path / "killed.pt"
    restore = kill_after(monkeypatch, 9 + 8)  # epoch 2, inside its third batch
    with pytest.raises(Killed):
        xl.fit(region, name, checkpoint=path, **kwargs)
    restore()
    state = read_checkpoint(path)["training_state"]
    assert (state["epoch"], state["batch"]) == (2, 2)  # the last save: after batch 2 of epoch 2
    assert state["history"]["epoch"] == [1]

    resumed = xl.fit(region, name, checkpoint=path, resume=path, **kwargs)
    assert state_equal(resumed.module.state_dict(), whole.module.state_dict())
    assert without_seconds(resumed.history) == without_seconds(whole.history)
    assert resumed.history["epoch"] == [1, 2, 3]
    # the training states at the end agree too: current weights, optimizer, scheduler
    a = read_checkpoint(tmp_path / "whole.pt")["training_state"]
    b = read_checkpoint(path)["training_state"]
    assert state_equal(a["module"], b["module"])
    assert a["scheduler"] == b["scheduler"] and a["done"] and b["done"]
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert state_equal(sa, sb)
    assert state_equal(
        load_model(path, device="cpu").module.state_dict(), whole.module.state_dict()
    )


def test_killed_between_epochs_and_resumed(tmp_path, monkeypatch):
    """Without save_every the last checkpoint is the end of an epoch: resume from there."""
    region, patches = tiny(), tiny_patches()
    config = quick("llr", epochs=3, batch_size=3, max_batches_per_epoch=2)
    kwargs = {"patches": patches, "config": config, "progress": False}
    whole = xl.fit(region, "llr", **kwargs)
    path = tmp_path / "killed.pt"
    restore = kill_after(monkeypatch, 2 * 6 + 4)  # inside epoch 3
    with pytest.raises(Killed):
        xl.fit(region, "llr", checkpoint=path, **kwargs)
    restore()
    state = read_checkpoint(path)["training_state"]
    assert (state["epoch"], state["batch"]) == (3, 0)
    resumed = xl.fit(region, "llr", checkpoint=path, resume=path, **kwargs)
    assert state_equal(resumed.module.state_dict(), whole.module.state_dict())
    assert without_seconds(resumed.history) == without_seconds(whole.history)


def test_resume_of_a_finished_run_trains_nothing(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    train = FakePatches(8, seed=1)
    first = train_fake("llr", train=train, checkpoint=path)
    reads = train.reads
    again = train_fake("llr", train=train, checkpoint=path, resume=path)
    assert train.reads == reads
    assert state_equal(again.module.state_dict(), first.module.state_dict())
    assert again.history == first.history


def test_resume_from_a_missing_file_starts_afresh(tmp_path):
    path = tmp_path / "none-yet.pt"
    a = train_fake("llr", resume=path, checkpoint=path)
    b = train_fake("llr")
    assert state_equal(a.module.state_dict(), b.module.state_dict())
    assert path.exists()


def test_resume_refuses_another_run(tmp_path):
    path = tmp_path / "m.pt"
    train_fake("nn", checkpoint=path, config=quick("nn", epochs=1))
    with pytest.raises(CheckpointError, match=r"other settings.*same TrainConfig"):
        train_fake("nn", resume=path, config=quick("nn", epochs=1, lr=0.5))
    with pytest.raises(CheckpointError, match=r"differs from this run's in \['model_config'\]"):
        train_module(
            fake_spec("nn", model_config={"hidden": [4]}),
            FakePatches(4),
            None,
            config=quick("nn", epochs=1),
            resume=path,
            progress=False,
        )
    plain = tmp_path / "plain.pt"
    save_model(load_model(path, device="cpu"), plain)  # a model without its training state
    with pytest.raises(CheckpointError, match="no training state"):
        train_fake("nn", resume=plain, config=quick("nn", epochs=1))
    other = tmp_path / "other.pt"
    other.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        train_fake("nn", resume=other, config=quick("nn", epochs=1))


class Dying(FakePatches):
    """Fake patches whose n-th item (counted over all runs) raises :class:`Killed`."""

    def __init__(self, *args, die_at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.die_at = die_at

    def __getitem__(self, i):
        if self.reads + 1 == self.die_at:
            self.reads += 1
            raise Killed(f"killed at item {self.die_at}")
        return super().__getitem__(i)


def test_resume_with_batch_norm_on_fake_patches(tmp_path):
    """Batch-norm running statistics travel with the checkpoint: resume is bit-identical."""
    spec = fake_spec("cnn", model_config={"base_width": 2, "depth": 1, "batch_norm": True})
    config = quick("cnn", epochs=3, batch_size=2)  # 4 batches of 2 an epoch
    kwargs = {"config": config, "progress": False, "save_every": 1}
    whole = train_module(
        spec,
        FakePatches(8, seed=1),
        FakePatches(2, seed=2),
        **kwargs,
        checkpoint=tmp_path / "whole.pt",
    )
    path = tmp_path / "killed.pt"
    train = Dying(8, seed=1, die_at=8 + 5)  # epoch 2, first item of its third batch
    with pytest.raises(Killed):
        train_module(spec, train, FakePatches(2, seed=2), checkpoint=path, **kwargs)
    state = read_checkpoint(path)["training_state"]
    assert (state["epoch"], state["batch"]) == (2, 2)
    train.die_at = None
    resumed = train_module(
        spec, train, FakePatches(2, seed=2), checkpoint=path, resume=path, **kwargs
    )
    assert state_equal(resumed.module.state_dict(), whole.module.state_dict())
    assert any("running_mean" in k for k in whole.module.state_dict())
    assert without_seconds(resumed.history) == without_seconds(whole.history)


def test_warmup_cosine_schedule():
    from xlandslide.train.schedule import WarmupCosine

    f = WarmupCosine(100, 0.1)
    values = [f(t) for t in range(100)]
    assert values[0] == pytest.approx(1 / 11) and max(values) == pytest.approx(1.0)
    assert values[10] == pytest.approx(1.0) and values[-1] < 0.01
    tail = np.asarray(values[10:])
    assert np.all(np.diff(tail) <= 0)  # decays after the warm-up
    assert WarmupCosine(10, 0.0)(0) == 1.0
