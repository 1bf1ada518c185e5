"""Is a warm start's trained replacement better than noise?  A paired test on validation.

A model warm-started from the LLR (:func:`xlandslide.fit`'s ``warm_start``) begins as that
LLR; its best epoch is the one with the lowest validation loss.  With few validation pixels
(a point inventory: tens of points per fold) the lowest of thirty noisy losses is lower than
the start's by chance alone, and the deep part it brings loses on held-out space (the Ecuador
example's first spatial fold: 0.054 AUC below the LLR; the user guide, "Honest skill").
:func:`paired_gain` scores the start and the best weights on the *same* validation pixels
and returns the mean per-pixel loss gain with its standard error; the loop keeps the trained
weights only when the gain exceeds ``TrainConfig.accept_margin`` standard errors.

The standard error treats the validation pixels as independent: right for points, optimistic
for polygon inventories, whose neighbouring pixels are alike (their many pixels make the
error small anyway).  Sums are streamed batch by batch (no per-pixel array is kept).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .loss import masked_bce_pixels


@dataclass(frozen=True)
class PairedGain:
    """Validation loss of the start minus that of the trained weights, per known pixel."""

    gain: float  # mean of loss(start) - loss(trained) over the validation pixels
    se: float  # its standard error (pixels taken as independent)
    n: int  # validation pixels

    @property
    def z(self) -> float:
        """``gain / se`` (``inf`` when the two differ everywhere by the same amount)."""
        if self.se > 0:
            return self.gain / self.se
        return math.copysign(math.inf, self.gain) if self.gain else 0.0

    def accepts(self, margin: float) -> bool:
        """Whether the trained weights gain more than ``margin`` standard errors."""
        return self.n > 1 and self.gain > 0 and self.z > float(margin)

    def to_dict(self) -> dict:
        return {"gain": self.gain, "se": self.se, "n": self.n, "z": self.z}


def paired_gain(start, trained, batches, to_inputs, halo: int, autocast=None) -> PairedGain:
    """Paired per-pixel BCE gain of ``trained`` over ``start`` (two torch modules).

    ``batches`` yields patch batches, ``to_inputs(batch)`` gives ``(inputs, label)`` on the
    modules' device, ``autocast()`` (optional) a context for the forward passes.  The sums
    are float64; only known core pixels count.
    """
    import contextlib

    import torch

    total = squares = 0.0
    count = 0
    context = autocast or contextlib.nullcontext
    for module in (start, trained):
        module.eval()
    with torch.no_grad():
        for batch in batches:
            inputs, label = to_inputs(batch)
            with context():
                a, b = start(*inputs), trained(*inputs)
            la, known = masked_bce_pixels(a, label, halo)
            lb, _ = masked_bce_pixels(b, label, halo)
            d = (la - lb).double()[known]
            total += float(d.sum())
            squares += float((d * d).sum())
            count += int(known.sum())
    if count == 0:
        return PairedGain(math.nan, math.nan, 0)
    mean = total / count
    if count < 2:
        return PairedGain(mean, math.nan, count)
    var = max(squares - count * mean * mean, 0.0) / (count - 1)
    return PairedGain(mean, math.sqrt(var / count), count)


__all__ = ["PairedGain", "paired_gain"]
