"""The fault suite (issue 8): lost and damaged chunks, overwrites of what is not ours.

- A deleted, a truncated and a corrupted chunk in each variable of a region store and of a
  map store: refused (cheap check) or named at read time, never read as fill values.
- ``overwrite`` of a foreign folder and of the input; the temporary folders of killed writes.
- The typed errors that were plain ``ValueError`` / ``KeyError`` / ``RuntimeError``.

The kills (training, region, map and prediction writes) are in ``test_faults_kill.py``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

import xlandslide as xl
from tests.faultkit import files as _files
from tests.faultkit import region as _region
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
