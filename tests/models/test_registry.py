"""Tests of the model registry (xlandslide.models): names, flags, Table 1, build_model."""

from __future__ import annotations

import pytest
import torch

from tests.models.common import ALIGNED_INDEX, N_CLASSES, N_CONTINUOUS, small_model
from xlandslide.catalog import INSPIRE
from xlandslide.errors import ConfigError
from xlandslide.models import (
    CNN,
    LACNN,
    LANN,
    LLR,
    MODELS,
    NN,
    Naive,
    build_model,
    canonical_name,
    model_entry,
    model_needs_offsets,
)

PAPER = ["naive", "llr", "nn", "lann", "cnn", "lacnn"]
LEARNERS = ["fr", "lafr", "woe", "lawoe", "gam", "lagam", "gbm", "lagbm"]


def test_names_in_the_order_of_the_paper_then_the_fields_models():
    assert list(MODELS) == PAPER + LEARNERS
    for name, entry in MODELS.items():
        assert entry.name == name and entry.description
    # what a model is, from the registry (nothing checks a model by its name)
    assert [n for n, e in MODELS.items() if not e.trained] == ["naive"]
    assert [n for n, e in MODELS.items() if e.linear] == ["llr"]
    assert {n: e.base for n, e in MODELS.items() if e.base} == {
        "lann": "nn",
        "lacnn": "cnn",
        **{f"la{n}": n for n in ("fr", "woe", "gam", "gbm")},
    }
    assert [n for n, e in MODELS.items() if e.backend == "learner"] == LEARNERS
    for name in LEARNERS:
        e = MODELS[name]
        assert e.pixelwise and e.paper is None and e.needs_offsets == name.startswith("la")


def test_needs_offsets_and_pixelwise_flags():
    paper = {n: MODELS[n] for n in PAPER}
    assert {n: e.needs_offsets for n, e in paper.items()} == {
        "naive": False,
        "llr": False,
        "nn": False,
        "lann": True,
        "cnn": False,
        "lacnn": True,
    }
    assert {n: e.pixelwise for n, e in paper.items()} == {
        "naive": True,
        "llr": True,
        "nn": True,
        "lann": True,
        "cnn": False,
        "lacnn": False,
    }
    assert [model_needs_offsets(n) for n in ("LLR", "nn", "LaNN", "cnn", "LACNN", "Naive")] == [
        False,
        False,
        True,
        False,
        True,
        False,
    ]


def test_table_1_rows():
    """Table 1 of the paper: optimizer, learning rate, epochs, batch size."""
    assert {n: e.paper for n, e in MODELS.items() if n in PAPER} == {
        "naive": None,
        "llr": ("adam", 0.125, 10, 15),
        "nn": ("adam", 0.125, 10, 13),
        "lann": ("adam", 0.016, 15, 10),
        "cnn": ("sgd", 0.125, 20, 12),
        "lacnn": ("adam", 0.001, 30, 9),
    }


@pytest.mark.parametrize(
    ("name", "cls"),
    [("naive", Naive), ("llr", LLR), ("nn", NN), ("lann", LANN), ("cnn", CNN), ("lacnn", LACNN)],
)
def test_build_model_builds_the_class_and_matches_the_flags(name, cls):
    net = small_model(name)
    assert type(net) is cls
    assert net.needs_offsets == MODELS[name].needs_offsets
    assert net.n_features == N_CONTINUOUS + sum(N_CLASSES)
    assert isinstance(net.config, dict)
    # the resolved options are plain values (checkpoints store them) and rebuild the model
    rebuilt = build_model(
        name,
        n_continuous=N_CONTINUOUS,
        n_classes=N_CLASSES,
        aligned_index=ALIGNED_INDEX if net.needs_offsets else (),
        n_distances=2 if net.needs_offsets else 0,
        **net.config,
    )
    assert rebuilt.config == net.config
    assert {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} == {
        k: tuple(v.shape) for k, v in net.state_dict().items()
    }


def test_resolved_configs():
    assert small_model("llr").config == {}
    assert small_model("naive").config == {}
    assert small_model("nn").config == {"hidden": [8]}
    assert small_model("lann").config == {"hidden": [8], "validity_channel": False}
    assert small_model("cnn").config == {"base_width": 4, "depth": 4, "batch_norm": False}
    assert small_model("lacnn").config == {
        "base_width": 4,
        "depth": 4,
        "batch_norm": False,
        "validity_channel": False,
    }


def test_canonical_name_and_entry():
    assert canonical_name(" LACNN ") == "lacnn"
    assert model_entry("Cnn") is MODELS["cnn"]
    with pytest.raises(ConfigError, match=r"unknown model 'unet'.*'naive'.*'lacnn'"):
        canonical_name("unet")


def test_paper_configuration_has_160_channels():
    """The paper's LACNN: 94 features + 3 distances x 22 aligned = 160 channels."""
    n_classes = INSPIRE.n_classes
    net = build_model(
        "lacnn",
        n_continuous=len(INSPIRE.continuous),
        n_classes=n_classes,
        aligned_index=range(22),
        n_distances=3,
        base_width=2,
    )
    assert net.n_features == 94
    assert net.in_channels == 160
    assert net.body.down[0][0].in_channels == 160


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("unet", {}, "unknown model 'unet'"),
        ("lacnn", {"aligned_index": [], "n_distances": 2}, "select_aligned_features"),
        ("lann", {"aligned_index": [0], "n_distances": 0}, "n_distances >= 1"),
        ("lann", {"aligned_index": [0], "n_distances": 1.5}, "n_distances"),
        ("lacnn", {"aligned_index": [0, 9], "n_distances": 1}, r"indices \[9\] out of range"),
        ("lann", {"aligned_index": [-1], "n_distances": 1}, "out of range"),
        ("llr", {"aligned_index": [0], "n_distances": 1}, "reads no aligned features"),
        ("cnn", {"n_distances": 2}, "reads no aligned features"),
        ("cnn", {"base_width": 0}, "base_width must be a positive integer"),
        ("lacnn", {"aligned_index": [0], "n_distances": 1, "depth": 0}, "depth"),
        ("cnn", {"base_width": 2.5}, "base_width"),
        ("nn", {"hidden": [8, 0]}, "hidden widths"),
        ("nn", {"hidden": 8}, "hidden must be a sequence"),
        ("lann", {"aligned_index": [0], "n_distances": 1, "hidden": [True]}, "hidden"),
        ("llr", {"base_width": 4}, "bad options for the llr model"),
        ("cnn", {"hidden": [4]}, "bad options for the cnn model"),
    ],
)
def test_build_model_errors_are_config_errors(name, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        build_model(name, n_continuous=N_CONTINUOUS, n_classes=N_CLASSES, **kwargs)


def test_build_model_bad_layout_is_a_config_error():
    with pytest.raises(ConfigError, match="class"):
        build_model("llr", n_continuous=1, n_classes=(0,))


def test_models_are_plain_torch_modules():
    net = small_model("lacnn")
    assert isinstance(net, torch.nn.Module)
    n = sum(p.numel() for p in net.parameters())
    assert n > 0
    assert sum(p.numel() for p in small_model("naive").parameters()) == 0


def test_find_entry_answers_by_the_registry_and_none_for_no_model():
    from xlandslide.models import MODELS, find_entry

    assert find_entry(" LLR ") is MODELS["llr"] and find_entry("llr").linear
    assert not find_entry("naive").trained
    assert find_entry(None) is None and find_entry("resnet") is None
