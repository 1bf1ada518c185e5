"""Tests of xlandslide.checkpoint: save / load round trip, refusals, atomic writes."""

from __future__ import annotations

import os
import stat
import threading

import numpy as np
import pytest
import torch

import xlandslide
from tests.test_model import inputs, make_model
from xlandslide.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    is_checkpoint_file,
    load_model,
    model_dict,
    read_checkpoint,
    save_model,
)
from xlandslide.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    ConfigError,
    StoreExistsError,
    XLandslideError,
)
from xlandslide.models import MODELS

# ------------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("name", [n for n, e in MODELS.items() if e.backend == "torch"])
def test_round_trip_identical_predictions(tmp_path, name):
    model = make_model(name)
    cont, codes, offsets = inputs()
    before = model.predict_proba(cont, codes, offsets)
    path = save_model(model, tmp_path / "sub" / f"{name}.pt")
    assert path == tmp_path / "sub" / f"{name}.pt"
    loaded = load_model(path, device="cpu")
    np.testing.assert_array_equal(loaded.predict_proba(cont, codes, offsets), before)
    assert loaded.spec == model.spec
    assert loaded.history == model.history
    assert loaded.needs_offsets == model.needs_offsets
    assert not loaded.module.training
    for key, tensor in model.module.state_dict().items():
        assert torch.equal(loaded.module.state_dict()[key], tensor), key


def test_naive_round_trip_keeps_the_ratio(tmp_path):
    model = make_model("naive")
    loaded = load_model(save_model(model, tmp_path / "naive.pt"), device="cpu")
    assert loaded.module.ratio == model.module.ratio
    assert abs(loaded.module.ratio - 0.1) < 1e-6


def test_checkpoint_is_plain_and_weights_only_loadable(tmp_path):
    model = make_model("lacnn")
    path = save_model(model, tmp_path / "m.pt", extra={"note": "hello", "t": torch.ones(2)})
    obj = torch.load(path, weights_only=True)
    assert obj["format"] == FORMAT == "xlandslide-checkpoint"
    assert obj["format_version"] == FORMAT_VERSION == 2
    assert obj["xlandslide_version"] == xlandslide.__version__
    assert obj["torch_version"] == str(torch.__version__)
    assert obj["spec"] == model.spec.to_dict()
    assert obj["spec"]["geometry"] == {"core": 16, "halo": 4}
    assert obj["spec"]["distances"] == [30.0, 100.0]
    assert obj["spec"]["model_config"] == {"base_width": 4}
    assert obj["history"] == model.history
    assert obj["note"] == "hello" and torch.equal(obj["t"], torch.ones(2))
    assert all(v.device.type == "cpu" for v in obj["state_dict"].values())
    assert read_checkpoint(path)["spec"] == obj["spec"]
    assert is_checkpoint_file(path)


def test_save_model_needs_a_landslide_model(tmp_path):
    with pytest.raises(ConfigError, match="needs a LandslideModel"):
        save_model(make_model("llr").module, tmp_path / "m.pt")


# ---------------------------------------------------------------------------------- refusals


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match=r"no checkpoint at .*nope\.pt.*fit"):
        load_model(tmp_path / "nope.pt")
    assert issubclass(CheckpointNotFoundError, FileNotFoundError)
    assert issubclass(CheckpointNotFoundError, CheckpointError)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.pt")


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable xlandslide checkpoint"):
        load_model(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match=r"not an xlandslide checkpoint.*save_model"):
        load_model(other)
    with pytest.raises(CheckpointError, match="directory"):
        load_model(tmp_path)
    # a pickle of an arbitrary object is refused by weights_only loading
    evil = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "obj": threading.Lock}, evil)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_model(evil)
    assert issubclass(CheckpointError, ValueError) and issubclass(CheckpointError, XLandslideError)
    assert not is_checkpoint_file(text) and not is_checkpoint_file(other)


def _write(tmp_path, name, **changes):
    obj = {**model_dict(make_model("llr")), **changes}
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_format_version_of_the_wrong_type(tmp_path):
    for i, bad in enumerate(["1", 2.0, True, None]):
        path = _write(tmp_path, f"bad{i}.pt", format_version=bad)
        with pytest.raises(CheckpointError, match=r"format_version of .* \(\w+\).*an integer"):
            load_model(path)
    # the message names the type, and does not pretend the file is newer
    path = _write(tmp_path, "str.pt", format_version="1")
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    assert "(str)" in str(info.value) and "newer" not in str(info.value)


def test_old_layout_says_retrain(tmp_path):
    path = _write(tmp_path, "old.pt", format_version=1, xlandslide_version="0.3.0")
    with pytest.raises(CheckpointError, match=r"layout 1 \(xlandslide 0.3.0.*retrain"):
        load_model(path)


def test_newer_layout_says_upgrade(tmp_path):
    path = _write(tmp_path, "newer.pt", format_version=FORMAT_VERSION + 1)
    with pytest.raises(CheckpointError, match=r"newer than this xlandslide reads.*upgrade"):
        load_model(path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_naming_them(tmp_path, value):
    model = make_model("nn")
    with torch.no_grad():
        model.module.body[0].weight[0, 0] = value
    path = save_model(model, tmp_path / "diverged.pt")
    with pytest.raises(CheckpointError, match=r"not finite \(body.0.weight\).*lower"):
        load_model(path)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"state_dict": {}}, "inconsistent"),
        ({"spec": {"name": "llr"}}, r"missing keys \['layout'\]"),
        ({"history": [1, 2]}, "history must be a mapping"),
    ],
)
def test_broken_checkpoints(tmp_path, changes, match):
    with pytest.raises(CheckpointError, match=match):
        load_model(_write(tmp_path, "broken.pt", **changes))
    obj = model_dict(make_model("llr"))
    del obj["spec"]
    torch.save(obj, tmp_path / "nospec.pt")
    with pytest.raises(CheckpointError, match="incomplete"):
        load_model(tmp_path / "nospec.pt")


def test_weights_of_another_shape(tmp_path):
    obj = model_dict(make_model("llr"))
    obj["state_dict"]["body.weight"] = torch.zeros(1, 3, 1, 1)
    torch.save(obj, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match=r"inconsistent.*body\.weight"):
        load_model(tmp_path / "shape.pt")


# ----------------------------------------------------------------------------- atomic writes


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    save_model(make_model("llr", seed=0), path)
    before = path.read_bytes()

    def failing_save(obj, fh, *args, **kwargs):
        fh.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(make_model("llr", seed=1), path)
    assert path.read_bytes() == before  # the old checkpoint is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temporary left
    with pytest.raises(OSError, match="disk full"):
        save_model(make_model("llr"), tmp_path / "new.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_temporaries_of_killed_writes_are_cleaned(tmp_path):
    path = tmp_path / "m.pt"
    stale = tmp_path / ".m.pt.0123456789ab.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.pt.0123456789ab.tmp"
    other.write_bytes(b"someone else's")
    save_model(make_model("llr"), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.0123456789ab.tmp", "m.pt"]


def test_file_mode_follows_the_umask(tmp_path):
    path = save_model(make_model("llr"), tmp_path / "m.pt")
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert stat.S_IMODE(os.stat(path).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


def test_only_checkpoints_are_replaced(tmp_path):
    mine = save_model(make_model("llr", seed=0), tmp_path / "m.pt")
    save_model(make_model("llr", seed=1), mine)  # our own checkpoint: replaced
    assert torch.equal(
        load_model(mine, device="cpu").module.body.weight, make_model("llr", 1).module.body.weight
    )
    foreign = tmp_path / "thesis.pt"
    foreign.write_bytes(b"three years of work")
    with pytest.raises(StoreExistsError, match="not an xlandslide checkpoint"):
        save_model(make_model("llr"), foreign)
    assert foreign.read_bytes() == b"three years of work"
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(StoreExistsError, match="directory"):
        save_model(make_model("llr"), folder)
    assert (folder / "keep.txt").read_text() == "mine"
    assert issubclass(StoreExistsError, FileExistsError)


def test_load_onto_an_unknown_device(tmp_path):
    path = save_model(make_model("llr"), tmp_path / "m.pt")
    with pytest.raises(ConfigError, match="device 'tpu'"):
        load_model(path, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            load_model(path, device="cuda")
    assert load_model(path, device=torch.device("cpu")).device == torch.device("cpu")


def test_lazy_public_names():
    assert xlandslide.load_model is load_model
    assert xlandslide.save_model is save_model


# ----------------------------------------------------------------- trust (issue 18, item 14)
@pytest.mark.parametrize(
    "stats", [{"mean": "20", "std": 5.0}, {"mean": 20.0, "std": 0.0}, "20 +- 5", {"mean": 1.0}]
)
def test_malformed_normalisation_is_refused_at_load(tmp_path, stats):
    obj = model_dict(make_model("nn"))
    obj["spec"]["normalisation"]["slope"] = stats
    torch.save(obj, tmp_path / "norm.pt")
    with pytest.raises(CheckpointError, match=r"normalisation\['slope'\]"):
        load_model(tmp_path / "norm.pt")


def test_a_spec_asking_for_huge_tensors_is_refused_before_building(tmp_path, monkeypatch):
    obj = model_dict(make_model("nn"))
    obj["spec"]["model_config"]["hidden"] = [2**40]
    torch.save(obj, tmp_path / "huge.pt")
    with pytest.raises(CheckpointError, match=r"inconsistent.*body\.0\.weight.*\(8, 9, 1, 1\)"):
        load_model(tmp_path / "huge.pt")


def test_torchs_advice_to_drop_weights_only_is_not_forwarded(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "obj": threading.Lock}, evil)
    with pytest.raises(CheckpointError) as info:
        load_model(evil)
    assert "weights_only" not in str(info.value) and "never unpickles" in str(info.value)
