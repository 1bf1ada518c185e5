"""Tests of xlandslide.models.unet: any input size, widths, skips, batch norm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from xlandslide.errors import ConfigError
from xlandslide.models import UNet
from xlandslide.models.unet import double_conv


@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (16, 16), (17, 33), (64, 5)])
def test_any_size(shape):
    torch.manual_seed(0)
    net = UNet(3, base_width=2)
    y = net(torch.randn(2, 3, *shape))
    assert y.shape == (2, 1, *shape)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_widths_double_per_level(depth):
    net = UNet(5, base_width=3, depth=depth)
    widths = [block[0].out_channels for block in net.down]
    assert widths == [3 * 2**i for i in range(depth)]
    assert net.bottom[0].out_channels == 3 * 2**depth
    assert net.down[0][0].in_channels == 5
    # up stage i takes the upsampled deeper level concatenated with the skip of level i
    for block, i in zip(net.up, reversed(range(depth))):
        assert block[0].in_channels == 3 * 2 ** (i + 1) + 3 * 2**i
        assert block[0].out_channels == 3 * 2**i
    assert net.head.in_channels == 3 and net.head.out_channels == 1
    assert net.head.kernel_size == (1, 1)


def test_no_transposed_convolutions_and_same_padding():
    net = UNet(4, base_width=2)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert convs and all(m.padding == (1, 1) and m.stride == (1, 1) for m in convs)
    assert len(convs) == 2 * (4 + 1 + 4)  # two per down stage, bottom and up stage


def test_batch_norm_option():
    plain = double_conv(3, 4)
    assert [type(m) for m in plain] == [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.ReLU]
    assert plain[0].bias is not None
    bn = double_conv(3, 4, batch_norm=True)
    assert [type(m) for m in bn] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2
    assert bn[0].bias is None  # the batch norm's shift replaces it
    net = UNet(3, base_width=2, batch_norm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 18
    assert not any(isinstance(m, nn.BatchNorm2d) for m in UNet(3, base_width=2).modules())


def test_output_depends_on_the_neighbourhood():
    """A convolutional body: changing one pixel changes the logits around it."""
    torch.manual_seed(0)
    net = UNet(2, base_width=8, depth=2).eval()
    x = torch.randn(1, 2, 80, 80)
    x2 = x.clone()
    x2[0, :, 40, 40] += 3.0
    with torch.no_grad():
        d = (net(x2) - net(x)).abs()[0, 0]
    changed = d > 0
    assert changed[40, 40] and changed[30, 50] and changed.sum() > 25
    # but not beyond the field of view of a depth-2 U-Net (some 25 pixels)
    assert not changed[:10].any() and not changed[:, 70:].any()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"base_width": 0}, "base_width"), ({"depth": 0}, "depth"), ({"depth": 1.5}, "depth")],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        UNet(3, **kwargs)


def test_unet_dropout_in_training_only():
    import torch

    from xlandslide.models import build_model

    torch.manual_seed(0)
    net = build_model("cnn", n_continuous=2, base_width=4, depth=2, dropout=0.3)
    assert net.config["dropout"] == 0.3
    x = torch.randn(1, 2, 16, 16)
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))
    # the same parameters as without dropout: checkpoints load either way
    plain = build_model("cnn", n_continuous=2, base_width=4, depth=2)
    assert list(net.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(net.state_dict())
