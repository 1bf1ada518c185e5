"""Tiny regions with random offsets, and the slow obvious patch crop, for the patch tests."""

from __future__ import annotations

import numpy as np

from tests.helpers import custom_region
from xlandslide.grid import PatchGeometry

GEOM = PatchGeometry(core=8, halo=3)  # S = 14
DISTANCES = (30.0, 100.0, 300.0)


def make_region(ny=23, nx=31, n_distances=2, seed=0, offsets=True, chunks=None):
    """A numpy-backed region (2 layers, groups of 3 and 2 classes), random uphill offsets.

    10 % of the pixels are outside the region (NaN, code 255, label -1), as are the two
    left columns.
    """
    region = custom_region((ny, nx), seed=seed)
    region["label"][:, :2] = -1
    region["continuous"][:, :, :2] = np.nan
    region["categorical"][:, :, :2] = 255
    if offsets:
        rng = np.random.default_rng(seed + 1)
        shape = (n_distances, ny, nx)
        region = region.assign(
            uphill_dy=(("distance", "y", "x"), rng.integers(-3, 4, shape).astype("int8")),
            uphill_dx=(("distance", "y", "x"), rng.integers(-3, 4, shape).astype("int8")),
        ).assign_coords(distance=list(DISTANCES[:n_distances]))
    if chunks:
        region = region.chunk({"y": chunks[0], "x": chunks[1]})
    return region


def oracle_item(region, window, label_mask=None) -> dict:
    """Crop of numpy copies padded far beyond the window (NaN / 255 / 0 / -1 outside)."""
    y0, y1, x0, x1 = window
    h = 100  # pad far more than needed, then crop

    def crop(name, fill):
        a = np.asarray(region[name].transpose(..., "y", "x").values)
        pad = [(0, 0)] * (a.ndim - 2) + [(h, h), (h, h)]
        big = np.pad(a, pad, constant_values=fill)
        return big[..., y0 + h : y1 + h, x0 + h : x1 + h]

    label = crop("label", -1)
    if label_mask is not None:
        keep = np.pad(np.asarray(label_mask.values, bool), h, constant_values=False)
        label = np.where(keep[y0 + h : y1 + h, x0 + h : x1 + h], label, -1)
    out = {
        "continuous": crop("continuous", np.nan),
        "categorical": crop("categorical", 255),
        "label": label,
    }
    if "uphill_dy" in region:
        out["offsets"] = np.stack([crop("uphill_dy", 0), crop("uphill_dx", 0)], axis=1)
    return out


def assert_item_equal(item, expected):
    assert set(item) - {"index"} == set(expected)
    for key, want in expected.items():
        np.testing.assert_array_equal(item[key].numpy(), want, err_msg=key)


__all__ = ["DISTANCES", "GEOM", "assert_item_equal", "make_region", "oracle_item"]
