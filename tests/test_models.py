"""Tests of xlandslide.models: registry, aligned gather (numpy oracle), U-Net shapes, LLR."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xlandslide.errors import XLandslideWarning  # noqa: E402
from xlandslide.models import (  # noqa: E402
    LLR,
    MODELS,
    AlignedGather,
    UNet,
    build_model,
    model_needs_offsets,
    nan_to_zero,
    select_aligned_features,
)
from xlandslide.train import masked_bce_with_logits  # noqa: E402

NAMES = ["a", "b", "c", "d", "e"]
SMALL = {
    "cnn": {"base_width": 4},
    "lacnn": {"base_width": 4},
    "nn": {"hidden": [8]},
    "lann": {"hidden": [8]},
}


def small_model(name, seed=0, **extra):
    torch.manual_seed(seed)
    return build_model(
        name,
        len(NAMES),
        feature_names=NAMES,
        aligned_names=["a", "c", "e"],
        n_distances=2,
        **{**SMALL.get(name, {}), **extra},
    ).eval()


def random_inputs(b=2, h=37, w=45, d=2, seed=0, r=4):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((b, len(NAMES), h, w)).astype(np.float32)
    x[:, :, :5, :7] = np.nan  # outside the region
    o = rng.integers(-r, r + 1, size=(b, d, 2, h, w)).astype(np.int8)
    return torch.from_numpy(x), torch.from_numpy(o)


# ------------------------------------------------------------------------------ registry


def test_registry_names_and_offsets_flag():
    assert sorted(MODELS) == ["cnn", "lacnn", "lann", "llr", "nn"]
    assert [model_needs_offsets(n) for n in ("LLR", "nn", "LaNN", "cnn", "LACNN")] == [
        False,
        False,
        True,
        False,
        True,
    ]


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown model 'unet'.*'cnn'.*'lacnn'"):
        build_model("unet", 3)
    with pytest.raises(ValueError, match="valid names"):
        model_needs_offsets("naive")


def test_aligned_model_argument_errors():
    with pytest.raises(ValueError, match="not among the feature names"):
        build_model("lacnn", 5, feature_names=NAMES, aligned_names=["zz"], n_distances=3)
    with pytest.raises(ValueError, match="n_distances"):
        build_model("lann", 5, feature_names=NAMES, aligned_names=["a"], n_distances=0)
    with pytest.raises(ValueError, match="at least one name"):
        build_model("lann", 5, feature_names=NAMES, aligned_names=[], n_distances=2)
    with pytest.raises(ValueError, match="feature_names"):
        build_model("lacnn", 5, aligned_names=["a"], n_distances=2)


def test_catalog_names_are_the_default_feature_names():
    from xlandslide.catalog import FEATURE_NAMES

    net = build_model("lann", 94, aligned_names=["slope", "dem"], n_distances=3, hidden=[4])
    assert net.gather.feature_index.tolist() == [0, 93]
    assert net.in_channels == 94 + 3 * 2
    # the paper's configuration: 94 + 3 x 22 = 160 channels into the U-Net
    net = build_model("lacnn", 94, aligned_names=FEATURE_NAMES[:22], n_distances=3, base_width=2)
    assert net.in_channels == 160
    assert net.body.down[0][0].in_channels == 160


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape_odd_sizes_and_nan_inputs(name):
    net = small_model(name)
    x, o = random_inputs(h=37, w=45)
    with torch.no_grad():
        y = net(x, o)
    assert y.shape == (2, 37, 45)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
    assert net.needs_offsets == model_needs_offsets(name)
    assert net.config == {k: v for k, v in net.config.items()}  # plain dict


@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (16, 16), (17, 33)])
def test_unet_any_size(shape):
    torch.manual_seed(0)
    net = UNet(3, base_width=2)
    assert net(torch.zeros(1, 3, *shape)).shape == (1, 1, *shape)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_offsets_used_only_by_aligned_models(name):
    net = small_model(name)
    x, o = random_inputs(seed=1)
    _, o2 = random_inputs(seed=2)
    with torch.no_grad():
        y1, y2 = net(x, o), net(x, o2)
        y0 = None if net.needs_offsets else net(x, None)
    if model_needs_offsets(name):
        assert not torch.allclose(y1, y2)
        with pytest.raises(ValueError, match="needs `offsets`"):
            net(x, None)
    else:
        assert torch.equal(y1, y2)
        assert torch.equal(y1, y0)


def test_nan_is_zero():
    """NaN inputs give exactly what zeros give (the documented first step)."""
    x, o = random_inputs()
    x0 = torch.nan_to_num(x, nan=0.0)
    for name in MODELS:
        net = small_model(name)
        with torch.no_grad():
            assert torch.equal(net(x, o), net(x0, o)), name
    assert torch.equal(
        nan_to_zero(torch.tensor([np.nan, 1.0, np.inf])), torch.tensor([0.0, 1.0, np.inf])
    )


def test_per_pixel_models_are_per_pixel():
    """LLR / NN: a pixel's output depends only on that pixel (changing another leaves it)."""
    x, _ = random_inputs()
    for name in ("llr", "nn"):
        net = small_model(name)
        x2 = x.clone()
        x2[:, :, 20, 20] += 5.0
        with torch.no_grad():
            d = (net(x2, None) - net(x, None)).abs()
        assert d[:, 20, 20].max() > 0
        d[:, 20, 20] = 0
        assert d.max() == 0


def test_wrong_feature_count_and_offsets_shape():
    net = small_model("lacnn")
    x, o = random_inputs()
    with pytest.raises(ValueError, match=r"\(B, 5, H, W\)"):
        net(x[:, :3], o)
    with pytest.raises(ValueError, match="offsets must have shape"):
        net(x, o[:, :1])


# ------------------------------------------------------------------------ aligned gather


def gather_oracle(x, offsets, index, validity=False):
    """Slow obvious numpy implementation of AlignedGather (NaN -> 0 already applied)."""
    b, f, h, w = x.shape
    d = offsets.shape[1]
    k = len(index)
    out = np.zeros((b, f + d * k + (d if validity else 0), h, w), dtype=x.dtype)
    out[:, :f] = x
    for bi in range(b):
        for di in range(d):
            for i in range(h):
                for j in range(w):
                    dy, dx = int(offsets[bi, di, 0, i, j]), int(offsets[bi, di, 1, i, j])
                    ii, jj = i + dy, j + dx
                    ok = (dy, dx) != (0, 0) and 0 <= ii < h and 0 <= jj < w
                    if validity:
                        out[bi, f + d * k + di, i, j] = float(ok)
                    if ok:
                        for ki, fi in enumerate(index):
                            out[bi, f + di * k + ki, i, j] = x[bi, fi, ii, jj]
    return out


@pytest.mark.parametrize("validity", [False, True])
def test_aligned_gather_matches_numpy_oracle(validity):
    rng = np.random.default_rng(3)
    b, f, h, w, d = 2, 6, 11, 13, 3
    x = rng.standard_normal((b, f, h, w)).astype(np.float32)
    # offsets reaching outside the tile, and some (0, 0) = no uphill point
    o = rng.integers(-6, 7, size=(b, d, 2, h, w)).astype(np.int8)
    o[:, :, :, 2:4, 5:9] = 0
    index = [4, 0, 2, 4]
    layer = AlignedGather(index, d, validity_channel=validity)
    got = layer(torch.from_numpy(x), torch.from_numpy(o)).numpy()
    want = gather_oracle(x, o, index, validity)
    assert got.shape == (b, f + d * len(index) + (d if validity else 0), h, w)
    assert layer.out_channels(f) == got.shape[1]
    np.testing.assert_array_equal(got, want)
    # (0, 0) offsets give 0 in every aligned channel
    assert np.all(got[:, f : f + d * len(index), 2:4, 5:9] == 0)


def test_aligned_gather_paper_channel_count_and_gradient():
    layer = AlignedGather(list(range(22)), 3)
    x = torch.randn(1, 94, 9, 10, requires_grad=True)
    o = torch.randint(-2, 3, (1, 3, 2, 9, 10), dtype=torch.int8)
    y = layer(x, o)
    assert y.shape == (1, 160, 9, 10)
    y.sum().backward()  # gradients flow through the gather back to the source pixels
    assert torch.all(x.grad[:, 22:] == 1)  # not gathered: identity only
    n_valid = AlignedGather([0], 3, validity_channel=True)(x.detach(), o)[:, -3:].sum()
    for k in (0, 21):  # gathered: identity + once per valid (pixel, distance) reading it
        assert x.grad[0, k].sum() == 90 + n_valid


def test_aligned_gather_rejects_bad_arguments():
    with pytest.raises(ValueError):
        AlignedGather([], 3)
    with pytest.raises(ValueError):
        AlignedGather([0], 0)
    layer = AlignedGather([7], 1)
    with pytest.raises(ValueError, match="out of range"):
        layer(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 2, 4, 4, dtype=torch.int8))


# ----------------------------------------------------------------- LLR vs scikit-learn


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


# ------------------------------------------------------------- aligned feature choice


def test_select_aligned_features_rule():
    names = ["slope", "a", "b", "c", "dem"]
    w = np.array([0.5, -0.19, -0.2, 0.05, -1.0])
    assert select_aligned_features(w, names) == ("slope", "b", "dem")
    assert select_aligned_features(w, names, max_features=2) == ("slope", "dem")
    assert select_aligned_features(w, names, threshold=0.1) == ("slope", "a", "b", "dem")


def test_select_aligned_features_fallback_warns():
    names = ["a", "b", "c"]
    with pytest.warns(XLandslideWarning, match="using the 2 largest"):
        got = select_aligned_features([0.01, -0.1, 0.05], names, max_features=2)
    assert got == ("b", "c")
    with pytest.warns(XLandslideWarning, match="using the 3 largest"):
        assert select_aligned_features([0.0, 0.0, 0.0], names) == ("a", "b", "c")


def test_select_aligned_features_from_llr_module_and_errors():
    net = LLR(3)
    with torch.no_grad():
        net.body.weight.copy_(torch.tensor([0.3, 0.1, -0.4]).view(1, 3, 1, 1))
    assert select_aligned_features(net, ["x", "y", "z"]) == ("x", "z")
    with pytest.raises(ValueError, match="3 weights for 2"):
        select_aligned_features(net, ["x", "y"])
    with pytest.raises(ValueError, match="LLR"):
        select_aligned_features(small_model("cnn"), NAMES)
    with pytest.raises(ValueError, match="finite"):
        select_aligned_features([np.nan, 1.0], ["x", "y"])


def test_aligned_gather_equals_materialised_aligned_features():
    """The in-model gather equals nan_to_zero(xlandslide.aligned_features) on a whole tile."""
    features_mod = pytest.importorskip("xlandslide.features")
    xr = pytest.importorskip("xarray")
    rng = np.random.default_rng(5)
    ny, nx = 23, 26
    coords = {"y": 500.0 - 10.0 * np.arange(ny), "x": 10.0 * np.arange(nx)}
    dem = xr.DataArray(rng.random((ny, nx)) * 100, dims=("y", "x"), coords=coords)
    dem[:4, :6] = np.nan
    x = rng.standard_normal((len(NAMES), ny, nx)).astype(np.float32)
    x[:, :4, :6] = np.nan
    feats = xr.DataArray(x, dims=("feature", "y", "x"), coords={"feature": NAMES, **coords})
    offs = features_mod.uphill_offsets(dem, distances=(10.0, 30.0))
    names = ["e", "a", "c"]
    want = features_mod.aligned_features(feats, offs, names).values
    o = np.stack([offs["dy"].values, offs["dx"].values], axis=1)[None]  # (1, D, 2, y, x)
    layer = AlignedGather([NAMES.index(n) for n in names], 2)
    got = layer(nan_to_zero(torch.from_numpy(x[None])), torch.from_numpy(o))[0, len(NAMES) :]
    np.testing.assert_array_equal(got.numpy(), np.nan_to_num(want, nan=0.0))


@pytest.mark.parametrize("name", ["llr", "nn", "cnn"])
def test_init_prior_starts_at_the_base_rate(name):
    torch.manual_seed(0)
    from xlandslide.models import build_model

    m = build_model(name, 3, base_width=2) if name == "cnn" else build_model(name, 3)
    m.init_prior(0.02)
    if name == "llr":
        p = torch.sigmoid(m(torch.zeros(1, 3, 5, 6)))
        torch.testing.assert_close(p, torch.full_like(p, 0.02))
    bias = m.output_bias()
    assert bias is not None and abs(float(bias.detach()) - np.log(0.02 / 0.98)) < 1e-6
