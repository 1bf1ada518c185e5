"""The fault suite (issue 8): kills, lost and damaged chunks, overwrites of what is not ours.

Every failure found when the package was tried as a new user would try it is reproduced here
and now passes:

- SIGKILL, in a subprocess, at a random point of a training run (a step, or the middle of a
  checkpoint write), of a region write, of a map write and of a resumable prediction; then
  the rerun.  Training resumed mid-epoch ends with the weights of an uninterrupted run, bit
  for bit (CPU); a prediction killed at about half computes only the missing blocks (counted)
  and gives the map of an uninterrupted run.
- A deleted, a truncated and a corrupted chunk in each variable of a region store and of a
  map store: refused (cheap check) or named at read time, never read as fill values.
- ``overwrite`` of a foreign folder and of the input; the temporary folders of killed writes.
- The typed errors that were plain ``ValueError`` / ``KeyError`` / ``RuntimeError``.

Subprocesses run the worktree's ``xlandslide`` (``PYTHONPATH``); each case takes a few
seconds, most of it starting Python and torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import xlandslide as xl
from tests.helpers import BlockCounter, custom_region
from xlandslide.checkpoint import read_checkpoint
from xlandslide.errors import (
    CheckpointError,
    ConfigError,
    CorruptChunkError,
    EvaluationError,
    ForeignOutputError,
    IncompleteStoreError,
    OutputIsInputError,
    PatchError,
    RegionError,
    ShapeError,
    XLandslideError,
)
from xlandslide.io.atomic import TEMP_TAG
from xlandslide.io.maps import partial_path

ROOT = Path(__file__).resolve().parents[1]
SIGKILL = -signal.SIGKILL

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


# ---------------------------------------------------------------------------------- helpers


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _spawn(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(script: str, *args, timeout=120) -> subprocess.CompletedProcess:
    proc = _spawn(script, *args)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _kill_when(proc: subprocess.Popen, ready, *, delay: float = 0.0, timeout: float = 120):
    """SIGKILL ``proc`` once ``ready()`` is true (then ``delay`` seconds more)."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the child ended (status {proc.returncode}) before the kill:\n{err}")
        if time.monotonic() - t0 > timeout:  # pragma: no cover - a hung child
            proc.kill()
            pytest.fail("the child made no progress")
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == SIGKILL


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _region(shape=(64, 64), chunks=None, seed=0):
    """A small region of random layers with fake uphill offsets at 30 and 100 m."""
    region = custom_region(shape, seed=seed, chunks=chunks)
    rng = np.random.default_rng(seed)
    off = rng.integers(-9, 10, (2, *shape)).astype(np.int8)
    return region.assign(
        uphill_dy=(("distance", "y", "x"), off), uphill_dx=(("distance", "y", "x"), -off)
    ).assign_coords(distance=("distance", [30.0, 100.0]))


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
    half = [p for p in tmp_path.iterdir() if p.name.startswith(".m.pt.")]
    assert len(half) == 1 and half[0].read_bytes().startswith(b"PK half")
    state = read_checkpoint(ckpt)["training_state"]  # the previous one, intact
    assert (state["epoch"], state["batch"]) == (2, 1)
    resumed = _fit(store, d / "split.json", ckpt, resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # the half file is gone
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
from tests.test_faults import _region

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
from tests.test_faults import _region

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
    assert not target.exists() and len(_siblings(target)) == 1
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
if slow == "1":  # slow enough to be killed at about half
    write = resumable._write_block
    def slow_write(*args, **kwargs):
        time.sleep(0.1)
        return write(*args, **kwargs)
    resumable._write_block = slow_write
prob = xl.predict(xl.open_region(store), xl.load_model(model, device="cpu"), block_size=32)
with BlockCounter("xlandslide-predict") as counter:
    xl.write_map(prob, out, resume=True)
print(json.dumps({"blocks": counter.blocks}))
"""


def _predict_in_a_child(store, model, out) -> int:
    """Predict to ``out`` (resume=True) in a fresh process; the blocks it computed."""
    run = _run(PREDICT, store, model, out, 0)
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


def _predicted(store, model):
    return xl.predict(xl.open_region(store), xl.load_model(model, device="cpu"), block_size=32)


def test_a_prediction_killed_at_half_resumes_with_only_the_missing_blocks(prediction, tmp_path):
    store, model, whole = prediction
    assert _predicted(store, model).data.numblocks == (4, 4)
    out = tmp_path / "m.zarr"
    proc = _spawn(PREDICT, store, model, out, 1)
    blocks = partial_path(out) / "blocks"
    _kill_when(proc, lambda: len(_files(blocks)) >= N_BLOCKS // 2)
    assert not out.exists()
    done = len(_files(blocks))
    assert N_BLOCKS // 2 <= done < N_BLOCKS
    with pytest.raises(IncompleteStoreError):  # the partial store is never a map
        xl.open_map(partial_path(out) / "map.zarr")
    # the rerun: only the missing blocks are computed
    assert _predict_in_a_child(store, model, out) == N_BLOCKS - done
    np.testing.assert_array_equal(xl.open_map(out, verify=True).values, whole)
    assert _siblings(out) == []
    with BlockCounter("xlandslide-predict") as counter:  # done: a rerun computes nothing
        xl.write_map(_predicted(store, model), out, resume=True)
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


# -------------------------------------------------------------------------- lost chunks

REGION_ARRAYS = [
    "dem",
    "label",
    "continuous",
    "categorical",
    "uphill_dy",
    "uphill_dx",
    "y",
    "x",
    "layer",
    "group",
    "distance",
    "spatial_ref",
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    d = tmp_path_factory.mktemp("pristine")
    region = _region((40, 48), seed=3)
    store = xl.write_region(region, d / "r.zarr", chunks=16)
    prob = region.dem.rename("susceptibility").chunk(16) * 0 + 0.25
    maps = xl.write_map(prob, d / "m.zarr")
    return store, maps, region


def _damage(store: Path, name: str, fault: str) -> tuple[Path, tuple]:
    """Damage the last chunk file of ``name``; return it and its chunk index."""
    chunk = _files(store / name / "c")[-1] if name != "spatial_ref" else store / name / "c"
    raw = chunk.read_bytes()
    if fault == "deleted":
        chunk.unlink()
    elif fault == "truncated":
        chunk.write_bytes(raw[: len(raw) // 2])
    else:  # the same size, one byte changed: only decoding can tell
        flipped = bytearray(raw)
        flipped[len(raw) // 2] ^= 0xFF
        chunk.write_bytes(bytes(flipped))
    rel = chunk.relative_to(store / name / "c").parts if name != "spatial_ref" else ()
    return chunk, tuple(int(i) for i in rel)


@pytest.mark.parametrize("fault", ["deleted", "truncated", "corrupted"])
@pytest.mark.parametrize("name", REGION_ARRAYS)
def test_a_damaged_chunk_of_a_region_is_never_read_silently(pristine, tmp_path, name, fault):
    store = shutil.copytree(pristine[0], tmp_path / "r.zarr")
    region = pristine[2]
    chunk, idx = _damage(store, name, fault)
    where = rf"chunk {re.escape(str(idx))} of '{name}'"
    if fault != "corrupted":
        with pytest.raises(IncompleteStoreError, match=where) as info:
            xl.open_region(store)
        assert str(store) in str(info.value) and str(chunk.relative_to(store)) in str(info.value)
        if fault == "deleted" and name == "label":
            # what a plain reader does: the lost chunk reads as 0, "stable", without a word
            lost = xr.open_zarr(store, consolidated=False)["label"].values
            truth = region.label.values
            sl = tuple(slice(i * 16, (i + 1) * 16) for i in idx)
            assert (lost[sl] == 0).all() and (truth[sl] != 0).any()
        return
    if name in region.data_vars:
        ds = xl.open_region(store)  # the cheap check cannot see it
        with pytest.raises(CorruptChunkError, match=rf"{where}|chunk {re.escape(str(idx))} \("):
            ds[name].values
    with pytest.raises(CorruptChunkError, match=f"'{name}'"):
        xl.open_region(store, verify=True)


@pytest.mark.parametrize("fault", ["deleted", "truncated", "corrupted"])
@pytest.mark.parametrize("name", ["susceptibility", "y", "x", "spatial_ref"])
def test_a_damaged_chunk_of_a_map_is_never_read_silently(pristine, tmp_path, name, fault):
    store = shutil.copytree(pristine[1], tmp_path / "m.zarr")
    _, idx = _damage(store, name, fault)
    if fault != "corrupted":
        with pytest.raises(IncompleteStoreError, match=rf"chunk {re.escape(str(idx))} of '{name}'"):
            xl.open_map(store)
        return
    if name == "susceptibility":
        with pytest.raises(CorruptChunkError, match=re.escape(str(idx))):
            xl.open_map(store).values
    with pytest.raises(CorruptChunkError, match=f"'{name}'"):
        xl.open_map(store, verify=True)


# ---------------------------------------------------------------------------------- overwrite


def test_overwrite_of_a_foreign_folder_and_of_the_input(tmp_path):
    from xlandslide.cli import main

    home = tmp_path / "home.zarr"
    (home / "thesis").mkdir(parents=True)
    (home / "thesis" / "data.csv").write_text("1,2,3")
    region = _region()
    for write in (
        lambda: xl.write_region(region, home, overwrite=True),
        lambda: xl.write_map(region.dem.rename("susceptibility"), home, overwrite=True),
    ):
        with pytest.raises(ForeignOutputError):
            write()
    assert (home / "thesis" / "data.csv").read_text() == "1,2,3"
    store = xl.write_region(region, tmp_path / "r.zarr")
    opened = xl.open_region(store)
    with pytest.raises(OutputIsInputError):
        xl.write_region(opened, store, overwrite=True)
    with pytest.raises(OutputIsInputError):
        xl.write_map(opened.dem.rename("susceptibility"), store / "inside.zarr")
    assert main(["offsets", str(store), "--out", str(store / "o.zarr"), "--halo", "16"]) == 2
    xl.open_region(store, verify=True)
    assert not any("inside" in p.name or "o.zarr" in p.name for p in store.rglob("*"))


# ------------------------------------------------------------------------- typed errors


def test_errors_on_user_input_are_the_packages(tmp_path):
    region = _region((48, 48))
    prob = region.dem * 0 + 0.5
    cases = [
        (lambda: xl.evaluate(prob, region.label.where(region.label < 1, 7)), EvaluationError),
        (lambda: xl.write_map(prob, tmp_path / "m.nc"), ConfigError),
        (lambda: xl.TrainConfig(lr=-1), ConfigError),
        (lambda: xl.TrainConfig(epochs="3"), ConfigError),
        (lambda: xl.TrainConfig.from_dict({"learning_rate": 1}), ConfigError),
        (lambda: xl.synthetic_region((2, 5)), ConfigError),
        (lambda: xl.ring_offsets("3"), ConfigError),
        (lambda: xl.slope(np.zeros((4, 4))), TypeError),
        (
            lambda: xl.fit(region, "llr", patches=xl.make_patches(region, xl.PatchGeometry(48, 8))),
            PatchError,
        ),
    ]
    from xlandslide.model import LandslideModel, spec_for_region

    spec = spec_for_region("llr", region, geometry=xl.PatchGeometry(16, 4))
    model = LandslideModel(spec.build_module(), spec)
    cases += [
        (lambda: model.predict_proba(np.zeros((2, 4, 4), np.float32)), ShapeError),
        (lambda: xl.predict(region.drop_vars("categorical"), model, check=False), RegionError),
        (lambda: xl.aligned_features(region.landslide.features(), region, ["nope"]), KeyError),
    ]
    for call, builtin in cases:
        with pytest.raises(XLandslideError) as info:
            call()
        assert isinstance(info.value, builtin), (type(info.value), str(info.value))


def test_a_checkpoint_with_nan_weights_or_a_string_version_is_refused(tmp_path):
    from xlandslide.model import LandslideModel, spec_for_region

    region = _region((48, 48))
    spec = spec_for_region("llr", region, geometry=xl.PatchGeometry(16, 4))
    model = LandslideModel(spec.build_module(), spec)
    path = xl.save_model(model, tmp_path / "m.pt")
    obj = torch.load(path, weights_only=True)
    obj["state_dict"] = {k: torch.full_like(v, float("nan")) for k, v in obj["state_dict"].items()}
    torch.save(obj, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="not finite"):
        xl.load_model(tmp_path / "nan.pt")
    obj = torch.load(path, weights_only=True)
    obj["format_version"] = "1"
    torch.save(obj, tmp_path / "str.pt")
    with pytest.raises(CheckpointError, match=r"format_version of '1' \(str\)"):
        xl.load_model(tmp_path / "str.pt")


def test_cli_mistakes_are_one_line_and_never_exit_zero(tmp_path, capsys):
    from xlandslide.cli import main

    store = xl.write_region(_region((48, 48)), tmp_path / "r.zarr")
    (tmp_path / "m.zarr").mkdir()
    capsys.readouterr()
    for argv in (
        ["synthetic", str(store), "--shape", "16", "16"],  # an existing output
        ["train", str(store), "--model", "llr", "--out", str(tmp_path / "x.pt"), "--lr", "-1"],
        ["evaluate", str(store), str(tmp_path / "m.zarr")],  # not a map of the package
        ["evaluate", str(tmp_path / "dem.tif"), str(tmp_path / "m.zarr")],
        ["predict", str(store), str(tmp_path / "none.pt"), "--out", str(store / "m.zarr")],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("xlandslide: error: "), (argv, err)
