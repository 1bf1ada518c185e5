"""Tests of xlandslide.checkpoint: save / load round trip, checks, errors, atomic writes."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
xr = pytest.importorskip("xarray")

import xlandslide  # noqa: E402
from xlandslide.checkpoint import FORMAT_VERSION, LandslideModel, load_model  # noqa: E402
from xlandslide.errors import CheckpointError, CheckpointMismatchError  # noqa: E402
from xlandslide.grid import PatchGeometry  # noqa: E402
from xlandslide.models import build_model  # noqa: E402

NAMES = ("slope", "rock", "dem")
NORM = {"slope": {"mean": 20.0, "std": 5.0}, "dem": {"mean": 800.0, "std": 300.0}}
GEOM = PatchGeometry(core=16, halo=4)


def make_model(name="lacnn", seed=0):
    torch.manual_seed(seed)
    aligned = ("slope", "dem") if name in ("lann", "lacnn") else ()
    distances = (30.0, 100.0) if aligned else ()
    config = {"base_width": 4} if name in ("cnn", "lacnn") else {}
    module = build_model(
        name,
        len(NAMES),
        feature_names=NAMES,
        aligned_names=aligned,
        n_distances=len(distances),
        **config,
    )
    return LandslideModel(
        module,
        name,
        feature_names=NAMES,
        aligned_names=aligned,
        distances=distances,
        geometry=GEOM,
        pixel_size=10.0,
        normalisation=NORM,
        train_config={"lr": 0.001, "epochs": 1},
        history={"train_loss": [0.5, 0.4], "val_loss": [0.6, float("nan")], "best_epoch": 1},
    )


def inputs(b=3, size=24, d=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, len(NAMES), size, size)).astype(np.float32)
    x[:, :, :3] = np.nan
    o = rng.integers(-3, 4, size=(b, d, 2, size, size)).astype(np.int8)
    return x, o


def region(names=NAMES, pixel=10.0, norm=NORM, distances=(30.0, 100.0), n=12):
    ds = xr.Dataset(
        {"features": (("feature", "y", "x"), np.zeros((len(names), n, n), np.float32))},
        coords={
            "feature": list(names),
            "y": 1000.0 - pixel * np.arange(n),
            "x": pixel * np.arange(n),
        },
        attrs={"normalisation": norm} if norm is not None else {},
    )
    if distances:
        zeros = np.zeros((len(distances), n, n), np.int8)
        ds = ds.assign(
            uphill_dy=(("distance", "y", "x"), zeros), uphill_dx=(("distance", "y", "x"), zeros)
        ).assign_coords(distance=list(distances))
    return ds


# ------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", ["llr", "nn", "lann", "cnn", "lacnn"])
def test_round_trip_identical_predictions(tmp_path, name):
    model = make_model(name)
    x, o = inputs()
    before = model.predict_proba(x, o)
    path = model.save(tmp_path / "sub" / f"{name}.pt")
    loaded = load_model(path, device="cpu")
    np.testing.assert_array_equal(loaded.predict_proba(x, o), before)
    assert before.shape == (3, 24, 24) and before.dtype == np.float32
    assert np.all((before >= 0) & (before <= 1))
    for attr in (
        "name",
        "feature_names",
        "aligned_names",
        "distances",
        "geometry",
        "pixel_size",
        "normalisation",
        "model_config",
        "train_config",
    ):
        assert getattr(loaded, attr) == getattr(model, attr), attr
    assert loaded.history["train_loss"] == [0.5, 0.4]
    assert np.isnan(loaded.history["val_loss"][1])
    assert loaded.version == xlandslide.__version__
    assert loaded.needs_offsets == model.needs_offsets
    assert not loaded.module.training


def test_checkpoint_is_plain_and_weights_only_loadable(tmp_path):
    path = make_model("lacnn").save(tmp_path / "m.pt")
    obj = torch.load(path, weights_only=True)
    assert obj["format"] == "xlandslide-checkpoint"
    assert obj["format_version"] == FORMAT_VERSION
    assert obj["xlandslide_version"] == xlandslide.__version__
    assert obj["geometry"] == {"core": 16, "halo": 4}
    assert obj["distances"] == [30.0, 100.0]
    assert obj["model_config"] == {
        "base_width": 4,
        "depth": 4,
        "batch_norm": False,
        "validity_channel": False,
    }
    assert all(v.device.type == "cpu" for v in obj["state_dict"].values())


def test_predict_proba_batches_copies_threads_and_pickling():
    model = make_model("lacnn")
    x, o = inputs(b=5)
    whole = model.predict_proba(x, o)
    np.testing.assert_allclose(model.predict_proba(x, o, batch_size=2), whole, atol=1e-6)
    # read-only and non-contiguous inputs (dask blocks) are accepted
    xr_, or_ = x.copy(), o.copy()
    xr_.setflags(write=False)
    or_.setflags(write=False)
    np.testing.assert_array_equal(model.predict_proba(xr_, or_), whole)
    # thread-safe: concurrent calls give the same answers
    results = [None] * 4

    def work(i):
        results[i] = model.predict_proba(x, o, device="cpu")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, whole)
    # picklable (dask ships it to workers)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(x, o), whole)
    assert model.to("cpu") is model


def test_predict_proba_argument_errors():
    model = make_model("lacnn")
    x, o = inputs()
    with pytest.raises(ValueError, match="needs `offsets`"):
        model.predict_proba(x)
    with pytest.raises(ValueError, match="offsets must have shape"):
        model.predict_proba(x, o[:, :1])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model.predict_proba(x[:, :2], o)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict_proba(x, o, batch_size=0)
    # models without aligned features ignore offsets
    cnn = make_model("cnn")
    np.testing.assert_array_equal(cnn.predict_proba(x, o), cnn.predict_proba(x))


# ------------------------------------------------------------------------ check_region


def test_check_region_accepts_the_training_grid():
    make_model("lacnn").check_region(region())
    make_model("cnn").check_region(region(distances=()))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"names": ("slope", "rock")}, r"lacks 1 feature\(s\).*dem.*retrain"),
        ({"names": ("rock", "slope", "dem")}, r"order.*region.sel\(feature=list"),
        ({"names": (*NAMES, "extra")}, "order or number"),
        ({"pixel": 20.0}, r"pixel size is 20.*trained at 10.*resample"),
        ({"norm": {**NORM, "dem": {"mean": 801.0, "std": 300.0}}}, r"'dem'.*mean 801.*800"),
        ({"norm": {"slope": NORM["slope"]}}, "no normalisation statistics for 'dem'"),
        ({"distances": (30.0,)}, r"lacks uphill offsets.*\[100.0\].*uphill_offsets"),
        ({"distances": ()}, r"lacks uphill offsets.*\[30.0, 100.0\]"),
    ],
)
def test_check_region_mismatches_name_the_fix(kwargs, match):
    with pytest.raises(CheckpointMismatchError, match=match):
        make_model("lacnn").check_region(region(**kwargs))


def test_check_region_offsets_optional():
    make_model("lacnn").check_region(region(distances=()), require_offsets=False)
    with pytest.raises(CheckpointMismatchError, match="'features'"):
        make_model("llr").check_region(xr.Dataset())


# ------------------------------------------------------------------------------ errors


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_model(tmp_path / "nope.pt")


def test_non_checkpoint_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable xlandslide checkpoint"):
        load_model(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="not an xlandslide checkpoint"):
        load_model(other)
    with pytest.raises(CheckpointError, match="directory"):
        load_model(tmp_path)
    # a pickle of an arbitrary object is refused by weights_only loading
    evil = tmp_path / "evil.pt"
    torch.save({"format": "xlandslide-checkpoint", "obj": threading.Lock}, evil)
    with pytest.raises(CheckpointError):
        load_model(evil)
    assert issubclass(CheckpointError, ValueError)


def test_newer_or_broken_checkpoints(tmp_path):
    obj = make_model("llr").to_dict()
    newer = tmp_path / "newer.pt"
    torch.save({**obj, "format_version": FORMAT_VERSION + 1}, newer)
    with pytest.raises(CheckpointError, match="upgrade xlandslide"):
        load_model(newer)
    broken = tmp_path / "broken.pt"
    torch.save({**obj, "state_dict": {}}, broken)
    with pytest.raises(CheckpointError, match="inconsistent"):
        load_model(broken)


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    make_model("llr", seed=0).save(path)
    before = path.read_bytes()

    def failing_save(obj, fh, *args, **kwargs):
        fh.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        make_model("llr", seed=1).save(path)
    assert path.read_bytes() == before  # the old checkpoint is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temporary left
    with pytest.raises(OSError, match="disk full"):
        make_model("llr").save(tmp_path / "new.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_lazy_public_names():
    assert xlandslide.LandslideModel is LandslideModel
    assert xlandslide.load_model is load_model
    assert xlandslide.TrainConfig.paper("llr").lr == 0.125
    assert callable(xlandslide.fit)
