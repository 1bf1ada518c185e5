"""The loss of the paper: binary cross-entropy on the known pixels of the patches' cores."""

from __future__ import annotations

from ..errors import ShapeError


def _core(x, halo: int):
    if halo == 0:
        return x
    return x[..., halo:-halo, halo:-halo]


def masked_bce_pixels(logits, label, halo: int):
    """(BCE per core pixel, 0 where unknown; mask of the known core pixels), float32."""
    import torch
    import torch.nn.functional as F

    if logits.shape != label.shape:
        raise ShapeError(
            f"logits {tuple(logits.shape)} and label {tuple(label.shape)} differ in shape"
        )
    halo = int(halo)
    if halo < 0 or 2 * halo >= min(logits.shape[-2:]):
        raise ShapeError(f"halo {halo} leaves no core in a {tuple(logits.shape[-2:])} patch")
    z = _core(logits, halo).float()
    y = _core(label, halo)
    known = y >= 0
    # Masked logits are replaced (not multiplied) so that NaN/inf there cannot leak into
    # the loss or its gradient.
    z = torch.where(known, z, torch.zeros((), dtype=z.dtype, device=z.device))
    target = known & (y > 0)
    loss = F.binary_cross_entropy_with_logits(z, target.to(z.dtype), reduction="none")
    loss = torch.where(known, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    return loss, known


def masked_bce_sum(logits, label, halo: int):
    """(sum of BCE over known core pixels, number of known core pixels), float32 tensors."""
    loss, known = masked_bce_pixels(logits, label, halo)
    return loss.sum(), known.sum().to(loss.dtype)


def masked_bce_with_logits(logits, label, halo: int):
    """Mean binary cross-entropy over the known pixels of the patches' cores.

    Parameters
    ----------
    logits : torch.Tensor
        (B, S, S) logits (any float dtype; computed in float32).
    label : torch.Tensor
        (B, S, S) integer labels: 1 landslide, 0 stable, -1 unknown.
    halo : int
        Pixels cropped on every side before the loss (only the core counts).

    Returns
    -------
    torch.Tensor
        Scalar: ``sum(BCE) / n_known`` over core pixels with ``label >= 0``; 0 (still
        differentiable, with zero gradient) when there is no known core pixel.

    Notes
    -----
    Uses :func:`torch.nn.functional.binary_cross_entropy_with_logits`, i.e. the stable
    ``max(z, 0) - z * y + log(1 + exp(-|z|))``.  Logits at unknown or halo pixels never
    reach the loss nor its gradient, even when they are NaN.
    """
    total, count = masked_bce_sum(logits, label, halo)
    return total / count.clamp(min=1)


__all__ = ["masked_bce_pixels", "masked_bce_sum", "masked_bce_with_logits"]
