"""Convolutional models: CNN (U-Net on the features) and LACNN (aligned gather + U-Net).

Both are :class:`~xlandslide.models.layers.LandslideNet`: NaN -> 0, then (LACNN only) the
:class:`~xlandslide.models.layers.AlignedGather` preprocessing (94 + 3 x 22 = 160 channels
in the paper's setting), then the :class:`~xlandslide.models.unet.UNet`.  See
:mod:`xlandslide.models.unet` for the widths and the handling of odd sizes.
"""

from __future__ import annotations

from collections.abc import Sequence

from .layers import AlignedGather, LandslideNet
from .pixel import _extra_config
from .unet import UNet


class CNN(LandslideNet):
    """U-Net on the input features, without aligned features (ignores ``offsets``)."""

    def __init__(
        self,
        n_continuous: int,
        n_classes: Sequence[int] = (),
        base_width: int = 16,
        depth: int = 4,
        batch_norm: bool = False,
        dropout: float = 0.0,
        linear_skip: bool = False,
        norm: str | None = None,
    ):
        super().__init__(None, n_continuous, n_classes)
        self.body, self.config = _unet(
            self, self.n_features, base_width, depth, batch_norm, dropout, norm, linear_skip
        )


class LACNN(LandslideNet):
    """Locally aligned CNN: :class:`AlignedGather` then the U-Net (the paper's model)."""

    def __init__(
        self,
        n_continuous: int,
        n_classes: Sequence[int],
        feature_index: Sequence[int],
        n_distances: int,
        base_width: int = 16,
        depth: int = 4,
        batch_norm: bool = False,
        validity_channel: bool = False,
        dropout: float = 0.0,
        linear_skip: bool = False,
        norm: str | None = None,
    ):
        gather = AlignedGather(feature_index, n_distances, validity_channel=validity_channel)
        super().__init__(None, n_continuous, n_classes, gather)
        self.body, self.config = _unet(
            self,
            gather.out_channels(self.n_features),
            base_width,
            depth,
            batch_norm,
            dropout,
            norm,
            linear_skip,
            validity_channel=bool(validity_channel),
        )


def _unet(net, channels, base_width, depth, batch_norm, dropout, norm, linear_skip, **extra):
    """The U-Net body of a CNN or LACNN on ``channels`` inputs and the options recorded in
    the checkpoint (``extra``: the LACNN's ``validity_channel``); the body is set on ``net``
    first, as ``_extra_config`` (the linear path) reads it."""
    net.body = body = UNet(
        channels,
        base_width=base_width,
        depth=depth,
        batch_norm=batch_norm,
        dropout=dropout,
        norm=norm,
    )
    config = {
        "base_width": int(base_width),
        "depth": int(depth),
        "batch_norm": bool(batch_norm) or norm == "batch",
        **extra,
        **_norm_config(norm),
        **_extra_config(net, dropout, linear_skip),
    }
    return body, config


def _norm_config(norm) -> dict:
    """``{"norm": norm}`` when a norm other than batch norm is used (older checkpoints have
    none, and ``batch_norm`` records batch norm)."""
    return {"norm": norm} if norm not in (None, "batch") else {}
