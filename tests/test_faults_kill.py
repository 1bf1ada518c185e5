"""The fault suite, kills (issue 8): SIGKILL in a subprocess, then the rerun.

At a random point of a training run (a step, or the middle of a checkpoint write), of a
region write, of a map write and of a resumable prediction.  Training resumed mid-epoch ends
with the weights of an uninterrupted run, bit for bit (CPU); a prediction killed at about
half computes only the missing blocks (counted) and gives the map of an uninterrupted run.
Subprocesses run the worktree's ``xlandslide`` (``PYTHONPATH``); each case takes a few
seconds, most of it starting Python and torch.  Helpers: ``tests/faultkit.py``.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys

import numpy as np
import pytest
import torch
import xarray as xr

import xlandslide as xl
from tests.faultkit import SIGKILL
from tests.faultkit import files as _files
from tests.faultkit import kill_when as _kill_when
from tests.faultkit import region as _region
from tests.faultkit import run as _run
from tests.faultkit import siblings as _siblings
from tests.faultkit import spawn as _spawn
from tests.helpers import BlockCounter
from xlandslide.checkpoint import read_checkpoint
from xlandslide.errors import (
    CheckpointError,
    IncompleteStoreError,
)
from xlandslide.io.atomic import TEMP_TAG
from xlandslide.io.lock import LOCK_TAG
from xlandslide.io.maps import partial_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


# ---------------------------------------------------------------------------------- training

TRAIN = """
import os, signal, sys
import torch
torch.set_num_threads(1)
import xlandslide as xl
from xlandslide.train import loop

store, split, ckpt, kill_step, kill_save, resume = sys.argv[1:7]
kill_step, kill_save = int(kill_step), int(kill_save)
if kill_step:  # SIGKILL right after the optimizer step number kill_step (before its save)
    step, done = loop._step, [0]
    def killing_step(run, batch, halo, train):
        out = step(run, batch, halo, train)
        if train:
            done[0] += 1
            if done[0] == kill_step:
                os.kill(os.getpid(), signal.SIGKILL)
        return out
    loop._step = killing_step
if kill_save:  # SIGKILL in the middle of writing checkpoint number kill_save
    save, saves = torch.save, [0]
    def killing_save(obj, fh, *args, **kwargs):
        saves[0] += 1
        if saves[0] == kill_save:
            fh.write(b"PK half a checkpoint")
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return save(obj, fh, *args, **kwargs)
    torch.save = killing_save
region = xl.open_region(store, chunks=None)
patches = xl.PatchSet.from_json(split)
config = xl.TrainConfig.paper("cnn", epochs=2, batch_size=2, lr=0.01, device="cpu", seed=0,
                              max_batches_per_epoch=4)
xl.fit(region, "cnn", patches=patches, config=config, model_config={"base_width": 4},
       checkpoint=ckpt, save_every=1, resume=ckpt if resume == "1" else None, progress=False)
"""

STEPS_PER_EPOCH = 4  # max_batches_per_epoch: batches of 2 of 7 patches (oversampled)


@contextlib.contextmanager
def _one_thread():
    """Run torch as the children do: one thread (the same kernels, the same roundings; with
    another thread count torch's CPU convolutions may differ in the last bit)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _fit(store, split, ckpt, resume=False):
    """The run of the TRAIN script, in this process."""
    config = xl.TrainConfig.paper(
        "cnn", epochs=2, batch_size=2, lr=0.01, device="cpu", seed=0, max_batches_per_epoch=4
    )
    with _one_thread():
        xl.fit(
            xl.open_region(store, chunks=None),
            "cnn",
            patches=xl.PatchSet.from_json(split),
            config=config,
            model_config={"base_width": 4},
            checkpoint=ckpt,
            save_every=1,
            resume=ckpt if resume else None,
            progress=False,
        )
    return read_checkpoint(ckpt)


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    """A region store and its patch split, and the checkpoint of an uninterrupted run."""
    d = tmp_path_factory.mktemp("training")
    store = xl.write_region(_region((96, 96)), d / "r.zarr", chunks=48)
    patches = xl.make_patches(xl.open_region(store), xl.PatchGeometry(32, 8), seed=0)
    assert patches.counts()["train"]["patches"] == 7
    patches.to_json(d / "split.json")
    return d, store, _fit(store, d / "split.json", d / "whole.pt")


def _same_training(a: dict, b: dict) -> None:
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key  # best weights
    sa, sb = a["training_state"], b["training_state"]
    for key in sa["module"]:
        assert torch.equal(sa["module"][key], sb["module"][key]), key  # current weights
    for pa, pb in zip(sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values()):
        for key in pa:
            assert torch.equal(torch.as_tensor(pa[key]), torch.as_tensor(pb[key])), key
    assert sa["scheduler"] == sb["scheduler"] and sa["done"] and sb["done"]
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in (a["history"], b["history"])]
    assert strip[0] == strip[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_training_killed_mid_epoch_resumes_to_the_same_weights(training, tmp_path, seed):
    d, store, whole = training
    # a random step inside an epoch (not its last): the last save is mid-epoch
    step = random.Random(seed).choice([2, 3, STEPS_PER_EPOCH + 2, STEPS_PER_EPOCH + 3])
    ckpt = tmp_path / "m.pt"
    killed = _run(TRAIN, store, d / "split.json", ckpt, step, 0, 0)
    assert killed.returncode == SIGKILL, killed.stderr
    state = read_checkpoint(ckpt)["training_state"]
    epoch, batch = divmod(step - 1, STEPS_PER_EPOCH)
    assert (state["epoch"], state["batch"]) == (epoch + 1, batch)  # saved after step - 1
    assert 0 < state["batch"] < STEPS_PER_EPOCH
    _same_training(_fit(store, d / "split.json", ckpt, resume=True), whole)


def test_training_killed_while_writing_its_checkpoint(training, tmp_path):
    d, store, whole = training
    ckpt = tmp_path / "m.pt"
    # saves: after batches 1, 2, 3 of epoch 1, its end, then batch 1 of epoch 2, ...
    killed = _run(TRAIN, store, d / "split.json", ckpt, 0, 6, 0)
    assert killed.returncode == SIGKILL, killed.stderr
    half = [p for p in tmp_path.iterdir() if p.name.startswith(".m.pt.") and "lock" not in p.name]
    assert len(half) == 1 and half[0].read_bytes().startswith(b"PK half")
    # the killed run's lock is left too, and is taken over (its process is gone)
    assert (tmp_path / ".m.pt.xlandslide-lock").exists()
    state = read_checkpoint(ckpt)["training_state"]  # the previous one, intact
    assert (state["epoch"], state["batch"]) == (2, 1)
    resumed = _fit(store, d / "split.json", ckpt, resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # the half file and lock: gone
    _same_training(resumed, whole)


def test_a_damaged_training_state_is_refused(training, tmp_path):
    d, store, whole = training
    region = xl.open_region(store, chunks=None)
    patches = xl.PatchSet.from_json(d / "split.json")
    config = xl.TrainConfig.paper(
        "cnn", epochs=2, batch_size=2, lr=0.01, device="cpu", seed=0, max_batches_per_epoch=4
    )
    kwargs = {"patches": patches, "config": config, "model_config": {"base_width": 4}}
    for change, match in (
        ({"epoch": "2"}, r"epoch = '2'"),
        ({"rng": [1, 2]}, "rng is not a torch RNG state"),
        ({"optimizer": None}, "optimizer is a NoneType"),
    ):
        obj = dict(whole)
        obj["training_state"] = {**whole["training_state"], **change}
        path = tmp_path / "bad.pt"
        torch.save(obj, path)
        with pytest.raises(CheckpointError, match=match):
            xl.fit(region, "cnn", resume=path, progress=False, **kwargs)
    obj = dict(whole)
    module = dict(whole["training_state"]["module"])
    key = next(iter(module))
    module[key] = torch.full_like(module[key], float("nan"))
    obj["training_state"] = {**whole["training_state"], "module": module}
    torch.save(obj, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="not finite"):
        xl.fit(region, "cnn", resume=tmp_path / "nan.pt", progress=False, **kwargs)


# ------------------------------------------------------------------------ region writes

WRITE_REGION = """
import sys, time
import xlandslide as xl
from tests.faultkit import region as _region

def slow(block):
    time.sleep(0.05)
    return block

target, seed = sys.argv[1], int(sys.argv[2])
region = _region((64, 64), chunks=16, seed=seed)
region["dem"] = region.dem.copy(data=region.dem.data.map_blocks(slow, dtype="float32"))
xl.write_region(region, target, chunks=16, overwrite=True)
"""


def test_a_killed_region_write_leaves_nothing_under_its_name(tmp_path):
    target = tmp_path / "r.zarr"
    rng = random.Random(0)
    for _ in range(3):  # kills in a row: each rerun removes the temporary of the one before
        proc = _spawn(WRITE_REGION, target, 0)

        def started():
            return any(len(_files(p)) > 5 for p in tmp_path.glob(f".r.zarr{TEMP_TAG}*"))

        _kill_when(proc, started, delay=rng.uniform(0, 0.3))
        assert not target.exists()
        temporaries = list(tmp_path.glob(f".r.zarr{TEMP_TAG}*"))
        assert len(temporaries) == 1  # (six after a few kills, before)
    for tmp in temporaries:  # never a region, also when its metadata is complete
        with pytest.raises(IncompleteStoreError, match="temporary folder of a write"):
            xl.open_region(tmp)
    xl.write_region(_region((64, 64), seed=0), target, chunks=16)  # the next write cleans up
    assert _siblings(target) == []
    back = xl.open_region(target, verify=True)
    np.testing.assert_array_equal(back.label.values, _region((64, 64), seed=0).label.values)


def test_a_killed_overwrite_keeps_the_previous_region(tmp_path):
    target = xl.write_region(_region((64, 64), seed=1), tmp_path / "r.zarr", chunks=16)
    proc = _spawn(WRITE_REGION, target, 0)
    _kill_when(
        proc,
        lambda: any(len(_files(p)) > 5 for p in tmp_path.glob(f".r.zarr{TEMP_TAG}*")),
        delay=random.Random(1).uniform(0, 0.3),
    )
    back = xl.open_region(target, verify=True)
    np.testing.assert_array_equal(back.dem.values, _region((64, 64), seed=1).dem.values)


# --------------------------------------------------------------------------- map writes

WRITE_MAP = """
import sys, time
import numpy as np
import xlandslide as xl
from tests.faultkit import region as _region

def slow(block):
    time.sleep(0.05)
    return block * 0 + 0.5

target, plain = sys.argv[1], sys.argv[2] == "1"
dem = _region((64, 64), chunks=16).dem
prob = dem.copy(data=dem.data.map_blocks(slow, dtype="float32")).rename("susceptibility")
if plain:  # the README's old recipe
    prob.to_dataset().to_zarr(target, zarr_format=3, consolidated=False)
else:
    xl.write_map(prob, target)
"""


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_a_killed_map_write_leaves_nothing_under_its_name(tmp_path, suffix):
    target = tmp_path / f"m{suffix}"
    proc = _spawn(WRITE_MAP, target, 0)
    if suffix == ".zarr":
        ready = lambda: len(_files(partial_path(target) / "blocks")) >= 3  # noqa: E731
    else:
        ready = lambda: any(tmp_path.glob(f".m.tif{TEMP_TAG}*"))  # noqa: E731
    _kill_when(proc, ready, delay=random.Random(2).uniform(0, 0.2))
    # the killed writer's temporary, and its lock (stale: taken over by the next writer)
    lock = f".{target.name}{LOCK_TAG}"
    assert not target.exists() and len(_siblings(target)) == 2 and lock in _siblings(target)
    xl.write_map(xl.open_region(xl.write_region(_region(), tmp_path / "r.zarr")).dem, target)
    assert _siblings(target) == ["r.zarr"]  # the leftover of the killed write is gone


def test_the_old_plain_to_zarr_recipe_killed_is_refused(tmp_path):
    """A plain ``to_zarr`` killed midway leaves a store that xarray opens as complete."""
    target = tmp_path / "m.zarr"
    proc = _spawn(WRITE_MAP, target, 1)
    chunks = target / "susceptibility" / "c"
    _kill_when(proc, lambda: len(_files(chunks)) >= 4, delay=0.05)
    plain = xr.open_zarr(target, consolidated=False)["susceptibility"].values
    assert np.isnan(plain).mean() > 0.3  # holes of NaN, and no error: what evaluate scored
    with pytest.raises(IncompleteStoreError, match=r"no xlandslide manifest.*write_map"):
        xl.open_map(target)


# ------------------------------------------------------------------ resumable prediction

PREDICT = """
import json, sys, time
import torch
torch.set_num_threads(1)
import xlandslide as xl
from tests.helpers import BlockCounter
from xlandslide.io import resumable

store, model, out, slow = sys.argv[1:5]
chunks = None if sys.argv[5:6] == ["none"] else "store"  # the README's fastest path: None
if slow == "1":  # slow enough to be killed at about half
    write = resumable._write_block
    def slow_write(*args, **kwargs):
        time.sleep(0.1)
        return write(*args, **kwargs)
    resumable._write_block = slow_write
region = xl.open_region(store, chunks=chunks)
prob = xl.predict(region, xl.load_model(model, device="cpu"), block_size=32)
with BlockCounter("xlandslide-predict") as counter:
    xl.write_map(prob, out, resume=True)
print(json.dumps({"blocks": counter.blocks}))
"""


def _predict_in_a_child(store, model, out, chunks="store") -> int:
    """Predict to ``out`` (resume=True) in a fresh process; the blocks it computed."""
    run = _run(PREDICT, store, model, out, 0, chunks)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])["blocks"]


N_BLOCKS = 16  # a 128 x 128 region in blocks of 32


@pytest.fixture(scope="module")
def prediction(tmp_path_factory):
    from xlandslide.model import LandslideModel, spec_for_region

    d = tmp_path_factory.mktemp("prediction")
    store = xl.write_region(_region((128, 128)), d / "r.zarr", chunks=32)
    region = xl.open_region(store)
    spec = spec_for_region(
        "cnn", region, geometry=xl.PatchGeometry(16, 8), model_config={"base_width": 4}
    )
    torch.manual_seed(0)
    model = LandslideModel(spec.build_module(), spec)
    path = xl.save_model(model, d / "cnn.pt")
    # every map of these tests is computed in a fresh process, as a user's runs are (torch's
    # CPU kernels can differ in the last bit between processes whose settings differ)
    assert _predict_in_a_child(store, path, d / "whole.zarr") == N_BLOCKS
    return store, path, xl.open_map(d / "whole.zarr").values


def _predicted(store, model, chunks="store"):
    region = xl.open_region(store, chunks=chunks)
    return xl.predict(region, xl.load_model(model, device="cpu"), block_size=32)


@pytest.mark.parametrize(
    ("suffix", "chunks"), [(".zarr", "store"), (".tif", "store"), (".zarr", "none")]
)
def test_a_prediction_killed_at_half_resumes_with_only_the_missing_blocks(
    prediction, tmp_path, suffix, chunks
):
    """``chunks="none"``: the README's fastest path (``open_region(store, chunks=None)``),
    whose map was named by object ids, so that the identical rerun raised ResumeError."""
    store, model, whole = prediction
    mode = None if chunks == "none" else chunks
    assert _predicted(store, model, mode).data.numblocks == (4, 4)
    out = tmp_path / f"m{suffix}"
    proc = _spawn(PREDICT, store, model, out, 1, chunks)
    # a GeoTIFF's blocks go to a resumable Zarr map in its hidden partial folder first
    zarr = out if suffix == ".zarr" else partial_path(out) / "map.zarr"
    blocks = partial_path(zarr) / "blocks"
    _kill_when(proc, lambda: len(_files(blocks)) >= N_BLOCKS // 2)
    assert not out.exists()
    done = len(_files(blocks))
    assert N_BLOCKS // 2 <= done < N_BLOCKS
    with pytest.raises(IncompleteStoreError):  # the partial store is never a map
        xl.open_map(partial_path(zarr) / "map.zarr")
    # the rerun: only the missing blocks are computed
    assert _predict_in_a_child(store, model, out, chunks) == N_BLOCKS - done
    np.testing.assert_array_equal(xl.open_map(out, verify=True).values, whole)
    assert _siblings(out) == []
    with BlockCounter("xlandslide-predict") as counter:  # done: a rerun computes nothing
        xl.write_map(_predicted(store, model, mode), out, resume=True)
    assert counter.blocks == 0


def test_resume_refuses_a_partial_map_of_another_model(prediction, tmp_path):
    store, model, _ = prediction
    out = tmp_path / "m.zarr"
    proc = _spawn(PREDICT, store, model, out, 1)
    _kill_when(proc, lambda: len(_files(partial_path(out) / "blocks")) >= 2)
    other = xl.load_model(model, device="cpu")
    with torch.no_grad():
        next(other.module.parameters()).add_(1.0)
    prob = xl.predict(xl.open_region(store), other, block_size=32)
    with pytest.raises(xl.ResumeError, match="other inputs"):
        xl.write_map(prob, out, resume=True)
