"""Tests of xlandslide.train: masked loss, TrainConfig, the training loop, fit()."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xlandslide.errors import RegionError  # noqa: E402
from xlandslide.grid import PatchGeometry  # noqa: E402
from xlandslide.train import (  # noqa: E402
    LandslideModel,
    TrainConfig,
    fit,
    fit_datasets,
    load_model,
    masked_bce_with_logits,
)

GEOM = PatchGeometry(core=16, halo=4)  # patches of 24 x 24
NAMES = ("slope", "rock", "dem")


class FakePatches(torch.utils.data.Dataset):
    """Patch dicts following the batch contract; label ~ Bernoulli(sigmoid(3 x0 - 2))."""

    def __init__(self, n, *, n_distances=0, seed=0, size=GEOM.size):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, len(NAMES), size, size)).astype(np.float32)
        p = 1 / (1 + np.exp(-(3 * x[:, 0] - 2)))
        label = (rng.random((n, size, size)) < p).astype(np.int8)
        x[:, :, :5, :] = np.nan  # outside the region
        label[:, :5, :] = -1
        label[:, 10:12, 10:14] = -1  # unlabelled pixels inside the region
        self.x, self.label = torch.from_numpy(x), torch.from_numpy(label)
        self.offsets = None
        if n_distances:
            o = rng.integers(-3, 4, size=(n, n_distances, 2, size, size)).astype(np.int8)
            self.offsets = torch.from_numpy(o)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        item = {"features": self.x[i], "label": self.label[i], "index": i}
        if self.offsets is not None:
            item["offsets"] = self.offsets[i]
        return item


def quick(name="llr", **changes):
    base = dict(epochs=2, batch_size=4, device="cpu", seed=0)
    return TrainConfig.paper(name, **{**base, **changes})


def train_fake(name="llr", *, config=None, n_distances=0, **kwargs):
    d = n_distances or (2 if name in ("lann", "lacnn") else 0)
    train, val = FakePatches(12, n_distances=d, seed=1), FakePatches(4, n_distances=d, seed=2)
    model_config = {"cnn": {"base_width": 4}, "lacnn": {"base_width": 4}}.get(name)
    return fit_datasets(
        train,
        val,
        name,
        feature_names=NAMES,
        geometry=GEOM,
        aligned_names=("slope", "rock") if d else (),
        distances=(10.0, 30.0)[:d],
        pixel_size=10.0,
        normalisation={"slope": {"mean": 20.0, "std": 5.0}},
        config=config or quick(name),
        model_config=model_config,
        progress=False,
        **kwargs,
    )


# ---------------------------------------------------------------------------- the loss


def manual_bce(z, y, halo):
    z = z[:, halo:-halo, halo:-halo].astype("float64")
    y = y[:, halo:-halo, halo:-halo]
    k = y >= 0
    p = 1 / (1 + np.exp(-z[k]))
    return float(np.mean(-(y[k] * np.log(p) + (1 - y[k]) * np.log(1 - p))))


def test_masked_bce_equals_manual_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 12, 12)).astype(np.float32)
    y = rng.integers(-1, 2, size=(3, 12, 12)).astype(np.int8)
    got = masked_bce_with_logits(torch.from_numpy(z), torch.from_numpy(y), halo=2)
    assert got.dtype == torch.float32
    assert math.isclose(got.item(), manual_bce(z, y, 2), rel_tol=1e-6)


def test_masked_bce_ignores_unknown_and_halo_pixels():
    rng = np.random.default_rng(1)
    z = torch.from_numpy(rng.normal(size=(2, 10, 10)).astype(np.float32))
    y = torch.from_numpy(rng.integers(-1, 2, size=(2, 10, 10)).astype(np.int8))
    ignored = torch.ones_like(y, dtype=torch.bool)
    ignored[:, 3:-3, 3:-3] = y[:, 3:-3, 3:-3] < 0  # halo (3 px) and unknown core pixels
    z2 = z.clone()
    z2[ignored] = torch.tensor([np.nan, np.inf, -1e30, 50.0]).repeat(100)[: int(ignored.sum())]
    z1, z2 = z.clone().requires_grad_(), z2.requires_grad_()
    l1 = masked_bce_with_logits(z1, y, halo=3)
    l2 = masked_bce_with_logits(z2, y, halo=3)
    l1.backward()
    l2.backward()
    assert l1.item() == l2.item()
    assert torch.equal(z1.grad, z2.grad)
    assert torch.all(z1.grad[ignored] == 0)
    # the gradient of a mean BCE: (sigmoid(z) - y) / n_known at known core pixels
    known = ~ignored
    want = (torch.sigmoid(z[known]) - y[known].float()) / known.sum()
    torch.testing.assert_close(z1.grad[known], want)


def test_masked_bce_no_known_pixel_is_zero_with_gradient():
    z = torch.randn(1, 8, 8, requires_grad=True)
    y = torch.full((1, 8, 8), -1, dtype=torch.int8)
    y[0, 0, 0] = 1  # known but in the halo
    loss = masked_bce_with_logits(z, y, halo=2)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(z.grad == 0)


def test_masked_bce_is_stable_for_extreme_logits():
    z = torch.tensor([[[100.0, -100.0], [-100.0, 100.0]]])
    y = torch.tensor([[[1, 0], [1, 0]]], dtype=torch.int8)
    loss = masked_bce_with_logits(z, y, halo=0)
    assert math.isclose(loss.item(), 50.0, rel_tol=1e-6)  # (0 + 0 + 100 + 100) / 4


def test_masked_bce_shape_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        masked_bce_with_logits(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5, dtype=torch.int8), 0)
    with pytest.raises(ValueError, match="leaves no core"):
        masked_bce_with_logits(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.int8), 2)


# ------------------------------------------------------------------------ TrainConfig


def test_paper_table1():
    rows = {
        n: (c.optimizer, c.lr, c.epochs, c.batch_size)
        for n in ("LLR", "nn", "lann", "CNN", "lacnn")
        for c in [TrainConfig.paper(n)]
    }
    assert rows == {
        "LLR": ("adam", 0.125, 10, 15),
        "nn": ("adam", 0.125, 10, 13),
        "lann": ("adam", 0.016, 15, 10),
        "CNN": ("sgd", 0.125, 20, 12),
        "lacnn": ("adam", 0.001, 30, 9),
    }
    c = TrainConfig.paper("lacnn")
    assert (c.weight_decay, c.patience, c.oversample, c.seed) == (1e-3, 2, 5, 0)
    assert TrainConfig() == TrainConfig.paper("lacnn")
    with pytest.raises(ValueError, match="valid names"):
        TrainConfig.paper("naive")


def test_train_config_round_trip_and_validation():
    c = TrainConfig.paper("cnn", seed=3, max_batches_per_epoch=7, device="cpu")
    d = c.to_dict()
    assert d["optimizer"] == "sgd" and d["seed"] == 3
    assert TrainConfig.from_dict(d) == c
    assert c.replace(lr=0.5).lr == 0.5 and c.lr == 0.125
    with pytest.raises(ValueError, match="unknown TrainConfig keys"):
        TrainConfig.from_dict({**d, "learning_rate": 1})
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(ValueError, match="max_batches_per_epoch"):
        TrainConfig(max_batches_per_epoch=0)
    assert TrainConfig(optimizer="ADAM").optimizer == "adam"


# ------------------------------------------------------------------- the training loop


def test_fit_datasets_llr_learns_and_records_history(tmp_path):
    path = tmp_path / "m.pt"
    model = train_fake("llr", config=quick("llr", epochs=3, lr=0.2), checkpoint=path)
    h = model.history
    assert isinstance(model, LandslideModel)
    assert h["epoch"] == [1, 2, 3]
    assert len(h["train_loss"]) == len(h["val_loss"]) == len(h["lr"]) == 3
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert h["val_loss"][-1] < h["val_loss"][0]
    assert h["best_epoch"] == int(np.argmin(h["val_loss"])) + 1
    assert h["lr"][0] == 0.2
    # the truth is w = (3, 0, 0), b = -2: slope's weight dominates after 3 epochs
    w = model.module.linear_weights()
    assert w[0] > 1.0 and abs(w[0]) > 3 * max(abs(w[1]), abs(w[2]))
    assert model.train_config["lr"] == 0.2
    assert path.exists() and load_model(path, device="cpu").history == h


def test_best_validation_weights_are_kept():
    """The returned weights are those of the best epoch: re-evaluating gives its val loss."""
    val = FakePatches(4, seed=2)
    model = train_fake("nn", config=quick("nn", epochs=4, lr=0.5))
    h = model.history
    prob = model.predict_proba(val.x.numpy())
    logits = torch.logit(torch.from_numpy(prob).double(), eps=1e-12)
    loss = masked_bce_with_logits(logits, val.label, GEOM.halo).item()
    assert math.isclose(loss, min(h["val_loss"]), rel_tol=1e-4)


@pytest.mark.parametrize("name", ["cnn", "lacnn", "lann"])
def test_fit_datasets_runs_every_kind(name):
    model = train_fake(name, config=quick(name, epochs=1))
    assert model.name == name and len(model.history["train_loss"]) == 1
    assert all(np.isfinite(model.history["train_loss"]))
    assert model.needs_offsets == (name != "cnn")
    if model.needs_offsets:
        assert model.distances == (10.0, 30.0) and model.aligned_names == ("slope", "rock")
    else:
        assert model.distances == () and model.aligned_names == ()


def test_seeded_reproducibility():
    def weights(seed):
        m = train_fake("lacnn", config=quick("lacnn", epochs=1, seed=seed))
        return m.module.state_dict()

    a, b, c = weights(0), weights(0), weights(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_max_batches_callbacks_and_progress(capsys):
    seen = []

    def stop_after_two(record):
        seen.append(record)
        return record["epoch"] == 2

    class Counting(FakePatches):
        reads = 0

        def __getitem__(self, i):
            Counting.reads += 1
            return super().__getitem__(i)

    train = Counting(12, seed=1)
    model = fit_datasets(
        train,
        None,  # no validation set: the training loss drives the schedule
        "llr",
        feature_names=NAMES,
        geometry=GEOM,
        config=quick("llr", epochs=5, max_batches_per_epoch=1),
        callbacks=[stop_after_two],
        progress=True,
    )
    assert [r["epoch"] for r in seen] == [1, 2]
    assert Counting.reads == 2 * 4  # one batch of 4 per epoch, nothing read beyond it
    assert set(seen[0]) >= {"epoch", "train_loss", "val_loss", "lr", "seconds", "improved"}
    assert model.history["epoch"] == [1, 2]
    assert all(math.isnan(v) for v in model.history["val_loss"])
    err = capsys.readouterr().err
    assert "llr epoch 1/5: train" in err and "llr epoch 2/5" in err


def test_plateau_reduces_learning_rate():
    # lr so large that validation cannot improve for long: ReduceLROnPlateau(patience=0)
    model = train_fake("llr", config=quick("llr", epochs=4, lr=50.0, patience=0))
    lrs = model.history["lr"]
    assert lrs[0] == 50.0 and min(lrs) < 50.0


def test_aligned_batches_without_offsets_fail_clearly():
    with pytest.raises(RegionError, match="no 'offsets'"):
        fit_datasets(
            FakePatches(4),
            None,
            "lann",
            feature_names=NAMES,
            geometry=GEOM,
            aligned_names=("slope",),
            distances=(10.0,),
            config=quick("lann", epochs=1),
            progress=False,
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda_with_amp_matches_cpu_predictions():
    model = train_fake("lacnn", config=quick("lacnn", epochs=1, device="cuda", amp=True))
    assert model.device.type == "cuda"
    val = FakePatches(3, n_distances=2, seed=5)
    x, o = val.x.numpy(), val.offsets.numpy()
    p_gpu = model.predict_proba(x, o)
    p_cpu = model.predict_proba(x, o, device="cpu")
    np.testing.assert_allclose(p_gpu, p_cpu, atol=1e-4)


# ---------------------------------------------------------------------------- fit()


def tiny_region(ny=40, nx=36, seed=0, distances=(10.0, 30.0)):
    import xarray as xr

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(NAMES), ny, nx)).astype(np.float32)
    p = 1 / (1 + np.exp(-(3 * x[0] - 2)))
    label = (rng.random((ny, nx)) < p).astype(np.int8)
    x[:, :3, :] = np.nan
    label[:3, :] = -1
    ds = xr.Dataset(
        {
            "features": (("feature", "y", "x"), x),
            "label": (("y", "x"), label),
            "dem": (("y", "x"), rng.random((ny, nx)).astype(np.float32) * 100),
        },
        coords={
            "feature": list(NAMES),
            "y": 1000.0 - 10.0 * np.arange(ny) - 5,
            "x": 500.0 + 10.0 * np.arange(nx) + 5,
        },
        attrs={"normalisation": {"slope": {"mean": 20.0, "std": 5.0}}},
    )
    if distances:
        o = rng.integers(-2, 3, size=(len(distances), 2, ny, nx)).astype(np.int8)
        ds = ds.assign(
            uphill_dy=(("distance", "y", "x"), o[:, 0]),
            uphill_dx=(("distance", "y", "x"), o[:, 1]),
        ).assign_coords(distance=list(distances))
    return ds


def test_fit_on_a_region_end_to_end(tmp_path):
    patches = pytest.importorskip("xlandslide.patches")
    region = tiny_region()
    ps = patches.make_patches(region, GEOM, seed=0, fractions=(0.5, 0.25, 0.25))
    model = fit(
        region,
        "lacnn",
        patches=ps,
        config=quick("lacnn", epochs=1),
        model_config={"base_width": 4},
        aligned_names=["slope", "dem"],
        distances=[30.0],
        progress=False,
        checkpoint=tmp_path / "lacnn.pt",
    )
    assert model.distances == (30.0,) and model.aligned_names == ("slope", "dem")
    assert model.pixel_size == 10.0 and model.geometry == GEOM
    assert model.normalisation == {"slope": {"mean": 20.0, "std": 5.0}}
    assert model.feature_names == NAMES
    model.check_region(region)
    loaded = load_model(tmp_path / "lacnn.pt", device="cpu")
    assert loaded.history == model.history


def test_fit_chooses_aligned_features_with_an_llr_first():
    patches = pytest.importorskip("xlandslide.patches")
    region = tiny_region(seed=3)
    ps = patches.make_patches(region, GEOM, seed=0, fractions=(0.5, 0.25, 0.25))
    model = fit(region, "lann", patches=ps, config=quick("lann", epochs=1), progress=False)
    # label depends on slope only: the LLR gives it the largest weight, so it is chosen
    assert "slope" in model.aligned_names
    assert model.distances == (10.0, 30.0)  # the region's offsets


def test_fit_region_errors():
    pytest.importorskip("xlandslide.patches")
    region = tiny_region(distances=())
    with pytest.raises(RegionError, match="uphill"):
        fit(region, "lacnn", config=quick("lacnn"), aligned_names=["slope"], progress=False)
    with pytest.raises(RegionError, match="'label'"):
        fit(region.drop_vars("label"), "llr", config=quick("llr"), progress=False)
    with pytest.raises(ValueError, match="valid names"):
        fit(region, "unet", progress=False)


def test_fit_computes_missing_offsets_from_the_dem():
    patches = pytest.importorskip("xlandslide.patches")
    pytest.importorskip("xlandslide.features")
    region = tiny_region(distances=(), seed=4)
    ps = patches.make_patches(region, GEOM, seed=0, fractions=(0.5, 0.25, 0.25))
    model = fit(
        region,
        "lann",
        patches=ps,
        config=quick("lann", epochs=1),
        aligned_names=["slope"],
        distances=[20.0],
        progress=False,
    )
    assert model.distances == (20.0,)
    assert np.isfinite(model.history["train_loss"][0])
