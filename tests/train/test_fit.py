"""Tests of xlandslide.train.fit: one model on what it is given, refusals, the Naive model,
and the patch cache that keeps epochs from reading the region again (issue 6, item 5)."""

from __future__ import annotations

import sys

import dask
import numpy as np
import pytest
import torch
import xarray as xr

import xlandslide as xl
from tests.helpers import CountingScheduler, custom_region
from tests.train.common import (
    TINY_DISTANCES,
    TINY_GEOM,
    quick,
    tiny,
    tiny_aligned,
    tiny_patches,
)
from xlandslide.checkpoint import load_model
from xlandslide.errors import (
    ConfigError,
    GridMismatchError,
    HaloError,
    PatchError,
    RegionError,
    StoreExistsError,
)
from xlandslide.grid import PatchGeometry
from xlandslide.patches import dataset as dataset_mod
from xlandslide.patches import make_patches
from xlandslide.train import fit
from xlandslide.validate import check_fits

SMALL_LACNN = {"base_width": 2, "depth": 2}
#: The module xlandslide.train.fit (its attribute name is taken by the function).
fit_mod = sys.modules["xlandslide.train.fit"]


def train_ratio_oracle(label: np.ndarray, patches, mask=None) -> float:
    """Landslide pixels / known pixels over the cores of the training patches."""
    core = patches.geometry.core
    n = n_pos = 0
    for (r, c), s in zip(patches.origins, patches.split):
        if s != "train":
            continue
        block = label[r : r + core, c : c + core]
        keep = block >= 0
        if mask is not None:
            keep &= mask[r : r + core, c : c + core]
        n += int(keep.sum())
        n_pos += int((keep & (block == 1)).sum())
    return n_pos / n


# ------------------------------------------------------------------------------------ naive


def test_naive_predicts_the_training_positive_ratio(tmp_path):
    region, patches = tiny(), tiny_patches()
    want = train_ratio_oracle(region["label"].values, patches)
    assert 0 < want < 1
    path = tmp_path / "naive.pt"
    model = fit(region, "naive", patches=patches, checkpoint=path, progress=False)
    assert model.name == "naive" and model.spec.train_config is None
    assert model.history == {"train_ratio": pytest.approx(want, rel=1e-12)}
    assert model.module.ratio == pytest.approx(want, rel=1e-6)
    cont = region["continuous"].values[None, :, :40, :50]
    codes = region["categorical"].values[None, :, :40, :50]
    p = model.predict_proba(cont, codes)
    assert p.shape == (1, 40, 50)
    np.testing.assert_allclose(p, want, rtol=1e-6)
    loaded = load_model(path, device="cpu")
    np.testing.assert_array_equal(loaded.predict_proba(cont, codes), p)
    assert loaded.spec == model.spec and loaded.history == model.history


def test_naive_with_a_train_mask():
    region, patches = tiny(), tiny_patches()
    rng = np.random.default_rng(0)
    mask = rng.random(region["label"].shape) < 0.5
    model = fit(
        region,
        "naive",
        patches=patches,
        train_mask=xr.DataArray(mask, dims=("y", "x")),
        progress=False,
    )
    want = train_ratio_oracle(region["label"].values, patches, mask)
    assert model.module.ratio == pytest.approx(want, rel=1e-6)
    with pytest.raises(PatchError, match=r"no known pixel.*train_mask"):
        fit(
            region,
            "naive",
            patches=patches,
            train_mask=xr.DataArray(np.zeros_like(mask), dims=("y", "x")),
        )


def test_naive_takes_no_config():
    with pytest.raises(ConfigError, match="pass no config"):
        fit(tiny(), "naive", patches=tiny_patches(), config=quick("llr"))


# ------------------------------------------------------------------------------ end to end


def test_fit_lacnn_on_a_region(tmp_path):
    region, patches = tiny(), tiny_patches()
    path = tmp_path / "lacnn.pt"
    model = fit(
        region,
        "lacnn",
        patches=patches,
        aligned=tiny_aligned(),
        distances=[30.0],
        config=quick("lacnn", epochs=1, max_batches_per_epoch=2),
        model_config=SMALL_LACNN,
        progress=False,
        checkpoint=path,
    )
    spec = model.spec
    assert spec.name == "lacnn"
    assert spec.distances == (30.0,) and spec.aligned == tiny_aligned()
    assert spec.pixel_size == 10.0 and spec.geometry == TINY_GEOM
    assert spec.layout == xl.catalog.INSPIRE
    assert spec.feature_names[:2] == ("slope", "dem") and len(spec.feature_names) == 94
    assert spec.normalisation == region.attrs["normalisation"]
    assert spec.train_config == quick("lacnn", epochs=1, max_batches_per_epoch=2).to_dict()
    assert spec.model_config == {"norm": "group", "linear_skip": True, **SMALL_LACNN}  # defaults
    check_fits(region, spec)
    loaded = load_model(path, device="cpu")
    assert loaded.history == model.history and loaded.spec == spec


def test_fit_uses_every_distance_the_region_holds_by_default():
    model = fit(
        tiny(),
        "lann",
        patches=tiny_patches(),
        aligned=("slope",),
        config=quick("lann", epochs=1, max_batches_per_epoch=1),
        model_config={"hidden": [4]},
        progress=False,
    )
    assert model.spec.distances == TINY_DISTANCES


def test_fit_trains_one_model_on_what_it_is_given(monkeypatch):
    """No hidden offsets, patches or LLR: fit calls the loop once, for the model asked."""

    def refuse(*args, **kwargs):
        raise AssertionError("fit must not compute this itself")

    region, patches, aligned = tiny(), tiny_patches(), tiny_aligned()  # before refusing
    # dotted names: each module is imported (the test may be the first to touch it)
    for name in (
        "xlandslide.features.uphill_offsets",
        "xlandslide.patches.grid.make_patches",
        "xlandslide.patches.make_patches",
        "xlandslide.train.select.select_aligned_features",
        "xlandslide.train.select.rank_aligned",
    ):
        monkeypatch.setattr(name, refuse)
    calls = []
    original = fit_mod.train_module

    def recording(spec, *args, **kwargs):
        calls.append(spec.name)
        return original(spec, *args, **kwargs)

    monkeypatch.setattr(fit_mod, "train_module", recording)
    fit(
        region,
        "lacnn",
        patches=patches,
        aligned=aligned,
        config=quick("lacnn", epochs=1, max_batches_per_epoch=1),
        model_config=SMALL_LACNN,
        progress=False,
    )
    assert calls == ["lacnn"]


# --------------------------------------------------------------------------------- refusals


def test_the_halo_must_hold_the_looking_distances():
    """A LANN / LACNN whose distance ring is wider than the patches' halo is refused."""
    region = tiny()
    narrow = make_patches(region, PatchGeometry(core=32, halo=8), seed=0)
    for name in ("lann", "lacnn"):
        with pytest.raises(HaloError, match=r"300 m is a ring of 30 pixels.*halo of 8.*halo=30"):
            fit(region, name, patches=narrow, aligned=("slope",), distances=(300.0,))
        # the region's own offsets (30 and 100 m): 100 m is 10 pixels, beyond 8
        with pytest.raises(HaloError, match=r"100 m is a ring of 10 pixels.*distances up to 80 m"):
            fit(region, name, patches=narrow, aligned=("slope",))


def test_aligned_models_need_aligned_names_and_offsets():
    region, patches = tiny(), tiny_patches()
    with pytest.raises(ConfigError, match=r"pass aligned=.*select_aligned_features"):
        fit(region, "lacnn", patches=patches)
    bare = region.drop_vars(["uphill_dy", "uphill_dx", "distance"])
    with pytest.raises(ConfigError, match=r"holds no uphill offsets.*with_offsets"):
        fit(bare, "lann", patches=patches, aligned=("slope",))
    with pytest.raises(
        RegionError, match=r"lacks uphill offsets for distances \[50.0\].*with_offsets"
    ):
        fit(region, "lann", patches=patches, aligned=("slope",), distances=(30.0, 50.0))
    with pytest.raises(ConfigError, match="not features of the layout"):
        fit(region, "lann", patches=patches, aligned=("curvature",))
    with pytest.raises(ConfigError, match="reads no aligned features"):
        fit(region, "cnn", patches=patches, aligned=("slope",))
    with pytest.raises(ConfigError, match="leave aligned and distances empty"):
        fit(region, "llr", patches=patches, distances=(30.0,))


def test_a_region_too_small_for_the_patches_names_a_geometry():
    region = custom_region((500, 512))
    patches = make_patches(region, PatchGeometry(core=500, halo=64))
    assert [patches.counts()[s]["patches"] for s in ("train", "val", "test")] == [2, 0, 0]
    with pytest.raises(PatchError, match=r"500 x 512 region.*2 train / 0 val / 0 test") as info:
        fit(region, "llr", patches=patches, config=quick("llr"), progress=False)
    assert "PatchGeometry(core=128, halo=64)" in str(info.value)
    better = make_patches(region, PatchGeometry(core=128, halo=64))  # the advice works
    counts = better.counts()
    assert counts["train"]["patches"] >= 1 and counts["val"]["patches"] >= 1


def test_other_refusals():
    region, patches = tiny(), tiny_patches()
    with pytest.raises(ConfigError, match="unknown model 'unet'"):
        fit(region, "unet", patches=patches)
    with pytest.raises(ConfigError, match="patches must be a PatchSet"):
        fit(region, "llr", patches=patches.to_dict())
    other = make_patches(custom_region((40, 50)), TINY_GEOM)
    with pytest.raises(GridMismatchError, match=r"made for a region of shape \(40, 50\)"):
        fit(region, "llr", patches=other)
    with pytest.raises(RegionError, match="label"):
        fit(region.drop_vars("label"), "llr", patches=patches)
    small = xr.DataArray(np.ones((10, 10), bool), dims=("y", "x"))
    for key in ("train_mask", "val_mask"):
        with pytest.raises(GridMismatchError, match=rf"{key} has \(y, x\) sizes \(10, 10\)"):
            fit(region, "llr", patches=patches, **{key: small})
    with pytest.raises(ConfigError, match="config must be a TrainConfig"):
        fit(region, "llr", patches=patches, config={"lr": 0.1})
    with pytest.raises(ConfigError, match="base_width"):
        fit(region, "cnn", patches=patches, config=quick("cnn"), model_config={"base_width": 0})


def test_a_foreign_checkpoint_path_is_refused_first(tmp_path):
    foreign = tmp_path / "data.pt"
    foreign.write_bytes(b"precious")
    for name in ("naive", "llr"):
        config = None if name == "naive" else quick("llr")
        with pytest.raises(StoreExistsError, match="not an xlandslide checkpoint"):
            fit(tiny(), name, patches=tiny_patches(), config=config, checkpoint=foreign)
    assert foreign.read_bytes() == b"precious"


# --------------------------------------------------------------------- the cache (issue 6)


def test_a_second_epoch_reads_no_patch_from_the_region():
    """A lazy (dask-backed) region: every patch read is computed once a run; later epochs
    compute nothing (and a region built from a DEM is not recomputed every epoch)."""
    region = tiny().chunk({"y": 40, "x": 40})
    region["continuous"] = region["continuous"] * np.float32(1)  # a lazy step to recompute
    patches = tiny_patches()
    scheduler = CountingScheduler(max_computes=10**6)
    computes = []
    with dask.config.set(scheduler=scheduler):
        fit(
            region,
            "llr",
            patches=patches,
            config=quick("llr", epochs=3, batch_size=5),
            progress=False,
            callbacks=[lambda record: computes.append(scheduler.total_computes)],
        )
    distinct = len(set(patches.indices("train"))) + len(patches.indices("val"))
    assert computes[0] >= distinct  # the first epoch computed every patch it read
    assert computes[1] == computes[0] and computes[2] == computes[0]  # later epochs: none


@pytest.fixture(scope="module")
def store_region(tmp_path_factory):
    from xlandslide.io import open_region, write_region

    store = tmp_path_factory.mktemp("fit") / "tiny.zarr"
    write_region(tiny(), store)
    return open_region(store, chunks=None)


def test_dataloader_workers_keep_their_caches_across_epochs(store_region, tmp_path, monkeypatch):
    """With num_workers=2 every worker reads a patch at most once a run, not once an epoch."""
    log = tmp_path / "reads.log"
    original = dataset_mod._PaddedArray._getitem

    def counting(self, key):  # runs in the forked workers too
        with open(log, "a") as fh:
            fh.write("r\n")
        return original(self, key)

    monkeypatch.setattr(dataset_mod._PaddedArray, "_getitem", counting)
    patches = tiny_patches()
    fit(
        store_region,
        "llr",
        patches=patches,
        config=quick("llr", epochs=4, batch_size=4, num_workers=2),
        progress=False,
    )
    reads = len(log.read_text().splitlines())
    distinct = len(set(patches.indices("train"))) + len(patches.indices("val"))
    n_vars = 3  # continuous, categorical, label
    assert distinct * n_vars <= reads <= 2 * distinct * n_vars  # 4 epochs would read 4 x


def test_fit_result_predicts_like_its_module():
    region, patches = tiny(), tiny_patches()
    model = fit(region, "llr", patches=patches, config=quick("llr", epochs=1), progress=False)
    cont = region["continuous"].values[None]
    codes = region["categorical"].values[None]
    with torch.no_grad():
        z = model.module(torch.from_numpy(cont), torch.from_numpy(codes))
    np.testing.assert_array_equal(model.predict_proba(cont, codes), torch.sigmoid(z).numpy())


def test_a_warm_start_begins_at_the_llr_and_is_kept_unless_beaten():
    region, patches = tiny(), tiny_patches()
    llr = fit(region, "llr", patches=patches, config=quick("llr"), progress=False)
    opts = {"hidden": [4], "linear_skip": True}
    # a learning rate too small to move: the result is the LLR itself (epoch 0 kept or
    # an epoch equal to it)
    lann = fit(
        region,
        "lann",
        patches=patches,
        aligned=tiny_aligned(),
        model_config=opts,
        config=quick("lann", lr=1e-12, epochs=1),
        warm_start=llr,
        progress=False,
    )
    assert lann.history["best_epoch"] in (0, 1) and "start_val_loss" in lann.history
    a = xl.predict(region, llr).values
    b = xl.predict(region, lann).values
    np.testing.assert_allclose(b, a, atol=1e-5)
    # with training: never worse than the start on the validation pixels
    lann = fit(
        region,
        "lann",
        patches=patches,
        aligned=tiny_aligned(),
        model_config=opts,
        config=quick("lann", lr=0.5, epochs=2),
        warm_start=llr,
        progress=False,
    )
    start = lann.history["start_val_loss"][0]
    best = min([start, *lann.history["val_loss"]])
    chosen = (
        start
        if lann.history["best_epoch"] == 0
        else lann.history["val_loss"][lann.history["best_epoch"] - 1]
    )
    assert chosen == best
    with pytest.raises(ConfigError, match="linear"):
        fit(
            region,
            "lann",
            patches=patches,
            aligned=tiny_aligned(),
            model_config={"hidden": [4], "linear_skip": False},
            config=quick("lann"),
            warm_start=llr,
            progress=False,
        )
    naive = fit(region, "naive", patches=patches)
    with pytest.raises(ConfigError, match="an LLR, a nn model or a lann model"):
        fit(
            region,
            "lann",
            patches=patches,
            aligned=tiny_aligned(),
            model_config=opts,
            config=quick("lann"),
            warm_start=naive,
            progress=False,
        )


def test_an_aligned_model_starts_from_its_base_exactly():
    """A LACNN warm-started from a CNN predicts the CNN's map before training (aligned
    channels at zero), and training keeps the start unless the validation loss drops."""
    region, patches = tiny(), tiny_patches()
    small = {"base_width": 4, "depth": 2}
    cnn = fit(
        region,
        "cnn",
        patches=patches,
        config=xl.TrainConfig.default("cnn", epochs=1, device="cpu", max_batches_per_epoch=2),
        model_config=small,
        progress=False,
    )
    lacnn = fit(
        region,
        "lacnn",
        patches=patches,
        aligned=tiny_aligned(),
        distances=[30.0],
        config=xl.TrainConfig.default("lacnn", lr=1e-12, epochs=1, device="cpu"),
        model_config=small,
        warm_start=cnn,
        progress=False,
    )
    assert "start_val_loss" in lacnn.history
    np.testing.assert_allclose(
        xl.predict(region, lacnn).values, xl.predict(region, cnn).values, atol=1e-5
    )
    with pytest.raises(ConfigError, match="same options"):
        fit(
            region,
            "lacnn",
            patches=patches,
            aligned=tiny_aligned(),
            distances=[30.0],
            config=xl.TrainConfig.default("lacnn", epochs=1, device="cpu"),
            model_config={"base_width": 8, "depth": 2},
            warm_start=cnn,
            progress=False,
        )


def test_default_geometry_adapts_to_small_regions():
    from xlandslide.errors import GeometryWarning
    from xlandslide.grid import geometry_for

    assert geometry_for((19500, 21005)) == (xl.PatchGeometry(), None)
    g, why = geometry_for((900, 860))
    assert g.core == 128 and "128" in why
    with pytest.warns(GeometryWarning, match="core"):
        assert tiny().landslide.patches().geometry.core < 500
