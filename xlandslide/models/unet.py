"""The U-Net body of the CNN and LACNN models (DESIGN §1, Figure 2 of the paper).

Four down stages (two 3x3 convolutions, stride 1, padding 1, each followed by ReLU, then a
2x2 max-pool), a bottom block (two 3x3 convolutions), four up stages (bilinear upsampling
to the exact size of the matching down stage, concatenation of that stage's output — the
long skip connection — and two 3x3 convolutions with ReLU), and a final 1x1 convolution to
one logit.  No transposed convolutions (the paper found checkerboard artefacts with them).

Widths
------
The paper gives no channel widths.  Level ``i`` (0 = full resolution) has
``base_width * 2**i`` channels; the bottom block ``base_width * 2**depth``.  The default
``base_width=16`` (16, 32, 64, 128, bottom 256) keeps a 628 x 628 patch of 160 channels at
about 0.7 s per forward on one CPU core pair (DESIGN §5); ``base_width=32`` costs about 3x
that, and the authors' own code used a 64-wide U-Net on a GPU.

Any size
--------
Max-pooling uses ``ceil_mode=True`` and upsampling targets the skip's exact size, so any
H, W >= 1 works (odd sizes included), not only multiples of ``2**depth``.  The output still
depends on where the pooling grid starts: shifting the input by a number of pixels that is
not a multiple of ``2**depth`` changes the prediction slightly.

Dropout (``dropout > 0``, off by default) drops whole channels (:class:`torch.nn.Dropout2d`)
after the bottom block and after every up stage, in training only: a regulariser for
few labels (point inventories).

Normalisation is off by default in the module (the paper does not use it, and checkpoints
written before it existed build without it); :func:`xlandslide.fit` asks for
``norm="group"`` by default (:data:`xlandslide.train.presets.DEFAULT_MODEL_CONFIG`): a
``GroupNorm`` after each 3x3 convolution keeps the activations of the 18 convolutions at
unit scale, independently of the batch (batches of 4 patches are too small for batch
statistics).  ``norm="batch"`` (or the older ``batch_norm=True``) inserts ``BatchNorm2d``.

Initialisation
--------------
Every 3x3 convolution starts from He (Kaiming) normal weights for ReLU (fan-in) and zero
biases.  PyTorch's default (uniform with gain 1/sqrt(3)) shrinks the signal's variance by
about 6 at every convolution: through the U-Net's 18 the output no longer depends on the
input, and with Adam's coupled L2 penalty the weights of the first layers then decay to
zero (measured on a 30 m synthetic region: the first convolution's gradient fell from 9e-6
to 1e-12 in 8 epochs and the map was constant; ``benchmarks/diagnose_training.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .layers import positive_int

#: Normalisations of the U-Net's convolutions.
NORMS = (None, "batch", "group")


def group_count(channels: int, most: int = 8) -> int:
    """Groups of a ``GroupNorm`` over ``channels``: the largest divisor up to ``most``."""
    return max(g for g in range(1, min(most, channels) + 1) if channels % g == 0)


def check_norm(norm, batch_norm: bool = False):
    """``norm`` checked (``batch_norm=True`` is the older spelling of ``norm="batch"``)."""
    if norm not in NORMS:
        raise ConfigError(f"norm must be one of {list(NORMS)}, got {norm!r}")
    if batch_norm:
        if norm not in (None, "batch"):
            raise ConfigError(f"batch_norm=True contradicts norm={norm!r}; pass only norm")
        return "batch"
    return norm


def double_conv(
    in_channels: int, out_channels: int, batch_norm: bool = False, norm: str | None = None
) -> nn.Sequential:
    """Two 3x3 convolutions (stride 1, padding 1), each followed by [a norm and] ReLU.

    The convolutions start from He normal weights (fan-in, ReLU) and zero biases.
    """
    norm = check_norm(norm, batch_norm)
    layers: list[nn.Module] = []
    for c_in in (in_channels, out_channels):
        conv = nn.Conv2d(c_in, out_channels, 3, padding=1, bias=norm is None)
        nn.init.kaiming_normal_(conv.weight, mode="fan_in", nonlinearity="relu")
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
        layers.append(conv)
        if norm == "batch":
            layers.append(nn.BatchNorm2d(out_channels))
        elif norm == "group":
            layers.append(nn.GroupNorm(group_count(out_channels), out_channels))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """U-Net mapping (B, C, H, W) to one logit map (B, 1, H, W).

    Parameters
    ----------
    in_channels : int
        Input channels C.
    base_width : int
        Channels of the first level; they double at each level down (default 16).
    depth : int
        Number of down (and up) stages (default 4, the paper's).
    batch_norm : bool
        Insert BatchNorm after every 3x3 convolution (default False; ``norm="batch"``).
    norm : {None, "batch", "group"}
        Normalisation after every 3x3 convolution (default None: none).
    dropout : float
        Channel dropout after the bottom block and every up stage (default 0: none).
    """

    def __init__(
        self,
        in_channels: int,
        base_width: int = 16,
        depth: int = 4,
        batch_norm: bool = False,
        dropout: float = 0.0,
        norm: str | None = None,
    ):
        super().__init__()
        from .pixel import check_dropout

        norm = check_norm(norm, batch_norm)

        dropout = check_dropout(dropout)
        self.drop = nn.Dropout2d(dropout) if dropout else nn.Identity()
        base_width = positive_int("base_width", base_width)
        depth = positive_int("depth", depth)
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        c = int(in_channels)
        for w in widths[:-1]:
            self.down.append(double_conv(c, w, norm=norm))
            c = w
        self.bottom = double_conv(c, widths[-1], norm=norm)
        self.up = nn.ModuleList(
            double_conv(widths[i + 1] + widths[i], widths[i], norm=norm)
            for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2, ceil_mode=True)
        x = self.drop(self.bottom(x))
        for block, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = self.drop(block(torch.cat([skip, x], dim=1)))
        return self.head(x)
