"""Tests of xlandslide.train.loss: the masked binary cross-entropy (oracle: the formula)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xlandslide.errors import ShapeError
from xlandslide.train import masked_bce_with_logits
from xlandslide.train.loss import masked_bce_sum


def manual_bce(z, y, halo):
    if halo:
        z, y = z[:, halo:-halo, halo:-halo], y[:, halo:-halo, halo:-halo]
    z = z.astype("float64")
    k = y >= 0
    p = 1 / (1 + np.exp(-z[k]))
    return float(np.mean(-(y[k] * np.log(p) + (1 - y[k]) * np.log(1 - p))))


@pytest.mark.parametrize("halo", [0, 2])
def test_masked_bce_equals_the_formula(halo):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 12, 12)).astype(np.float32)
    y = rng.integers(-1, 2, size=(3, 12, 12)).astype(np.int8)
    got = masked_bce_with_logits(torch.from_numpy(z), torch.from_numpy(y), halo=halo)
    assert got.dtype == torch.float32
    assert math.isclose(got.item(), manual_bce(z, y, halo), rel_tol=1e-6)
    total, count = masked_bce_sum(torch.from_numpy(z), torch.from_numpy(y), halo)
    core = y[:, halo : 12 - halo, halo : 12 - halo]
    assert count.item() == (core >= 0).sum()
    assert math.isclose(total.item() / count.item(), got.item(), rel_tol=1e-6)


def test_half_precision_logits_are_computed_in_float32():
    rng = np.random.default_rng(2)
    z = torch.from_numpy(rng.normal(size=(2, 8, 8)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 2, size=(2, 8, 8)).astype(np.int8))
    got = masked_bce_with_logits(z.bfloat16(), y, halo=1)
    assert got.dtype == torch.float32
    want = masked_bce_with_logits(z.bfloat16().float(), y, halo=1)
    assert got.item() == want.item()


def test_unknown_and_halo_pixels_reach_neither_loss_nor_gradient():
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


def test_no_known_pixel_is_zero_with_zero_gradient():
    z = torch.randn(1, 8, 8, requires_grad=True)
    y = torch.full((1, 8, 8), -1, dtype=torch.int8)
    y[0, 0, 0] = 1  # known but in the halo
    loss = masked_bce_with_logits(z, y, halo=2)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(z.grad == 0)


def test_stable_for_extreme_logits():
    z = torch.tensor([[[100.0, -100.0], [-100.0, 100.0]]])
    y = torch.tensor([[[1, 0], [1, 0]]], dtype=torch.int8)
    loss = masked_bce_with_logits(z, y, halo=0)
    assert math.isclose(loss.item(), 50.0, rel_tol=1e-6)  # (0 + 0 + 100 + 100) / 4


def test_shape_errors():
    with pytest.raises(ShapeError, match="differ in shape"):
        masked_bce_with_logits(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5, dtype=torch.int8), 0)
    with pytest.raises(ShapeError, match="leaves no core"):
        masked_bce_with_logits(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.int8), 2)
    with pytest.raises(ShapeError, match="leaves no core"):
        masked_bce_with_logits(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.int8), -1)
