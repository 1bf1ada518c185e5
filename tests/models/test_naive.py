"""Tests of xlandslide.models.naive: the training positive ratio everywhere."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.models.common import N_FEATURES, onehot, random_inputs, small_model, tensors
from xlandslide.errors import ShapeError
from xlandslide.models import MODELS, Naive
from xlandslide.train.loss import masked_bce_with_logits


def test_constant_ratio_everywhere():
    net = small_model("naive")
    assert isinstance(net, Naive)
    assert net.ratio == 0.5  # logit 0 before init_prior
    net.init_prior(0.037)
    assert math.isclose(net.ratio, 0.037, rel_tol=1e-6)
    assert math.isclose(float(net.logit), math.log(0.037 / 0.963), rel_tol=1e-6)
    cont, codes, offsets = random_inputs(b=3, h=9, w=11)
    with torch.no_grad():
        z = net(*tensors(cont, codes, offsets))
        z_view = net.forward_features(torch.from_numpy(onehot(cont, codes)))
    assert z.shape == (3, 9, 11) and z.dtype == torch.float32
    assert torch.all(z == net.logit)
    assert torch.equal(z, z_view)
    # the output is a copy: changing it does not change the model
    z += 1
    assert torch.all(net(*tensors(cont, codes)) == net.logit)


def test_no_parameters_but_the_logit_is_saved():
    net = small_model("naive")
    net.init_prior(0.2)
    assert list(net.parameters()) == []
    state = net.state_dict()
    assert set(state) == {"logit"}
    other = small_model("naive")
    other.load_state_dict(state)
    assert other.ratio == net.ratio
    assert MODELS["naive"].paper is None


def test_extreme_ratios_are_clamped_to_finite_logits():
    net = small_model("naive")
    for r in (0.0, 1.0):
        net.init_prior(r)
        assert torch.isfinite(net.logit)
        assert abs(net.ratio - r) < 1e-6


def test_nll_is_the_closed_form():
    """The NLL of a constant r on pixels with positive fraction p: -(p log r + (1-p) log(1-r))."""
    rng = np.random.default_rng(0)
    label = (rng.random((2, 12, 12)) < 0.1).astype(np.int8)
    label[:, :3] = -1
    net = small_model("naive")
    net.init_prior(0.08)
    cont = np.zeros((2, 2, 12, 12), np.float32)
    codes = np.zeros((2, 2, 12, 12), np.uint8)
    with torch.no_grad():
        z = net(*tensors(cont, codes))
    got = masked_bce_with_logits(z, torch.from_numpy(label), halo=0).item()
    p = label[label >= 0].mean()
    r = net.ratio
    assert math.isclose(got, -(p * math.log(r) + (1 - p) * math.log(1 - r)), rel_tol=1e-5)


def test_shape_errors():
    net = small_model("naive")
    with pytest.raises(ShapeError, match=r"\(B, 2, H, W\)"):
        net(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ShapeError, match=rf"\(B, {N_FEATURES}, H, W\)"):
        net.forward_features(torch.zeros(1, 3, 4, 4))
