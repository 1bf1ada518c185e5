"""Per-pixel models without the one-hot tensor: their first 1x1 convolution as table lookups.

A per-pixel model (LLR, NN, LANN) starts with a 1x1 convolution over the expanded features:
the continuous layers, one 0/1 channel per class of every group and, for LANN, the features
read at the uphill points.  On one-hot channels that convolution only ever adds the weight
column of the class a pixel holds, so it equals

    W_cont @ continuous + sum over groups g of T_g[code_g] + bias

with ``T_g`` the weight columns of group ``g`` (a zero column for code 255 and codes of no
class), and likewise for the aligned channels with the codes and layers read at the uphill
points.  :func:`lookup_forward` computes exactly that: it reads 4 bytes a pixel per continuous
layer and 1 per group instead of writing and reading 4 bytes per feature (the paper's 94),
which makes whole-region prediction of the per-pixel models memory-bound rather than bound
by a 94-channel convolution.  The result equals :meth:`LandslideNet.forward` up to float
rounding (another summation order: a few units in the last place of the logits).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .layers import LandslideNet, nan_to_zero


def split_first_conv(module: LandslideNet) -> tuple[nn.Conv2d, nn.Module | None]:
    """The model's first 1x1 convolution and the rest of its body (``None`` for an LLR)."""
    body = module.body
    first, rest = (body, None) if isinstance(body, nn.Conv2d) else (None, None)
    if isinstance(body, nn.Sequential) and len(body) and isinstance(body[0], nn.Conv2d):
        first, rest = body[0], body[1:]
    if first is None or first.kernel_size != (1, 1) or first.groups != 1:
        raise ConfigError(
            f"{type(module).__name__} does not start with a 1x1 convolution: it is not a "
            "per-pixel model (use its forward)"
        )
    return first, rest


def supports_lookup(module) -> bool:
    """Whether :func:`lookup_forward` applies to ``module`` (per-pixel, a first 1x1 conv)."""
    try:
        split_first_conv(module)
    except (ConfigError, AttributeError):
        return False
    return True


def _tables(weight: torch.Tensor, starts, counts) -> list[torch.Tensor]:
    """Per group, a (256, O) table: row k = weight column of class k, zeros elsewhere."""
    out = []
    for start, n in zip(starts, counts):
        table = weight.new_zeros((256, weight.shape[0]))
        table[:n] = weight[:, start : start + n].T
        out.append(table)
    return out


def _lookup(tables, codes: torch.Tensor) -> torch.Tensor:
    """sum_g tables[g][codes[:, g]] as (B, O, H, W); ``codes`` (B, G, H, W) long."""
    y = None
    for g, table in enumerate(tables):
        part = table[codes[:, g]]  # (B, H, W, O)
        y = part if y is None else y + part
    return y.permute(0, 3, 1, 2)


def lookup_forward(
    module: LandslideNet,
    continuous: torch.Tensor,
    categorical: torch.Tensor | None = None,
    offsets: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits (B, H, W) of a per-pixel ``module`` from codes, without the one-hot tensor.

    Same inputs and result as ``module(continuous, categorical, offsets)`` up to float
    rounding; see the module notes.
    """
    conv, rest = split_first_conv(module)
    expand = module.expand
    c, counts = expand.n_continuous, expand.n_classes
    starts = [c + sum(counts[:g]) for g in range(len(counts))]
    weight = conv.weight[:, :, 0, 0]
    bias = conv.bias
    linear = getattr(module, "linear", None)  # the wide-and-deep skip: another 1x1 conv
    if linear is not None:
        weight = torch.cat([weight, linear.weight[:, :, 0, 0]])
        if bias is not None:
            bias = torch.cat([bias, bias.new_zeros(linear.out_channels)])
    x = nan_to_zero(continuous.to(weight.dtype))
    y = torch.einsum("oc,bchw->bohw", weight[:, :c], x)
    if bias is not None:
        y = y + bias.view(1, -1, 1, 1)
    codes = None
    if counts:
        codes = categorical.to(device=continuous.device, dtype=torch.long)
        y = y + _lookup(_tables(weight, starts, counts), codes)
    gather = module.gather
    if gather is not None:
        y = y + _aligned(gather, weight, expand.n_features, c, counts, starts, x, codes, offsets)
    skip = None
    if linear is not None:
        y, skip = y[:, : -linear.out_channels], y[:, -linear.out_channels :]
    if rest is not None:
        y = rest(y)
    if skip is not None:
        y = y + skip
    return y.squeeze(1)


def _aligned(gather, weight, n_features, c, counts, starts, x, codes, offsets):
    """The contribution of the aligned (and validity) channels, from uphill reads."""
    b, _, h, w = x.shape
    d_count, k_count = gather.n_distances, gather.n_aligned
    index = gather.feature_index.tolist()
    offsets = offsets.to(device=x.device).long()
    dy, dx = offsets[:, :, 0], offsets[:, :, 1]
    rows = torch.arange(h, device=x.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, 1, w)
    yy, xx = rows + dy, cols + dx
    valid = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w) & ((dy != 0) | (dx != 0))
    flat = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).view(b, d_count, 1, h * w)
    cont_k = [k for k, f in enumerate(index) if f < c]
    groups = [
        (g, [(k, f - starts[g]) for k, f in enumerate(index) if starts[g] <= f < starts[g] + n])
        for g, n in enumerate(counts)
    ]
    y = 0
    for d in range(d_count):
        wd = weight[:, n_features + d * k_count : n_features + (d + 1) * k_count]
        v = valid[:, d]
        if cont_k:
            src = x[:, [index[k] for k in cont_k]].reshape(b, len(cont_k), h * w)
            up = torch.gather(src, 2, flat[:, d].expand(b, len(cont_k), h * w))
            up = up.view(b, len(cont_k), h, w) * v.unsqueeze(1).to(x.dtype)
            y = y + torch.einsum("ok,bkhw->bohw", wd[:, cont_k], up)
        for g, members in groups:
            if not members:
                continue
            table = weight.new_zeros((256, weight.shape[0]))
            for k, cls in members:
                table[cls] = wd[:, k]
            src = codes[:, g].reshape(b, h * w)
            up = torch.gather(src, 1, flat[:, d, 0]).view(b, h, w)
            up = torch.where(v, up, torch.full_like(up, 255))
            y = y + table[up].permute(0, 3, 1, 2)
        if gather.validity_channel:
            col = weight[:, n_features + d_count * k_count + d]
            y = y + col.view(1, -1, 1, 1) * v.unsqueeze(1).to(x.dtype)
    return y


__all__ = ["lookup_forward", "split_first_conv", "supports_lookup"]
