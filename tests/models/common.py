"""Small models and random compact inputs shared by the model tests.

The layout: 2 continuous layers and two groups of 3 and 4 classes (F = 9 features); the
aligned models read features 0, 2 and 8 at 2 distances.
"""

from __future__ import annotations

import numpy as np
import torch

from xlandslide.models import build_model
from xlandslide.region import expand_codes

N_CONTINUOUS = 2
N_CLASSES = (3, 4)
N_FEATURES = N_CONTINUOUS + sum(N_CLASSES)
ALIGNED_INDEX = [0, 2, 8]
N_DISTANCES = 2

#: Small options of every model (fast on the CPU).
SMALL = {
    "cnn": {"base_width": 4},
    "lacnn": {"base_width": 4},
    "nn": {"hidden": [8]},
    "lann": {"hidden": [8]},
}


def small_model(name: str, seed: int = 0, **extra):
    """Model ``name`` for the test layout, seeded, in eval mode."""
    from xlandslide.models import model_needs_offsets

    torch.manual_seed(seed)
    aligned = model_needs_offsets(name)
    return build_model(
        name,
        n_continuous=N_CONTINUOUS,
        n_classes=N_CLASSES,
        aligned_index=ALIGNED_INDEX if aligned else (),
        n_distances=N_DISTANCES if aligned else 0,
        **{**SMALL.get(name, {}), **extra},
    ).eval()


def random_inputs(b=2, h=37, w=45, seed=0, r=4, d=N_DISTANCES, n_classes=N_CLASSES, c=None):
    """(continuous, categorical, offsets) numpy arrays with NaN, code 255 and bad codes.

    Continuous values are NaN in a corner (outside the region) and at scattered pixels;
    codes are random valid classes, 255 (no data) in the same corner and at scattered pixels,
    and a few codes one past the group's class count (also "no class").
    """
    rng = np.random.default_rng(seed)
    c = N_CONTINUOUS if c is None else c
    cont = rng.standard_normal((b, c, h, w)).astype(np.float32)
    cont[:, :, :5, :7] = np.nan
    cont[rng.random(cont.shape) < 0.05] = np.nan
    codes = np.stack([rng.integers(0, n, (b, h, w)) for n in n_classes], axis=1)
    codes = codes.astype(np.uint8).reshape(b, len(n_classes), h, w)
    codes[:, :, :5, :7] = 255
    codes[rng.random(codes.shape) < 0.05] = 255
    for g, n in enumerate(n_classes):
        codes[:, g][rng.random((b, h, w)) < 0.02] = n  # just past the last class
    offsets = rng.integers(-r, r + 1, size=(b, d, 2, h, w)).astype(np.int8)
    return cont, codes, offsets


def onehot(cont, codes, n_classes=N_CLASSES) -> np.ndarray:
    """The one-hot view (B, F, H, W) of a batch: the region module's numpy oracle, per item."""
    return np.stack([expand_codes(cont[i], codes[i], n_classes) for i in range(len(cont))])


def tensors(*arrays):
    """torch tensors of numpy arrays (None stays None)."""
    return tuple(None if a is None else torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)


__all__ = [
    "ALIGNED_INDEX",
    "N_CLASSES",
    "N_CONTINUOUS",
    "N_DISTANCES",
    "N_FEATURES",
    "SMALL",
    "onehot",
    "random_inputs",
    "small_model",
    "tensors",
]
