"""Tests of xlandslide.train.config: TrainConfig presets, round trip and validation."""

from __future__ import annotations

import json

import pytest

from xlandslide.errors import ConfigError
from xlandslide.train import TrainConfig


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
    assert (c.weight_decay, c.patience, c.lr_factor, c.seed, c.momentum) == (1e-3, 2, 0.1, 0, 0)
    assert c.early_stopping is None and c.max_batches_per_epoch is None
    assert TrainConfig() == TrainConfig.paper("lacnn")
    assert TrainConfig.paper("cnn", lr=0.5, epochs=3) == TrainConfig(
        optimizer="sgd", lr=0.5, epochs=3, batch_size=12
    )


def test_naive_has_no_row():
    with pytest.raises(ConfigError, match="naive model is not trained by gradient descent"):
        TrainConfig.paper("naive")
    with pytest.raises(ConfigError, match="valid names"):
        TrainConfig.paper("unet")


def test_round_trip_and_replace():
    c = TrainConfig.paper("cnn", seed=3, max_batches_per_epoch=7, device="cpu", early_stopping=2)
    d = c.to_dict()
    assert d["optimizer"] == "sgd" and d["seed"] == 3
    assert TrainConfig.from_dict(json.loads(json.dumps(d))) == c
    assert c.replace(lr=0.5).lr == 0.5 and c.lr == 0.125
    with pytest.raises(ConfigError, match="lr must be a positive"):
        c.replace(lr=0)
    with pytest.raises(ConfigError, match=r"unknown TrainConfig keys \['learning_rate'\]"):
        TrainConfig.from_dict({**d, "learning_rate": 1})
    assert "oversample" not in d  # the patch set owns oversampling


def test_normalised_values():
    c = TrainConfig(optimizer="ADAM", lr=1, epochs=3.0, weight_decay=0)
    assert c.optimizer == "adam"
    assert type(c.lr) is float and c.lr == 1.0
    assert type(c.epochs) is int and c.epochs == 3
    assert type(c.weight_decay) is float


def test_torch_device_is_kept_plain():
    torch = pytest.importorskip("torch")
    c = TrainConfig(device=torch.device("cpu"))
    assert c.device == "cpu" and json.dumps(c.to_dict())


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"optimizer": "rmsprop"}, "optimizer must be 'adam', 'adamw' or 'sgd'"),
        ({"lr": -1.0}, r"lr must be a positive number \(for example 0.001\), got -1.0"),
        ({"lr": 0}, "lr must be a positive"),
        ({"lr": float("nan")}, "lr must be finite"),
        ({"lr": float("inf")}, "lr must be finite"),
        ({"lr": "0.1"}, "lr must be a number"),
        ({"lr": True}, "lr must be a number"),
        ({"weight_decay": -1e-3}, "weight_decay and momentum must be >= 0"),
        ({"momentum": -0.5}, "weight_decay and momentum"),
        ({"lr_factor": 1.0}, r"lr_factor must be in \(0, 1\)"),
        ({"lr_factor": 0}, "lr_factor"),
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"epochs": 2.5}, "epochs must be an integer"),
        ({"epochs": True}, "epochs must be an integer"),
        ({"epochs": "3"}, "epochs must be an integer"),
        ({"batch_size": False}, "batch_size must be an integer"),
        ({"batch_size": 0}, "batch_size"),
        ({"patience": -1}, "patience must be an integer >= 0"),
        ({"num_workers": -1}, "num_workers"),
        ({"num_workers": True}, "num_workers"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed"),
        ({"max_batches_per_epoch": 0}, "max_batches_per_epoch"),
        ({"early_stopping": 0}, "early_stopping must be an integer >= 1"),
        ({"early_stopping": True}, "early_stopping"),
        ({"amp": "no"}, "amp must be True or False"),
        ({"device": 0}, "device must be None"),
        ({"device": ""}, "device must be None"),
    ],
)
def test_validation_errors(changes, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**changes)
    assert issubclass(ConfigError, ValueError)
