"""The optimizer and the learning-rate schedule of a training run (:class:`TrainConfig`).

``"plateau"`` (the paper's): :class:`torch.optim.lr_scheduler.ReduceLROnPlateau`, stepped
once per epoch on the validation loss.  ``"cosine"`` (the package's default): a linear
warm-up over ``config.warmup`` of the steps, then a cosine decay to zero at the last
step, stepped after every batch (:class:`WarmupCosine` through ``LambdaLR``).
"""

from __future__ import annotations

import math

from .config import TrainConfig


def make_optimizer(module, config: TrainConfig):
    import torch

    params = [p for p in module.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


class WarmupCosine:
    """Learning-rate factor of step ``t`` of ``total``: linear warm-up, then cosine to 0.

    A callable object (not a lambda) so that the scheduler's state is a plain dict."""

    def __init__(self, total: int, warmup: float):
        self.total = max(int(total), 1)
        self.warm = round(float(warmup) * self.total)

    def __call__(self, t: int) -> float:
        if t < self.warm:
            return (t + 1) / (self.warm + 1)
        span = max(self.total - self.warm, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(t - self.warm, span) / span))


def make_scheduler(optimizer, config: TrainConfig, steps_per_epoch: int):
    import torch

    if config.schedule == "cosine":
        factor = WarmupCosine(steps_per_epoch * int(config.epochs), config.warmup)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.patience
    )


__all__ = ["WarmupCosine", "make_optimizer", "make_scheduler"]
