"""Per-pixel models: LLR (logistic regression), NN (per-pixel MLP), LANN (NN + aligned).

Each is a :class:`~xlandslide.models.layers.LandslideNet`: NaN -> 0 first, then 1x1
convolutions only, so a pixel's logit depends on that pixel's features alone (and, for LANN,
on the features read at its uphill points).  ``forward(features, offsets)`` returns logits
(B, H, W).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..errors import ConfigError
from .layers import AlignedGather, LandslideNet, positive_int

#: Hidden widths of the per-pixel MLP of NN and LANN.  The paper does not give them; two
#: small layers keep the per-pixel models cheap beside the U-Net.
DEFAULT_HIDDEN = (32, 16)


def hidden_widths(hidden) -> list[int]:
    """``hidden`` as a list of positive ints; :class:`ConfigError` otherwise."""
    try:
        return [positive_int("hidden widths", h) for h in hidden]
    except TypeError:
        raise ConfigError(
            f"hidden must be a sequence of positive integers (e.g. [32, 16]), got {hidden!r}"
        ) from None


def check_dropout(dropout) -> float:
    """``dropout`` as a float in [0, 1); :class:`ConfigError` otherwise."""
    ok = isinstance(dropout, (int, float)) and not isinstance(dropout, bool)
    if not ok or not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    return float(dropout)


def pixel_mlp(in_channels: int, hidden: Sequence[int], dropout: float = 0.0) -> nn.Sequential:
    """1x1 convolutions ``in -> hidden[0] -> ... -> 1`` with ReLU between them.

    With ``dropout > 0`` every hidden activation is dropped with that probability in
    training (:class:`torch.nn.Dropout`, per pixel and channel); evaluation is unchanged.
    """
    layers: list[nn.Module] = []
    c = int(in_channels)
    dropout = check_dropout(dropout)
    for width in hidden_widths(hidden):
        layers += [nn.Conv2d(c, width, 1), nn.ReLU(inplace=True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        c = width
    layers.append(nn.Conv2d(c, 1, 1))
    return nn.Sequential(*layers)


class LLR(LandslideNet):
    """Linear logistic regression per pixel: one 1x1 convolution F -> 1.

    ``module.body.weight`` (1, F, 1, 1) holds the regression weights that
    :func:`xlandslide.select_aligned_features` ranks.
    """

    def __init__(self, n_continuous: int, n_classes: Sequence[int] = ()):
        super().__init__(None, n_continuous, n_classes)
        self.body = nn.Conv2d(self.n_features, 1, 1)
        self.config = {}

    def linear_weights(self):
        """Regression weights as a float64 numpy array (F,)."""
        return self.body.weight.detach().double().cpu().numpy().reshape(-1)


class NN(LandslideNet):
    """Per-pixel neural network: 1x1 convolutions with ReLU (widths ``hidden``), optional
    ``dropout`` after each hidden layer."""

    def __init__(
        self,
        n_continuous: int,
        n_classes: Sequence[int] = (),
        hidden: Sequence[int] = DEFAULT_HIDDEN,
        dropout: float = 0.0,
        linear_skip: bool = False,
    ):
        hidden = hidden_widths(hidden)
        super().__init__(None, n_continuous, n_classes)
        self.body = pixel_mlp(self.n_features, hidden, dropout)
        self.config = {"hidden": hidden, **_extra_config(self, dropout, linear_skip)}


class LANN(LandslideNet):
    """Locally aligned NN: :class:`AlignedGather` then the per-pixel MLP of :class:`NN`."""

    def __init__(
        self,
        n_continuous: int,
        n_classes: Sequence[int],
        feature_index: Sequence[int],
        n_distances: int,
        hidden: Sequence[int] = DEFAULT_HIDDEN,
        validity_channel: bool = False,
        dropout: float = 0.0,
        linear_skip: bool = False,
    ):
        hidden = hidden_widths(hidden)
        gather = AlignedGather(feature_index, n_distances, validity_channel=validity_channel)
        super().__init__(None, n_continuous, n_classes, gather)
        self.body = pixel_mlp(gather.out_channels(self.n_features), hidden, dropout)
        self.config = {
            "hidden": hidden,
            "validity_channel": bool(validity_channel),
            **_extra_config(self, dropout, linear_skip),
        }


def _extra_config(net: LandslideNet, dropout, linear_skip) -> dict:
    """The regularisation options, recorded only when used (older checkpoints have none):
    ``{"dropout": p}`` when ``p > 0``, ``{"linear_skip": True}`` (and the skip added)."""
    p = check_dropout(dropout)
    if not isinstance(linear_skip, bool):
        raise ConfigError(f"linear_skip must be True or False, got {linear_skip!r}")
    out = {"dropout": p} if p else {}
    if linear_skip:
        net.add_linear_skip()
        out["linear_skip"] = True
    return out
