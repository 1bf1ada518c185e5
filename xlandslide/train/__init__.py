"""Training: settings, the loss, the loop (with resume), :func:`fit`, the aligned-feature step.

- :mod:`~xlandslide.train.config`: :class:`TrainConfig` (Table 1 of the paper as presets);
- :mod:`~xlandslide.train.loss`: the masked binary cross-entropy;
- :mod:`~xlandslide.train.loop`: epochs, validation, checkpoints, resume;
- :mod:`~xlandslide.train.fit`: :func:`fit` — one model on a region and its patches;
- :mod:`~xlandslide.train.select`: :func:`select_aligned_features` (the paper's LLR rule).
"""

from __future__ import annotations

from .config import TrainConfig
from .fit import fit
from .loss import masked_bce_with_logits
from .select import AlignedSelection, rank_aligned, select_aligned_features

__all__ = [
    "AlignedSelection",
    "TrainConfig",
    "fit",
    "masked_bce_with_logits",
    "rank_aligned",
    "select_aligned_features",
]
