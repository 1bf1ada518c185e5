"""pixel_table on a region without categorical layers (continuous terrain attributes only)."""

from __future__ import annotations

import numpy as np

import xlandslide as xl
from xlandslide.train.table import pixel_table


def test_pixel_table_without_categorical():
    region = xl.synthetic_region((48, 48), seed=1, chunks=24)
    full = pixel_table(region)
    bare = region.drop_vars("categorical")
    t = pixel_table(bare)
    assert t.codes.shape == (full.n, 0) and t.n_classes == ()
    np.testing.assert_array_equal(t.continuous, full.continuous)
    np.testing.assert_array_equal(t.label, full.label)
    assert t.onehot().shape == (full.n, full.continuous.shape[1])
