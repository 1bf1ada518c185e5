"""Shared pieces of the training tests: quick settings, fake patches, the tiny region.

The tiny region is the synthetic one of tests.helpers (96 x 112 pixels of 10 m, the paper's
INSPIRE layout) with uphill offsets at 30 and 100 m, loaded into memory once; its patches
have a core of 32 and a halo of 16 (64 x 64 inputs, 12 patches: 10 train, 1 val, 1 test).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from xlandslide.catalog import FeatureLayout
from xlandslide.grid import PatchGeometry
from xlandslide.model import ModelSpec
from xlandslide.train import TrainConfig

GEOM = PatchGeometry(core=16, halo=4)  # fake patches of 24 x 24
LAYOUT = FeatureLayout(("slope", "dem"), {"soil": ("a", "b", "c")})
FAKE_DISTANCES = (10.0, 30.0)

TINY_GEOM = PatchGeometry(core=32, halo=16)
TINY_DISTANCES = (30.0, 100.0)
SMALL = {"cnn": {"base_width": 4}, "lacnn": {"base_width": 4}, "nn": {"hidden": [8]}}


def quick(name="llr", **changes) -> TrainConfig:
    """Table 1's row of ``name`` made quick: 2 epochs, batches of 4, on the CPU, seed 0."""
    base = {"epochs": 2, "batch_size": 4, "device": "cpu", "seed": 0}
    return TrainConfig.paper(name, **{**base, **changes})


def fake_spec(name="llr", **changes) -> ModelSpec:
    """A spec for the fake patches (aligned models read slope and soil_b at 10 and 30 m)."""
    from xlandslide.models import model_needs_offsets

    aligned = model_needs_offsets(name)
    fields = {
        "name": name,
        "layout": LAYOUT,
        "aligned": ("slope", "soil_b") if aligned else (),
        "distances": FAKE_DISTANCES if aligned else (),
        "geometry": GEOM,
        "pixel_size": 10.0,
        "model_config": SMALL.get(name, {}),
    }
    return ModelSpec(**{**fields, **changes})


class FakePatches(torch.utils.data.Dataset):
    """Patch dicts of the batch contract; label ~ Bernoulli(sigmoid(3 slope - 2)).

    ``reads`` counts the items served.
    """

    def __init__(self, n, *, offsets=False, seed=0, size=GEOM.size):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n, 2, size, size)).astype(np.float32)
        p = 1 / (1 + np.exp(-(3 * x[:, 0] - 2)))
        label = (rng.random((n, size, size)) < p).astype(np.int8)
        codes = rng.integers(0, 3, (n, 1, size, size)).astype(np.uint8)
        x[:, :, :5, :] = np.nan  # outside the region
        codes[:, :, :5, :] = 255
        label[:, :5, :] = -1
        label[:, 10:12, 10:14] = -1  # unlabelled pixels inside the region
        self.x, self.codes = torch.from_numpy(x), torch.from_numpy(codes)
        self.label = torch.from_numpy(label)
        self.offsets = None
        if offsets:
            o = rng.integers(-3, 4, size=(n, len(FAKE_DISTANCES), 2, size, size))
            self.offsets = torch.from_numpy(o.astype(np.int8))
        self.reads = 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.reads += 1
        item = {
            "continuous": self.x[i],
            "categorical": self.codes[i],
            "label": self.label[i],
            "index": i,
        }
        if self.offsets is not None:
            item["offsets"] = self.offsets[i]
        return item


@functools.lru_cache(maxsize=1)
def _tiny_loaded():
    from tests.helpers import tiny_region

    return tiny_region(distances=TINY_DISTANCES, halo=16).load()


def tiny():
    """The tiny region in memory (a fresh shallow copy: callers may assign variables)."""
    return _tiny_loaded().copy()


@functools.lru_cache(maxsize=1)
def tiny_patches():
    from xlandslide.patches import make_patches

    return make_patches(_tiny_loaded(), TINY_GEOM, seed=0)


def tiny_aligned() -> tuple[str, ...]:
    """Three aligned features of the tiny region (slope, dem and a lithology class)."""
    return ("slope", "dem", "lithology_marlstone")


def state_equal(a: dict, b: dict) -> bool:
    """Whether two state dicts hold the same tensors, bit for bit."""
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


__all__ = [
    "FAKE_DISTANCES",
    "GEOM",
    "LAYOUT",
    "SMALL",
    "TINY_DISTANCES",
    "TINY_GEOM",
    "FakePatches",
    "fake_spec",
    "quick",
    "state_equal",
    "tiny",
    "tiny_aligned",
    "tiny_patches",
]
