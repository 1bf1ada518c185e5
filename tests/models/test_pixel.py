"""Tests of xlandslide.models.pixel: LLR (oracle: scikit-learn), NN, LANN are per pixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.models.common import random_inputs, small_model, tensors
from xlandslide.models import LLR
from xlandslide.train import masked_bce_with_logits


@pytest.mark.parametrize("name", ["llr", "nn"])
def test_per_pixel_models_are_per_pixel(name):
    """A pixel's output depends only on that pixel: changing another leaves it unchanged."""
    net = small_model(name)
    cont, codes, _ = random_inputs()
    cont2, codes2 = cont.copy(), codes.copy()
    cont2[:, :, 20, 20] = 5.0
    codes2[:, :, 20, 20] = 0
    with torch.no_grad():
        d = (net(*tensors(cont2, codes2)) - net(*tensors(cont, codes))).abs()
    assert d[:, 20, 20].max() > 0
    d[:, 20, 20] = 0
    assert d.max() == 0


def test_lann_reads_its_pixel_and_its_uphill_points_only():
    net = small_model("lann")
    cont, codes, offsets = random_inputs(r=2)
    offsets[:, :, :, 10, 10] = [[1, 2], [-2, 0]]  # pixel (10, 10) reads (11, 12) and (8, 10)
    base = net(*tensors(cont, codes, offsets))
    for (i, j), changes in [((11, 12), True), ((8, 10), True), ((9, 9), False)]:
        moved = cont.copy()
        moved[:, 0, i, j] = 7.0  # feature 0 is aligned
        with torch.no_grad():
            d = (net(*tensors(moved, codes, offsets)) - base).abs()
        assert bool(d[:, 10, 10].max() > 0) == changes, (i, j)


def test_linear_weights():
    net = LLR(2, (3,))
    with torch.no_grad():
        net.body.weight.copy_(torch.arange(5.0).view(1, 5, 1, 1))
    w = net.linear_weights()
    assert w.dtype == np.float64
    np.testing.assert_array_equal(w, [0, 1, 2, 3, 4])


def test_llr_learns_the_logistic_regression_of_scikit_learn():
    """LLR + masked BCE reach the maximum-likelihood fit that scikit-learn finds."""
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    b, f, h, w = 4, 3, 20, 20
    x = rng.standard_normal((b, f, h, w)).astype(np.float32)
    w_true, b_true = np.array([1.5, -2.0, 0.5]), -1.0
    z = np.einsum("bfhw,f->bhw", x, w_true) + b_true
    label = (rng.random((b, h, w)) < 1 / (1 + np.exp(-z))).astype(np.int8)
    label[:, :4, :] = -1  # unknown pixels (features NaN there) must not count
    x[:, :, :4, :] = np.nan

    torch.manual_seed(0)
    net = LLR(f)
    xt, yt = torch.from_numpy(x), torch.from_numpy(label)
    opt = torch.optim.LBFGS(
        net.parameters(),
        lr=1,
        max_iter=200,
        tolerance_grad=1e-10,
        tolerance_change=1e-12,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = masked_bce_with_logits(net(xt), yt, halo=0)
        loss.backward()
        return loss

    opt.step(closure)

    known = label >= 0
    xs = np.moveaxis(x, 1, -1)[known].astype("float64")
    ys = label[known]
    ref = sklearn_lm.LogisticRegression(C=1e8, tol=1e-10, max_iter=10_000).fit(xs, ys)
    np.testing.assert_allclose(net.linear_weights(), ref.coef_[0], atol=2e-3)
    np.testing.assert_allclose(net.body.bias.item(), ref.intercept_[0], atol=2e-3)
    with torch.no_grad():
        p = torch.sigmoid(net(xt)).numpy()[known]
    np.testing.assert_allclose(p, ref.predict_proba(xs)[:, 1], atol=1e-3)
    # and the estimate is near the truth that generated the data
    np.testing.assert_allclose(ref.coef_[0], w_true, atol=0.5)


def test_dropout_regularises_in_training_only():
    import torch

    from xlandslide.errors import ConfigError
    from xlandslide.models import build_model

    torch.manual_seed(0)
    net = build_model(
        "lann", n_continuous=3, aligned_index=[0], n_distances=1, hidden=[16], dropout=0.5
    )
    assert net.config["dropout"] == 0.5
    x = torch.randn(2, 3, 6, 6)
    off = torch.zeros(2, 1, 2, 6, 6, dtype=torch.int8)
    net.eval()
    torch.testing.assert_close(net(x, None, off), net(x, None, off))
    net.train()
    assert not torch.equal(net(x, None, off), net(x, None, off))
    # no dropout: no key (checkpoints of earlier versions have none) and the same layers
    plain = build_model("nn", n_continuous=3, hidden=[16])
    assert "dropout" not in plain.config
    assert list(plain.state_dict()) == list(
        build_model("nn", n_continuous=3, hidden=[16], dropout=0.0).state_dict()
    )
    for bad in (-0.1, 1.0, "0.2", True):
        with pytest.raises(ConfigError, match="dropout"):
            build_model("nn", n_continuous=3, dropout=bad)


@pytest.mark.parametrize("name", ["nn", "lann", "cnn", "lacnn"])
def test_linear_skip_starts_as_the_linear_model(name):
    from xlandslide.models import build_model

    aligned = name in ("lann", "lacnn")
    kw = {"aligned_index": [0, 1], "n_distances": 2} if aligned else {}
    size = {"hidden": [6]} if name in ("nn", "lann") else {"base_width": 2, "depth": 2}
    torch.manual_seed(1)
    net = build_model(name, n_continuous=3, n_classes=(2,), linear_skip=True, **kw, **size)
    assert net.config["linear_skip"] is True and "linear.weight" in net.state_dict()
    net.init_prior(0.1)
    net.eval()
    x = torch.randn(2, 3, 8, 8)
    codes = torch.randint(0, 2, (2, 1, 8, 8), dtype=torch.uint8)
    off = torch.randint(-2, 3, (2, 2, 2, 8, 8), dtype=torch.int8) if aligned else None
    feats = net.expand(x, codes)
    if aligned:
        feats = net.gather(feats, off)
    w = net.linear.weight.view(-1)
    want = torch.einsum("bchw,c->bhw", feats, w) + np.log(0.1 / 0.9)
    torch.testing.assert_close(net(x, codes, off), want, rtol=1e-5, atol=1e-5)
    # rebuilt from its config (a checkpoint): the same parameters
    again = build_model(name, n_continuous=3, n_classes=(2,), **kw, **net.config)
    assert list(again.state_dict()) == list(net.state_dict())
    with pytest.raises(Exception, match="linear_skip"):
        build_model(name, n_continuous=3, n_classes=(2,), linear_skip="yes", **kw, **size)
