"""Tests of xlandslide.models.layers: code expansion, the aligned gather, the model shell.

Oracles: :func:`xlandslide.region.expand_codes` (the numpy one-hot view) with NaN -> 0 for
:class:`CodeExpand`; a slow loop for :class:`AlignedGather`; the materialised
:func:`xlandslide.aligned_features`; and, for every model, its own one-hot path
(``forward_features``), which must give exactly the same logits as the code path.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.models.common import (
    ALIGNED_INDEX,
    N_CLASSES,
    N_CONTINUOUS,
    N_DISTANCES,
    N_FEATURES,
    onehot,
    random_inputs,
    small_model,
    tensors,
)
from tests.strategies import layouts
from xlandslide.errors import ConfigError, ShapeError
from xlandslide.models import MODELS, AlignedGather, CodeExpand, model_needs_offsets, nan_to_zero

# ------------------------------------------------------------------------------ nan_to_zero


def test_nan_to_zero_keeps_infinities_and_values():
    x = torch.tensor([np.nan, 1.5, np.inf, -np.inf, -0.25])
    assert torch.equal(nan_to_zero(x), torch.tensor([0.0, 1.5, np.inf, -np.inf, -0.25]))
    assert torch.isnan(x[0])  # not in place


# ------------------------------------------------------------------------------- CodeExpand


def test_code_expand_equals_the_numpy_one_hot_oracle():
    cont, codes, _ = random_inputs(b=3, h=11, w=13)
    layer = CodeExpand(N_CONTINUOUS, N_CLASSES)
    got = layer(*tensors(cont, codes))
    assert got.dtype == torch.float32 and got.shape == (3, N_FEATURES, 11, 13)
    assert layer.n_features == N_FEATURES
    want = np.nan_to_num(onehot(cont, codes), nan=0.0)
    np.testing.assert_array_equal(got.numpy(), want)


def test_code_expand_no_data_codes_give_zero_channels():
    cont = np.zeros((1, 1, 2, 3), np.float32)
    codes = np.array([[[[0, 1, 255], [2, 3, 254]]], [[[1, 0, 255], [255, 2, 1]]]], np.uint8)
    codes = codes.reshape(1, 2, 2, 3)  # group 0: 3 classes, group 1: 2 classes
    got = CodeExpand(1, (3, 2))(*tensors(cont, codes))[0].numpy()
    g0 = got[1:4]
    np.testing.assert_array_equal(g0[:, 0, 0], [1, 0, 0])
    np.testing.assert_array_equal(g0[:, 0, 1], [0, 1, 0])
    np.testing.assert_array_equal(g0[:, 1, 0], [0, 0, 1])
    for i, j in [(0, 2), (1, 1), (1, 2)]:  # 255, 3 (one past the classes), 254: no class
        assert np.all(g0[:, i, j] == 0)
    g1 = got[4:6]
    np.testing.assert_array_equal(g1[:, 0, 0], [0, 1])
    assert np.all(g1[:, 0, 2] == 0) and np.all(g1[:, 1, 0] == 0) and np.all(g1[:, 1, 1] == 0)
    # every pixel has at most one class per group
    assert g0.sum(axis=0).max() == 1 and g1.sum(axis=0).max() == 1


@settings(max_examples=30, deadline=None)
@given(layout=layouts(), seed=st.integers(0, 2**16), h=st.integers(1, 7), w=st.integers(1, 7))
def test_code_expand_any_layout(layout, seed, h, w):
    rng = np.random.default_rng(seed)
    c, n_classes = len(layout.continuous), layout.n_classes
    cont = rng.standard_normal((2, c, h, w)).astype(np.float32)
    cont[rng.random(cont.shape) < 0.2] = np.nan
    codes = rng.integers(0, max(n_classes, default=1) + 1, (2, len(n_classes), h, w))
    codes = codes.astype(np.uint8)
    codes[rng.random(codes.shape) < 0.2] = 255
    got = CodeExpand(c, n_classes)(*tensors(cont, codes if n_classes else None))
    assert got.shape == (2, len(layout), h, w)
    want = np.stack(
        [
            expand(cont[i] if c else None, codes[i] if n_classes else None, n_classes)
            for i in range(2)
        ]
    )
    np.testing.assert_array_equal(got.numpy(), np.nan_to_num(want, nan=0.0))


def expand(cont, codes, n_classes):
    from xlandslide.region import expand_codes

    return expand_codes(cont, codes, n_classes)


def test_code_expand_dtypes():
    cont, codes, _ = random_inputs(b=1, h=4, w=5)
    layer = CodeExpand(N_CONTINUOUS, N_CLASSES)
    x64 = layer(torch.from_numpy(cont.astype(np.float64)), torch.from_numpy(codes))
    assert x64.dtype == torch.float64
    x32 = layer(torch.from_numpy(cont), torch.from_numpy(codes))
    np.testing.assert_array_equal(x64.numpy(), x32.numpy().astype(np.float64))
    ints = layer(torch.ones((1, 2, 4, 5), dtype=torch.int32), torch.from_numpy(codes))
    assert ints.dtype == torch.float32 and torch.all(ints[:, :2] == 1)
    # codes of any integer dtype work
    wide = layer(torch.from_numpy(cont), torch.from_numpy(codes.astype(np.int64)))
    assert torch.equal(wide, x32)


def test_code_expand_errors():
    layer = CodeExpand(N_CONTINUOUS, N_CLASSES)
    cont, codes, _ = random_inputs(b=1, h=4, w=5)
    with pytest.raises(ShapeError, match=r"\(B, 2, H, W\)"):
        layer(*tensors(cont[:, :1], codes))
    with pytest.raises(ShapeError, match=r"categorical must have shape \(1, 2, 4, 5\).*None"):
        layer(*tensors(cont, None))
    with pytest.raises(ShapeError, match="categorical must have shape"):
        layer(*tensors(cont, codes[:, :1]))
    with pytest.raises(ConfigError, match="class"):
        CodeExpand(2, (3, 0))
    with pytest.raises(ConfigError):
        CodeExpand(-1, ())
    assert issubclass(ShapeError, ValueError) and issubclass(ConfigError, ValueError)


# ---------------------------------------------------------------------------- AlignedGather


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
    assert layer.n_aligned == 4
    np.testing.assert_array_equal(got, want)
    # (0, 0) offsets give 0 in every aligned channel
    assert np.all(got[:, f : f + d * len(index), 2:4, 5:9] == 0)


def test_aligned_gather_paper_channel_count_and_gradient():
    layer = AlignedGather(list(range(22)), 3)
    x = torch.randn(1, 94, 9, 10, requires_grad=True)
    o = torch.randint(-2, 3, (1, 3, 2, 9, 10), dtype=torch.int8)
    y = layer(x, o)
    assert y.shape == (1, 160, 9, 10)  # the paper's 94 + 3 x 22
    y.sum().backward()  # gradients flow through the gather back to the source pixels
    assert torch.all(x.grad[:, 22:] == 1)  # not gathered: identity only
    n_valid = AlignedGather([0], 3, validity_channel=True)(x.detach(), o)[:, -3:].sum()
    for k in (0, 21):  # gathered: identity + once per valid (pixel, distance) reading it
        assert x.grad[0, k].sum() == 90 + n_valid


def test_aligned_gather_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="at least one"):
        AlignedGather([], 3)
    with pytest.raises(ConfigError, match="n_distances"):
        AlignedGather([0], 0)
    with pytest.raises(ConfigError, match="non-negative"):
        AlignedGather([-1], 1)
    layer = AlignedGather([7], 1)
    zeros = torch.zeros(1, 1, 2, 4, 4, dtype=torch.int8)
    with pytest.raises(ShapeError, match="out of range"):
        layer(torch.zeros(1, 3, 4, 4), zeros)
    with pytest.raises(ShapeError, match=r"needs `offsets`.*uphill_offsets"):
        layer(torch.zeros(1, 8, 4, 4), None)
    with pytest.raises(ShapeError, match="offsets must have shape"):
        layer(torch.zeros(1, 8, 4, 4), zeros[..., :3])


def test_aligned_gather_equals_materialised_aligned_features():
    """The in-model gather equals nan_to_zero(xlandslide.aligned_features) on a whole tile."""
    import xarray as xr

    from xlandslide import features as features_mod

    rng = np.random.default_rng(5)
    ny, nx = 23, 26
    names = ["a", "b", "c", "d", "e"]
    coords = {"y": 500.0 - 10.0 * np.arange(ny), "x": 10.0 * np.arange(nx)}
    dem = xr.DataArray(rng.random((ny, nx)) * 100, dims=("y", "x"), coords=coords)
    dem[:4, :6] = np.nan
    x = rng.standard_normal((len(names), ny, nx)).astype(np.float32)
    x[:, :4, :6] = np.nan
    feats = xr.DataArray(x, dims=("feature", "y", "x"), coords={"feature": names, **coords})
    offs = features_mod.uphill_offsets(dem, distances=(10.0, 30.0), halo=3)
    chosen = ["e", "a", "c"]
    want = features_mod.aligned_features(feats, offs, chosen).values
    o = np.stack([offs["dy"].values, offs["dx"].values], axis=1)[None]  # (1, D, 2, y, x)
    layer = AlignedGather([names.index(n) for n in chosen], 2)
    got = layer(nan_to_zero(torch.from_numpy(x[None])), torch.from_numpy(o))[0, len(names) :]
    assert got.shape == want.shape == (6, ny, nx)
    np.testing.assert_array_equal(got.numpy(), np.nan_to_num(want, nan=0.0))


# ------------------------------------------------------------------------------ LandslideNet


@pytest.mark.parametrize("name", [n for n, e in MODELS.items() if e.backend == "torch"])
def test_code_path_equals_the_one_hot_path(name):
    """Every model: forward(codes) == forward_features(one-hot view), bit for bit.

    Random codes include 255 and codes past the class count; continuous values include NaN.
    """
    net = small_model(name, seed=1)
    for seed in (0, 1):
        cont, codes, offsets = random_inputs(b=2, h=21, w=19, seed=seed)
        view = onehot(cont, codes)
        assert np.isnan(view).any() and (codes == 255).any()
        o = tensors(offsets)[0] if net.needs_offsets else None
        with torch.no_grad():
            by_codes = net(*tensors(cont, codes), o)
            by_view = net.forward_features(torch.from_numpy(view), o)
        assert by_codes.shape == (2, 21, 19)
        assert torch.equal(by_codes, by_view)


@pytest.mark.parametrize("name", [n for n, e in MODELS.items() if e.backend == "torch"])
def test_output_shape_odd_sizes_and_nan_inputs(name):
    net = small_model(name)
    cont, codes, offsets = random_inputs(h=37, w=45)
    with torch.no_grad():
        y = net(*tensors(cont, codes, offsets))
    assert y.shape == (2, 37, 45)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()
    assert net.needs_offsets == model_needs_offsets(name)
    assert net.n_features == N_FEATURES


@pytest.mark.parametrize("name", [n for n, e in MODELS.items() if e.backend == "torch"])
def test_offsets_used_only_by_aligned_models(name):
    net = small_model(name)
    cont, codes, o1 = random_inputs(seed=1)
    o2 = random_inputs(seed=2)[2]
    x = tensors(cont, codes)
    with torch.no_grad():
        y1 = net(*x, torch.from_numpy(o1))
        y2 = net(*x, torch.from_numpy(o2))
        y0 = None if net.needs_offsets else net(*x, None)
    if model_needs_offsets(name):
        assert not torch.equal(y1, y2)
        with pytest.raises(ShapeError, match="needs `offsets`"):
            net(*x, None)
    else:
        assert torch.equal(y1, y2)
        assert torch.equal(y1, y0)


@pytest.mark.parametrize("name", [n for n, e in MODELS.items() if e.backend == "torch"])
def test_nan_reads_as_zero(name):
    """NaN continuous values give exactly what zeros give (the documented first step)."""
    net = small_model(name)
    cont, codes, offsets = random_inputs()
    with torch.no_grad():
        a = net(*tensors(cont, codes, offsets))
        b = net(*tensors(np.nan_to_num(cont, nan=0.0), codes, offsets))
    assert torch.equal(a, b)


def test_forward_features_shape_errors():
    net = small_model("lacnn")
    with pytest.raises(ShapeError, match=rf"\(B, {N_FEATURES}, H, W\)"):
        net.forward_features(torch.zeros(1, N_FEATURES - 1, 8, 8))
    with pytest.raises(ShapeError):
        net.forward_features(torch.zeros(N_FEATURES, 8, 8))
    cont, codes, offsets = random_inputs()
    with pytest.raises(ShapeError, match="offsets must have shape"):
        net(*tensors(cont, codes, offsets[:, :1]))


def test_channels_and_gather_of_aligned_models():
    lann, lacnn = small_model("lann"), small_model("lacnn", validity_channel=True)
    assert lann.gather.feature_index.tolist() == ALIGNED_INDEX
    assert lann.in_channels == N_FEATURES + N_DISTANCES * len(ALIGNED_INDEX)
    assert lacnn.in_channels == N_FEATURES + N_DISTANCES * (len(ALIGNED_INDEX) + 1)
    assert lacnn.body.down[0][0].in_channels == lacnn.in_channels
    for name in ("llr", "nn", "cnn"):
        net = small_model(name)
        assert net.gather is None and net.in_channels == N_FEATURES


@pytest.mark.parametrize("name", ["llr", "nn", "lann", "cnn", "lacnn"])
def test_init_prior_sets_the_output_bias(name):
    net = small_model(name)
    net.init_prior(0.02)
    bias = net.output_bias()
    assert bias is not None
    assert abs(float(bias.detach()) - np.log(0.02 / 0.98)) < 1e-6
    before = float(bias.detach())
    for bad in (0.0, 1.0, float("nan")):
        net.init_prior(bad)  # no prior to start from: the bias is kept
        assert float(net.output_bias().detach()) == before
    if name == "llr":
        with torch.no_grad():
            net.body.weight.zero_()
            p = torch.sigmoid(net(*tensors(*random_inputs()[:2])))
        torch.testing.assert_close(p, torch.full_like(p, 0.02))
