"""Building blocks shared by the models: code expansion, the aligned gather, the model shell.

Every model of the package is a :class:`LandslideNet`: a plain :class:`torch.nn.Module`
that takes ``continuous`` (B, C, H, W) float with NaN outside the region, ``categorical``
(B, G, H, W) uint8 class codes (255 = no class) and ``offsets`` (B, D, 2, H, W) int8 (or
``None``) and returns LOGITS (B, H, W).  It knows nothing of xarray.

The first step: codes -> one-hot, NaN -> 0
------------------------------------------
:class:`CodeExpand` builds the (B, F, H, W) float feature tensor on the device: the
continuous layers with NaN replaced by 0, then one channel per class of every group, 1 where
the code is that class and 0 elsewhere (also where it is 255).  For a standardised continuous
feature 0 is the mean; for a one-hot feature 0 is "not this class".  A pixel outside the
region thus looks like an average pixel of no class, which is also what zero padding of the
convolutions shows beyond the tile edge, so the region edge and the tile edge look alike to
the network.  :meth:`LandslideNet.forward_features` runs the same model on the one-hot view
(:func:`xlandslide.region.onehot_features`) instead, with exactly the same result.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError, ShapeError


def positive_int(name: str, value) -> int:
    """``value`` as an int; :class:`ConfigError` unless it is an integer >= 1 (not a bool)."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and math.isfinite(value)
        and value == int(value)
    )
    if not ok or int(value) < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def nan_to_zero(x: torch.Tensor) -> torch.Tensor:
    """Return ``x`` with NaN replaced by 0 (infinite values are kept as they are).

    One pass over memory (``nan_to_num``), about twice as fast on the CPU as
    ``masked_fill(isnan(x), 0)``, which materialises a mask first.
    """
    return torch.nan_to_num(x, nan=0.0, posinf=math.inf, neginf=-math.inf)


class CodeExpand(nn.Module):
    """Continuous layers and class codes -> the (B, F, H, W) one-hot feature tensor.

    Parameters
    ----------
    n_continuous : int
        Number C of continuous layers (may be 0).
    n_classes : sequence of int
        Number of classes of every categorical group (may be empty).

    Notes
    -----
    ``F = C + sum(n_classes)``.  Channel ``C + sum(n_classes[:g]) + k`` is 1 where group
    ``g`` has code ``k``; codes at or above the group's class count (255, no data) give 0 in
    every channel of the group.  One ``scatter_add_`` writes every one: a pixel adds 1 to its
    class's channel (and 0 to the group's first channel when it has no class), so the result
    equals the one-hot view with NaN replaced by 0, bit for bit.
    """

    def __init__(self, n_continuous: int, n_classes: Sequence[int] = ()):
        super().__init__()
        self.n_continuous = int(n_continuous)
        counts = [int(n) for n in n_classes]
        if self.n_continuous < 0 or any(n < 1 for n in counts):
            raise ConfigError(
                f"bad layout: {n_continuous} continuous layers and class counts {counts}; "
                "expect >= 0 layers and >= 1 class per group"
            )
        self.n_classes = tuple(counts)
        starts = [self.n_continuous + sum(counts[:g]) for g in range(len(counts))]
        view = (1, len(counts), 1, 1)
        self.register_buffer("starts", torch.tensor(starts, dtype=torch.long).view(view), False)
        self.register_buffer("counts", torch.tensor(counts, dtype=torch.long).view(view), False)

    @property
    def n_features(self) -> int:
        """Number F of feature channels produced."""
        return self.n_continuous + sum(self.n_classes)

    def extra_repr(self) -> str:
        return f"n_continuous={self.n_continuous}, n_classes={list(self.n_classes)}"

    def forward(self, continuous: torch.Tensor, categorical: torch.Tensor | None) -> torch.Tensor:
        b, c, h, w = continuous.shape
        if c != self.n_continuous:
            raise ShapeError(
                f"continuous must have shape (B, {self.n_continuous}, H, W), "
                f"got {tuple(continuous.shape)}"
            )
        dtype = continuous.dtype if continuous.is_floating_point() else torch.float32
        x = torch.zeros((b, self.n_features, h, w), dtype=dtype, device=continuous.device)
        if c:
            x[:, :c] = nan_to_zero(continuous.to(dtype))
        g = len(self.n_classes)
        if g:
            if categorical is None or tuple(categorical.shape) != (b, g, h, w):
                got = None if categorical is None else tuple(categorical.shape)
                raise ShapeError(f"categorical must have shape {(b, g, h, w)} uint8, got {got}")
            codes = categorical.to(device=continuous.device, dtype=torch.long)
            valid = codes < self.counts
            index = torch.where(valid, codes + self.starts, self.starts)
            x.scatter_add_(1, index, valid.to(dtype))
        return x


class AlignedGather(nn.Module):
    """Gather selected feature channels at the uphill point of every pixel, on the device.

    For every pixel (i, j), distance ``d`` and selected channel ``k``, the aligned channel
    is ``features[b, k, i + dy, j + dx]`` with ``(dy, dx) = offsets[b, d, :, i, j]``.

    Parameters
    ----------
    feature_index : sequence of int
        Indices (in the ``feature`` dimension) of the K features read at the uphill points.
    n_distances : int
        Number D of looking distances; ``offsets`` must have D rows.
    validity_channel : bool
        Also return, per distance, a channel that is 1 where the uphill point exists
        (non-zero offset inside the tile) and 0 elsewhere.  Off by default: the paper feeds
        only the 94 + 66 = 160 channels.

    Notes
    -----
    Output channels: the F input channels, then ``D * K`` aligned channels ordered
    distance-major (channel ``F + d * K + k`` is feature ``feature_index[k]`` at distance
    ``d``), then, with ``validity_channel``, D validity channels.

    An offset of (0, 0) means "no uphill point" (the whole ring was outside the region) and
    an uphill point outside the tile cannot be read: both give 0, the same value NaN
    features get (see the module notes), so the result equals ``nan_to_zero`` of the
    materialised aligned features wherever the uphill point lies inside the tile.  With a
    halo at least as large as the largest radius, that is every core pixel.

    The gather is one :func:`torch.gather` on flattened (y * W + x) indices; the int8
    offsets are cast to int64 on the device, so only 2 bytes per pixel and distance travel.
    """

    def __init__(
        self, feature_index: Sequence[int], n_distances: int, *, validity_channel: bool = False
    ):
        super().__init__()
        index = [int(i) for i in feature_index]
        if not index:
            raise ConfigError("AlignedGather needs at least one feature index")
        if min(index) < 0:
            raise ConfigError(f"feature indices must be non-negative, got {index}")
        if int(n_distances) < 1:
            raise ConfigError(f"n_distances must be at least 1, got {n_distances}")
        self.n_distances = int(n_distances)
        self.validity_channel = bool(validity_channel)
        self.register_buffer("feature_index", torch.tensor(index, dtype=torch.long), False)

    @property
    def n_aligned(self) -> int:
        """Number K of features read at each uphill point."""
        return int(self.feature_index.numel())

    def out_channels(self, in_channels: int) -> int:
        """Number of output channels for ``in_channels`` input channels."""
        extra = self.n_distances if self.validity_channel else 0
        return in_channels + self.n_distances * self.n_aligned + extra

    def extra_repr(self) -> str:
        return (
            f"n_aligned={self.n_aligned}, n_distances={self.n_distances}, "
            f"validity_channel={self.validity_channel}"
        )

    def forward(self, features: torch.Tensor, offsets: torch.Tensor | None) -> torch.Tensor:
        if offsets is None:
            raise ShapeError(
                "this model reads aligned (uphill) features and needs `offsets` "
                f"(B, {self.n_distances}, 2, H, W) int8; compute them with "
                "xlandslide.uphill_offsets(region.dem, distances)"
            )
        b, f, h, w = features.shape
        d = self.n_distances
        if offsets.dim() != 5 or tuple(offsets.shape) != (b, d, 2, h, w):
            raise ShapeError(
                f"offsets must have shape (B, D, 2, H, W) = {(b, d, 2, h, w)}, "
                f"got {tuple(offsets.shape)}"
            )
        if int(self.feature_index.max()) >= f:
            raise ShapeError(
                f"aligned feature index {int(self.feature_index.max())} out of range for "
                f"{f} input features"
            )
        offsets = offsets.to(device=features.device, non_blocking=True).long()
        dy = offsets[:, :, 0]  # (B, D, H, W)
        dx = offsets[:, :, 1]
        rows = torch.arange(h, device=features.device).view(1, 1, h, 1)
        cols = torch.arange(w, device=features.device).view(1, 1, 1, w)
        yy = rows + dy
        xx = cols + dx
        valid = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w) & ((dy != 0) | (dx != 0))
        flat = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).view(b, d, 1, h * w)
        k = self.n_aligned
        selected = features.index_select(1, self.feature_index).reshape(b, 1, k, h * w)
        gathered = torch.gather(
            selected.expand(b, d, k, h * w), 3, flat.expand(b, d, k, h * w)
        ).view(b, d, k, h, w)
        valid_f = valid.to(features.dtype)
        aligned = (gathered * valid_f.unsqueeze(2)).reshape(b, d * k, h, w)
        parts = [features, aligned]
        if self.validity_channel:
            parts.append(valid_f)
        return torch.cat(parts, dim=1)


class LandslideNet(nn.Module):
    """The shell of every model: code expansion, optional aligned gather, a body, one logit map.

    Parameters
    ----------
    body : torch.nn.Module
        Maps (B, K, H, W) to (B, 1, H, W) logits, ``K = gather.out_channels(F)`` or ``F``.
    n_continuous : int
        Number C of continuous layers.
    n_classes : sequence of int
        Classes of every categorical group (``F = C + sum(n_classes)`` features).
    gather : AlignedGather, optional
        The aligned-feature preprocessing; ``None`` for models without aligned features
        (they ignore ``offsets``).

    ``forward(continuous, categorical=None, offsets=None)`` returns logits (B, H, W);
    ``forward_features(features, offsets=None)`` the same from the one-hot view.
    """

    def __init__(
        self,
        body: nn.Module | None,
        n_continuous: int,
        n_classes: Sequence[int] = (),
        gather: AlignedGather | None = None,
    ):
        super().__init__()
        self.expand = CodeExpand(n_continuous, n_classes)
        self.gather = gather
        self.body = body
        self.linear: nn.Module | None = None
        self.config: dict = {}

    def add_linear_skip(self) -> None:
        """Add a linear path: logits = body(x) + w . x (a 1x1 convolution, no bias).

        The linear weights and the body's final layer start at zero, so the untrained
        model predicts the prior (the output bias) and the body learns only what it adds to
        the linear part; :meth:`warm_start_linear` starts the linear part from a trained
        LLR instead.  With few labels (point inventories) the model then stays near the
        linear one unless the nonlinear part proves itself on validation pixels — a
        wide-and-deep safeguard against overfitting.
        """
        self.linear = nn.Conv2d(self.in_channels, 1, 1, bias=False)
        with torch.no_grad():
            self.linear.weight.zero_()
        head = self.output_bias()
        if head is not None:
            for m in self.modules():
                if isinstance(m, nn.Conv2d) and m.bias is head:
                    with torch.no_grad():
                        m.weight.zero_()

    @property
    def n_features(self) -> int:
        """Number F of input features (continuous layers plus classes)."""
        return self.expand.n_features

    @property
    def needs_offsets(self) -> bool:
        """Whether ``forward`` reads ``offsets`` (aligned models)."""
        return self.gather is not None

    @property
    def in_channels(self) -> int:
        """Channels entering the body (input features plus aligned channels)."""
        if self.gather is None:
            return self.n_features
        return self.gather.out_channels(self.n_features)

    def output_bias(self) -> torch.nn.Parameter | None:
        """Bias of the final one-channel layer (the logit offset), if the body has one."""
        last = None
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.out_channels == 1 and m.bias is not None:
                last = m
        return None if last is None else last.bias

    @torch.no_grad()
    def warm_start_linear(self, weights, bias: float) -> None:
        """Start the linear skip at an LLR's solution: ``weights`` (F,) on the input features
        (aligned channels at 0) and the output bias at ``bias``.

        Needs :meth:`add_linear_skip`; the body's contribution starts at zero, so the
        untrained model *is* the LLR.
        """
        if self.linear is None:
            raise ConfigError(
                "warm_start_linear needs a linear skip: build the model with linear_skip=True"
            )
        w = torch.as_tensor(weights, dtype=self.linear.weight.dtype).reshape(-1)
        if w.numel() != self.n_features:
            raise ShapeError(
                f"the LLR has {w.numel()} weights, this model {self.n_features} features; "
                "warm-start from an LLR trained on the same layout"
            )
        self.linear.weight.zero_()
        self.linear.weight.view(-1)[: self.n_features] = w.to(self.linear.weight.device)
        head = self.output_bias()
        if head is not None:
            head.fill_(float(bias))

    @torch.no_grad()
    def init_prior(self, ratio: float) -> None:
        """Start from the prior: set the output bias to ``logit(ratio)``.

        With a rare positive class (landslides are ~1 % of pixels) a network that starts
        at p = 0.5 spends its first epochs learning the base rate; starting at the base
        rate makes the untrained model as good as the Naive baseline (a standard trick for
        imbalanced dense prediction).
        """
        bias = self.output_bias()
        if bias is None or not 0.0 < ratio < 1.0:
            return
        bias.fill_(math.log(ratio / (1.0 - ratio)))

    def forward(
        self,
        continuous: torch.Tensor,
        categorical: torch.Tensor | None = None,
        offsets: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.logits(self.expand(continuous, categorical), offsets)

    def forward_features(self, features: torch.Tensor, offsets: torch.Tensor | None = None):
        """The model on the one-hot view: ``features`` (B, F, H, W), NaN outside the region."""
        if features.dim() != 4 or features.shape[1] != self.n_features:
            raise ShapeError(
                f"features must have shape (B, {self.n_features}, H, W), "
                f"got {tuple(features.shape)}"
            )
        return self.logits(nan_to_zero(features), offsets)

    def logits(self, x: torch.Tensor, offsets: torch.Tensor | None) -> torch.Tensor:
        """Logits (B, H, W) from the expanded features ``x`` (no NaN)."""
        if self.gather is not None:
            x = self.gather(x, offsets)
        out = self.body(x).squeeze(1)
        if self.linear is not None:
            out = out + self.linear(x).squeeze(1)
        return out
