"""Tests of xlandslide.model: ModelSpec (what a model needs) and LandslideModel (inference)."""

from __future__ import annotations

import json
import pickle
import threading

import dask
import numpy as np
import pytest
import torch

from tests.helpers import custom_region
from tests.models.common import SMALL, random_inputs
from xlandslide.catalog import FeatureLayout
from xlandslide.errors import ConfigError, ShapeError
from xlandslide.grid import PatchGeometry
from xlandslide.model import (
    LandslideModel,
    ModelSpec,
    check_finite_weights,
    device_lock,
    normalise_device,
    package_version,
    spec_for_region,
)
from xlandslide.models import CNN, LACNN, LANN, LLR, MODELS, NN, Naive

LAYOUT = FeatureLayout(("slope", "dem"), {"soil": ("a", "b", "c"), "cover": ("x", "y", "z", "w")})
ALIGNED = ("slope", "soil_b", "cover_w")
DISTANCES = (30.0, 100.0)
GEOM = PatchGeometry(core=16, halo=4)
NORM = {"slope": {"mean": 20.0, "std": 5.0}, "dem": {"mean": 800.0, "std": 300.0}}
CLASSES = {"naive": Naive, "llr": LLR, "nn": NN, "lann": LANN, "cnn": CNN, "lacnn": LACNN}


def make_spec(model="lacnn", **changes):
    aligned = MODELS[model.lower()].needs_offsets
    fields = {
        "name": model,
        "layout": LAYOUT,
        "aligned": ALIGNED if aligned else (),
        "distances": DISTANCES if aligned else (),
        "geometry": GEOM,
        "pixel_size": 10.0,
        "normalisation": NORM,
        "model_config": SMALL.get(model.lower(), {}),
        "train_config": {"lr": 0.001, "epochs": 1},
    }
    return ModelSpec(**{**fields, **changes})


def make_model(name="lacnn", seed=0):
    spec = make_spec(name)
    torch.manual_seed(seed)
    module = spec.build_module()
    if name == "naive":
        module.init_prior(0.1)
    return LandslideModel(module, spec, history={"train_loss": [0.5, 0.4], "best_epoch": 2})


# ---------------------------------------------------------------------------------- ModelSpec


@pytest.mark.parametrize("name", [n for n, e in MODELS.items() if e.backend == "torch"])
def test_spec_round_trips_through_json(name):
    spec = make_spec(name)
    d = json.loads(json.dumps(spec.to_dict()))
    back = ModelSpec.from_dict(d)
    assert back == spec
    assert back.token() == spec.token()
    assert hash(back) == hash(spec)
    assert d["geometry"] == {"core": 16, "halo": 4}
    assert d["layout"] == LAYOUT.to_dict()
    assert spec.version == package_version()


@pytest.mark.parametrize("name", [n for n, e in MODELS.items() if e.backend == "torch"])
def test_spec_derived_facts_and_module(name):
    spec = make_spec(name)
    assert spec.feature_names == LAYOUT.names
    assert spec.feature_names[:2] == ("slope", "dem") and len(spec.feature_names) == 9
    assert spec.needs_offsets == MODELS[name].needs_offsets
    assert spec.pixelwise == MODELS[name].pixelwise
    if spec.needs_offsets:
        assert spec.aligned_index == [0, 3, 8]
    module = spec.build_module()
    assert type(module) is CLASSES[name]
    assert module.n_features == 9
    if spec.needs_offsets:
        assert module.gather.feature_index.tolist() == [0, 3, 8]
        assert module.gather.n_distances == 2


def test_spec_normalises_its_fields():
    spec = make_spec(
        "LaCNN",
        aligned=["slope"],
        distances=[np.float32(30), 100],
        pixel_size=np.float64(10),
        normalisation={"slope": {"mean": np.float32(2.5), "std": 1}},
    )
    assert spec.name == "lacnn"
    assert spec.aligned == ("slope",) and spec.distances == (30.0, 100.0)
    assert type(spec.pixel_size) is float
    assert type(spec.normalisation["slope"]["mean"]) is float
    assert spec.replace(distances=(30.0,)).distances == (30.0,)
    with pytest.raises(ConfigError, match="unique"):
        spec.replace(distances=(30.0, 30.0))
    with pytest.raises(dataclasses_frozen()):
        spec.name = "cnn"


def dataclasses_frozen():
    import dataclasses

    return dataclasses.FrozenInstanceError


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": "unet"}, r"unknown model 'unet'.*valid names"),
        ({"layout": ("slope", "dem")}, "layout must be a FeatureLayout"),
        ({"geometry": {"core": 16, "halo": 4}}, "geometry must be a PatchGeometry"),
        ({"aligned": ()}, "needs aligned feature names and looking distances"),
        ({"distances": ()}, "select_aligned_features"),
        ({"aligned": ("slope", "lithology_x")}, r"\['lithology_x'\] are not features"),
        ({"aligned": ("slope", "slope")}, "aligned features must be unique"),
        ({"distances": (30.0, 30.0)}, "distances must be unique"),
        ({"distances": (30.0, -5.0)}, "positive and finite"),
        ({"distances": (30.0, float("nan"))}, "positive and finite"),
        ({"distances": ("far",)}, "distances must be numbers"),
        ({"distances": 30.0}, "are sequences"),
        ({"aligned": "slope"}, "are sequences"),
        ({"pixel_size": 0}, "pixel_size must be a positive"),
        ({"pixel_size": float("inf")}, "pixel_size"),
        ({"normalisation": [1, 2]}, "normalisation must be a mapping"),
        ({"model_config": "base_width=4"}, "model_config must be a mapping"),
        ({"train_config": 3}, "train_config must be a mapping"),
    ],
)
def test_spec_validation_errors(changes, match):
    with pytest.raises(ConfigError, match=match):
        make_spec("lacnn", **changes)


def test_spec_of_a_plain_model_refuses_aligned_fields():
    with pytest.raises(ConfigError, match="reads no aligned features"):
        make_spec("cnn", aligned=("slope",), distances=(30.0,))
    with pytest.raises(ConfigError, match="reads no aligned features"):
        make_spec("llr", distances=(30.0,))


def test_spec_bad_model_config_fails_when_building():
    spec = make_spec("cnn", model_config={"base_width": 0})
    with pytest.raises(ConfigError, match="base_width"):
        spec.build_module()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: [1, 2], "a model spec is a mapping"),
        (lambda d: {**d, "colour": "red"}, r"unknown keys \['colour'\]"),
        (lambda d: {k: v for k, v in d.items() if k != "layout"}, r"missing keys \['layout'\]"),
        (lambda d: {**d, "geometry": [16, 4]}, "geometry must be a mapping"),
        (lambda d: {**d, "geometry": {"core": -1, "halo": 4}}, "core must be an integer"),
        (lambda d: {**d, "geometry": {"size": 5}}, "malformed model spec"),
        (lambda d: {**d, "layout": {"continuous": 3}}, "malformed model spec"),
        (lambda d: {**d, "normalisation": 5}, "normalisation must be a mapping"),
        (lambda d: {**d, "name": "resnet"}, "unknown model"),
    ],
)
def test_spec_from_dict_errors(mutate, match):
    with pytest.raises(ConfigError, match=match):
        ModelSpec.from_dict(mutate(make_spec("lacnn").to_dict()))


def test_spec_from_dict_defaults():
    d = {"name": "llr", "layout": LAYOUT.to_dict()}
    spec = ModelSpec.from_dict(d)
    assert spec.geometry == PatchGeometry() and spec.version == "unknown"
    assert spec.normalisation == {} and spec.train_config is None


def test_spec_for_region_reads_the_region_metadata():
    region = custom_region((30, 40), continuous=("a", "b"), groups={"soil": 3})
    spec = spec_for_region("lann", region, aligned=("a", "soil_c2"), distances=(20.0,))
    assert spec.layout.names == ("a", "b", "soil_c0", "soil_c1", "soil_c2")
    assert spec.pixel_size == 10.0
    assert spec.normalisation == {n: {"mean": 0.0, "std": 1.0} for n in ("a", "b")}
    assert spec.aligned_index == [0, 4]


# ---------------------------------------------------------------------------- LandslideModel


def inputs(b=3, h=24, w=20, seed=0):
    cont, codes, offsets = random_inputs(b=b, h=h, w=w, seed=seed)
    return cont, codes, offsets


@pytest.mark.parametrize("name", [n for n, e in MODELS.items() if e.backend == "torch"])
def test_predict_proba_is_the_sigmoid_of_the_module(name):
    model = make_model(name)
    cont, codes, offsets = inputs()
    p = model.predict_proba(cont, codes, offsets)
    assert p.shape == (3, 24, 20) and p.dtype == np.float32
    assert np.all((p >= 0) & (p <= 1))
    o = torch.from_numpy(offsets) if model.needs_offsets else None
    with torch.no_grad():
        z = model.module(torch.from_numpy(cont), torch.from_numpy(codes), o)
    np.testing.assert_array_equal(p, torch.sigmoid(z).numpy())
    # batches of any size give the same
    np.testing.assert_allclose(model.predict_proba(cont, codes, offsets, batch_size=2), p, 1e-6)
    if not model.needs_offsets:  # the others ignore offsets
        np.testing.assert_array_equal(model.predict_proba(cont, codes), p)


def test_predict_proba_accepts_read_only_non_contiguous_and_other_dtypes():
    model = make_model("lacnn")
    cont, codes, offsets = inputs()
    want = model.predict_proba(cont, codes, offsets)
    ro = [a.copy() for a in (cont, codes, offsets)]
    for a in ro:
        a.setflags(write=False)
    np.testing.assert_array_equal(model.predict_proba(*ro), want)
    fortran = [np.asfortranarray(a) for a in (cont, codes, offsets)]
    np.testing.assert_array_equal(model.predict_proba(*fortran), want)
    np.testing.assert_array_equal(
        model.predict_proba(cont.astype(np.float64), codes.astype(np.int64), offsets), want
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (lambda c, g, o: (c[:, :1], g, o), r"continuous must have shape \(B, 2, H, W\)"),
        (lambda c, g, o: (c[0], g, o), "continuous must have shape"),
        (lambda c, g, o: (c, None, o), r"categorical must have shape \(3, 2, 24, 20\).*soil"),
        (lambda c, g, o: (c, g[:, :, :5], o), "categorical must have shape"),
        (lambda c, g, o: (c, g, None), r"needs offsets of shape \(3, 2, 2, 24, 20\).*with_offsets"),
        (lambda c, g, o: (c, g, o[:, :1]), r"\[30.0, 100.0\] m"),
    ],
)
def test_predict_proba_shape_errors(args, match):
    model = make_model("lacnn")
    with pytest.raises(ShapeError, match=match):
        model.predict_proba(*args(*inputs()))


def test_predict_proba_batch_size_error():
    model = make_model("llr")
    cont, codes, _ = inputs()
    for bad in (0, -2):
        with pytest.raises(ConfigError, match="batch_size"):
            model.predict_proba(cont, codes, batch_size=bad)


def test_layout_without_groups():
    layout = FeatureLayout(("a", "b"), {})
    model = LandslideModel(ModelSpec("llr", layout).build_module(), ModelSpec("llr", layout))
    cont = inputs()[0]
    p = model.predict_proba(cont)
    assert p.shape == (3, 24, 20)
    np.testing.assert_array_equal(model.predict_proba(cont, np.zeros((1,), np.uint8)), p)


def test_thread_safe_predictions():
    model = make_model("lacnn")
    cont, codes, offsets = inputs(b=4)
    want = model.predict_proba(cont, codes, offsets)
    results = [None] * 6
    barrier = threading.Barrier(6)

    def work(i):
        barrier.wait()
        results[i] = model.predict_proba(cont, codes, offsets, device="cpu", batch_size=i % 3 + 1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_allclose(r, want, rtol=0, atol=1e-6)
    assert device_lock("cpu") is device_lock(torch.device("cpu"))
    assert not model.module.training  # predict never switched it to training


def test_dask_token_is_stable_and_follows_the_weights():
    a, b = make_model("lacnn", seed=0), make_model("lacnn", seed=0)
    token = dask.base.tokenize(a)
    assert dask.base.tokenize(a) == token
    assert dask.base.tokenize(b) == token  # same spec, same weights
    assert dask.base.tokenize(pickle.loads(pickle.dumps(a))) == token
    assert dask.base.tokenize(make_model("lacnn", seed=1)) != token
    with torch.no_grad():
        next(b.module.parameters()).view(-1)[0] += 1e-3
    assert dask.base.tokenize(b) != token
    other_spec = LandslideModel(a.module, a.spec.replace(pixel_size=20.0))
    assert dask.base.tokenize(other_spec) != token


def test_pickling_keeps_predictions_and_history():
    model = make_model("lann")
    cont, codes, offsets = inputs()
    model.module_on(torch.device("cpu"))
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        clone.predict_proba(cont, codes, offsets), model.predict_proba(cont, codes, offsets)
    )
    assert clone.spec == model.spec and clone.history == model.history
    assert clone._replicas == {}
    with clone._lock:  # a fresh, working lock
        pass


def test_model_properties():
    model = make_model("lacnn")
    assert model.name == "lacnn" and model.needs_offsets
    assert model.device == torch.device("cpu")
    assert model.to("cpu") is model
    assert model.module_on(torch.device("cpu")) is model.module
    text = repr(model)
    assert "LandslideModel('lacnn', features=9, aligned=3, distances=[30.0, 100.0]" in text
    assert model.history == {"train_loss": [0.5, 0.4], "best_epoch": 2}
    with pytest.raises(ConfigError, match="spec must be a ModelSpec"):
        LandslideModel(model.module, model.spec.to_dict())
    assert normalise_device("cpu") == torch.device("cpu")


def test_check_finite_weights_names_the_tensors():
    model = make_model("llr")
    assert check_finite_weights(model.module) == []
    with torch.no_grad():
        model.module.body.bias.fill_(float("nan"))
    assert check_finite_weights(model.module) == ["body.bias"]
