"""The Naive baseline: the training positive ratio everywhere (a constant logit)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import ShapeError
from .layers import LandslideNet


class Naive(LandslideNet):
    """Constant prediction: ``sigmoid(logit)`` at every pixel, ``logit = log(r / (1 - r))``.

    ``r`` is set by :meth:`init_prior` (what :func:`xlandslide.fit` does with the training
    positive ratio); its NLL on a set of pixels with positive fraction ``p`` is
    ``-(p log r + (1 - p) log(1 - r))`` (:func:`xlandslide.naive_nll`).  It has no
    trainable parameter; the logit is a buffer saved with the checkpoint.
    """

    def __init__(self, n_continuous: int, n_classes: Sequence[int] = ()):
        super().__init__(None, n_continuous, n_classes)
        self.register_buffer("logit", torch.zeros(()))
        self.config = {}

    @property
    def ratio(self) -> float:
        """The predicted probability (the training positive ratio)."""
        return float(torch.sigmoid(self.logit))

    @torch.no_grad()
    def init_prior(self, ratio: float) -> None:
        r = min(max(float(ratio), 1e-12), 1.0 - 1e-12)
        self.logit.fill_(math.log(r / (1.0 - r)))

    def forward(self, continuous, categorical=None, offsets=None):
        b, c, h, w = continuous.shape
        if c != self.expand.n_continuous:
            raise ShapeError(
                f"continuous must have shape (B, {self.expand.n_continuous}, H, W), "
                f"got {tuple(continuous.shape)}"
            )
        return self.logit.to(continuous.device).expand(b, h, w).clone()

    def logits(self, x, offsets):
        b, _, h, w = x.shape
        return self.logit.to(x.device).expand(b, h, w).clone()
