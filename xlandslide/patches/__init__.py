"""Training patches: the core grid and its split, and the torch Dataset that reads them.

- :mod:`~xlandslide.patches.grid`: :class:`PatchSet` and :func:`make_patches`;
- :mod:`~xlandslide.patches.splits`: how patches are dealt to train / val / test;
- :mod:`~xlandslide.patches.dataset`: :class:`PatchDataset` (xbatcher, cached reads).
"""

from __future__ import annotations

from .dataset import PatchDataset
from .grid import PatchSet, make_patches
from .splits import SPLITS, split_sizes

__all__ = ["SPLITS", "PatchDataset", "PatchSet", "make_patches", "split_sizes"]
