"""Training patches: the core grid and its split, and the torch Dataset that reads them.

- :mod:`~xlandslide.patches.grid`: :class:`PatchSet` and :func:`make_patches`;
- :mod:`~xlandslide.patches.splits`: how patches are dealt to train / val / test;
- :mod:`~xlandslide.patches.folds`: spatial folds, :func:`spatial_folds` and
  :class:`SpatialFolds` (k-means, blocks, polygons, user, random), whose rules are in
  :mod:`~xlandslide.patches.fold_rules`;
- :mod:`~xlandslide.patches.dataset`: :class:`PatchDataset` (xbatcher, cached reads).
"""

from __future__ import annotations

from .dataset import PatchDataset
from .folds import SpatialFolds, spatial_folds
from .grid import PatchSet, make_patches, mask_patches
from .splits import SPLITS, split_sizes

__all__ = [
    "SPLITS",
    "PatchDataset",
    "PatchSet",
    "SpatialFolds",
    "make_patches",
    "mask_patches",
    "spatial_folds",
    "split_sizes",
]
