"""The acceptance test of a warm start: a paired per-pixel gain on validation.

Oracle: the mean and standard error of per-pixel BCE differences computed by hand in numpy;
the loop's own validation losses (the gain is the start's loss minus the best epoch's).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.train.common import GEOM, FakePatches, fake_spec, quick, state_equal
from xlandslide.checkpoint import read_checkpoint
from xlandslide.errors import ConfigError
from xlandslide.train import TrainConfig
from xlandslide.train.accept import PairedGain, paired_gain
from xlandslide.train.loop import train_module
from xlandslide.train.presets import POINT_ACCEPT_MARGIN, point_inventory


class Fixed(torch.nn.Module):
    """Logits a * slope + b: a module whose output is known in closed form."""

    def __init__(self, a, b):
        super().__init__()
        self.a, self.b = float(a), float(b)

    def forward(self, continuous, categorical, offsets=None):
        return self.a * torch.nan_to_num(continuous[:, 0]) + self.b


def bce(z, y):
    return np.where(y == 1, np.logaddexp(0, -z), np.logaddexp(0, z))


def batches_of(data, size):
    for i in range(0, len(data), size):
        items = [data[j] for j in range(i, min(i + size, len(data)))]
        yield {k: torch.stack([it[k] for it in items]) for k in ("continuous", "label")}


def to_inputs(batch):
    return (batch["continuous"], None, None), batch["label"]


def test_paired_gain_is_the_mean_and_standard_error_of_per_pixel_differences():
    data = FakePatches(5, seed=3)
    start, trained = Fixed(1.0, -1.0), Fixed(3.0, -2.0)  # the second is the true model
    halo = GEOM.halo
    x = data.x[:, 0, halo:-halo, halo:-halo].numpy()
    y = data.label[:, halo:-halo, halo:-halo].numpy()
    known = y >= 0
    d = bce(1.0 * np.nan_to_num(x) - 1.0, y) - bce(3.0 * np.nan_to_num(x) - 2.0, y)
    d = d[known].astype(np.float64)
    expected = (d.mean(), d.std(ddof=1) / math.sqrt(d.size), d.size)
    for size in (1, 2, 5):  # batching does not change the sums
        got = paired_gain(start, trained, batches_of(data, size), to_inputs, halo)
        np.testing.assert_allclose([got.gain, got.se], expected[:2], rtol=1e-5)
        assert got.n == expected[2]
    assert got.gain > 0 and got.z > 2  # the true model is better, well beyond noise
    same = paired_gain(start, Fixed(1.0, -1.0), batches_of(data, 2), to_inputs, halo)
    assert same.gain == 0 and same.se == 0 and same.z == 0 and not same.accepts(0)


def test_the_acceptance_rule():
    assert PairedGain(0.1, 0.04, 50).accepts(2.0)  # z = 2.5
    assert not PairedGain(0.07, 0.04, 50).accepts(2.0)  # z = 1.75
    assert PairedGain(0.07, 0.04, 50).accepts(1.0)
    assert not PairedGain(-0.1, 0.01, 50).accepts(0.0)  # a loss is never accepted
    assert not PairedGain(0.1, math.nan, 1).accepts(0.0)  # one pixel: no error, no claim
    assert not PairedGain(math.nan, math.nan, 0).accepts(0.0)
    assert PairedGain(0.1, 0.0, 9).z == math.inf and PairedGain(0.1, 0.0, 9).accepts(5)
    assert PairedGain(0.1, 0.04, 50).to_dict() == {"gain": 0.1, "se": 0.04, "n": 50, "z": 2.5}


def test_the_gain_of_the_base_rate_over_a_coin_in_closed_form():
    """Start: logit 0 everywhere (p = 1/2); trained: the validation base rate q everywhere.
    Per pixel the gain is log 2 + log q (landslide) or log 2 + log(1 - q) (stable), so its
    mean is log 2 - H(q) and its standard error |logit q| sqrt(q (1 - q) / (n - 1))."""
    data = FakePatches(6, seed=4)
    halo = GEOM.halo
    y = data.label[:, halo:-halo, halo:-halo].numpy()
    n = int((y >= 0).sum())
    q = float((y == 1).sum()) / n
    logit = math.log(q / (1 - q))
    got = paired_gain(Fixed(0.0, 0.0), Fixed(0.0, logit), batches_of(data, 4), to_inputs, halo)
    gain = math.log(2) + q * math.log(q) + (1 - q) * math.log(1 - q)
    se = abs(logit) * math.sqrt(q * (1 - q) / (n - 1))
    np.testing.assert_allclose([got.gain, got.se, got.z], [gain, se, gain / se], rtol=1e-5)
    # the rule: kept exactly when z exceeds the margin
    for margin in (0.0, 1.0, 2.0, gain / se - 1e-3, gain / se + 1e-3):
        assert got.accepts(margin) == (gain / se > margin)


def test_accept_margin_is_validated():
    assert TrainConfig(accept_margin=2).accept_margin == 2.0
    assert TrainConfig().accept_margin is None
    for bad in (-1.0, True, "2", math.nan, math.inf):
        with pytest.raises(ConfigError, match="accept_margin"):
            TrainConfig(accept_margin=bad)
    assert point_inventory("lann")["config"].accept_margin == POINT_ACCEPT_MARGIN
    assert TrainConfig.from_dict(TrainConfig(accept_margin=1.5).to_dict()).accept_margin == 1.5


def warm(margin, **kwargs):
    """An NN on fake patches 'warm-started' from its prior-initialised self."""
    spec = fake_spec("nn", model_config={"hidden": [4], "linear_skip": True})
    config = quick("nn", optimizer="adam", lr=0.05, epochs=3, accept_margin=margin)
    return train_module(
        spec,
        FakePatches(12, seed=1),
        FakePatches(4, seed=2),
        config=config,
        progress=False,
        prior=0.3,
        init=lambda module: None,
        validate_start=True,
        **kwargs,
    )


def test_a_gain_beyond_the_margin_keeps_the_trained_weights():
    free = warm(None)
    assert free.history["best_epoch"] > 0  # the network learns the slope: it beats the start
    assert "acceptance" not in free.history  # no margin, no test
    kept = warm(0.0)
    acc = kept.history["acceptance"]
    assert acc["accepted"] and kept.history["best_epoch"] == free.history["best_epoch"]
    assert state_equal(kept.module.state_dict(), free.module.state_dict())
    # the gain is the loop's own validation losses: start minus best epoch
    best = kept.history["val_loss"][kept.history["best_epoch"] - 1]
    np.testing.assert_allclose(acc["gain"], kept.history["start_val_loss"][0] - best, rtol=1e-4)
    assert acc["z"] == pytest.approx(acc["gain"] / acc["se"]) and acc["margin"] == 0.0


def test_a_gain_within_the_margin_keeps_the_warm_start():
    strict = warm(1e6)
    acc = strict.history["acceptance"]
    assert not acc["accepted"] and acc["gain"] > 0  # it gained, but not 10^6 errors' worth
    assert strict.history["best_epoch"] == 0 and strict.history["trained_best_epoch"] > 0
    torch.manual_seed(0)  # the start: the same seeded initialisation, the prior's bias
    spec = fake_spec("nn", model_config={"hidden": [4], "linear_skip": True})
    start = spec.build_module()
    start.init_prior(0.3)
    assert state_equal(strict.module.state_dict(), start.state_dict())


def test_the_warm_start_survives_a_resume(tmp_path):
    path = tmp_path / "m.pt"
    first = warm(1e6, checkpoint=path)
    state = read_checkpoint(path)["training_state"]
    assert state["start_state"] is not None
    assert state_equal(state["start_state"], first.module.state_dict())
    again = warm(1e6, checkpoint=path, resume=path)  # a finished run: only the test again
    assert state_equal(again.module.state_dict(), first.module.state_dict())
    assert again.history["acceptance"] == first.history["acceptance"]
