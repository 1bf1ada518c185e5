"""The per-pixel models' first convolution as code lookups: equal to the forward."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from xlandslide.errors import ConfigError  # noqa: E402
from xlandslide.models import build_model  # noqa: E402
from xlandslide.models.lookup import lookup_forward, split_first_conv, supports_lookup  # noqa: E402

N_CLASSES = (4, 3, 5)
CASES = [
    ("llr", {}),
    ("nn", {"hidden": [8, 4]}),
    ("lann", {"aligned_index": [0, 2, 3, 5, 9, 11], "n_distances": 2}),
    ("lann", {"aligned_index": [1, 4, 8], "n_distances": 2, "validity_channel": True}),
    ("nn", {"hidden": [6], "linear_skip": True}),
    ("lann", {"aligned_index": [0, 4, 9], "n_distances": 2, "linear_skip": True}),
]


def inputs(seed=0, b=2, c=3, h=37, w=41):
    g = torch.Generator().manual_seed(seed)
    cont = torch.randn(b, c, h, w, generator=g)
    cont[:, :, :3, :4] = float("nan")  # outside the region
    codes = torch.stack([torch.randint(0, n + 2, (b, h, w), generator=g) for n in N_CLASSES], 1).to(
        torch.uint8
    )  # codes of no class (n, n + 1) included
    codes[:, :, 5:7, :] = 255
    offs = torch.randint(-4, 5, (b, 2, 2, h, w), generator=g).to(torch.int8)
    return cont, codes, offs


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_lookup_equals_the_forward(name, kw):
    torch.manual_seed(1)
    module = build_model(name, n_continuous=3, n_classes=N_CLASSES, **kw).eval()
    if kw.get("linear_skip"):  # the skip and the body's head start at zero: give them values
        with torch.no_grad():
            for p in module.parameters():
                p.add_(0.1 * torch.randn_like(p))
    cont, codes, offs = inputs()
    with torch.no_grad():
        want = module(cont, codes, offs)
        got = lookup_forward(module, cont, codes, offs)
    assert got.shape == want.shape
    # the same sums in another order: float32 rounding only
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    assert not torch.isnan(got).any()


def test_lookup_without_groups_or_without_continuous_layers():
    for c, n_classes in ((3, ()), (0, (4, 3))):
        module = build_model("nn", n_continuous=c, n_classes=n_classes, hidden=[5]).eval()
        cont = torch.randn(1, c, 9, 11)
        codes = torch.randint(0, 3, (1, len(n_classes), 9, 11)).to(torch.uint8)
        with torch.no_grad():
            np.testing.assert_allclose(
                lookup_forward(module, cont, codes).numpy(),
                module(cont, codes).numpy(),
                rtol=1e-5,
                atol=1e-6,
            )


def test_only_models_that_start_with_a_1x1_convolution():
    assert supports_lookup(build_model("llr", n_continuous=2, n_classes=(3,)))
    unet = build_model("cnn", n_continuous=2, n_classes=(3,), base_width=2)
    assert not supports_lookup(unet)
    with pytest.raises(ConfigError, match="1x1"):
        split_first_conv(unet)
