"""PixelTable: validation, the one-hot view (CodeExpand's, bit for bit), subsets."""

from __future__ import annotations

import numpy as np
import pytest

from xlandslide.errors import ConfigError, ShapeError
from xlandslide.learners import Layout, PixelTable, onehot
from xlandslide.learners.table import NODATA_CODE


def _table(**kw):
    base = dict(
        continuous=np.array([[0.5, np.nan], [np.inf, 1.0], [-2.0, 3.0]], "f4"),
        codes=np.array([[0, 2], [255, 1], [2, 7]], "u1"),
        label=np.array([1, 0, 0], "i1"),
        n_classes=(3, 4),
    )
    base.update(kw)
    return PixelTable(**base)


def test_onehot_by_loops():
    t = _table()
    expected = np.zeros((3, 2 + 7), "f4")
    for i in range(3):
        for j in range(2):
            v = t.continuous[i, j]
            expected[i, j] = 0.0 if np.isnan(v) else v
        start = 2
        for g, k in enumerate(t.n_classes):
            if t.codes[i, g] < k:
                expected[i, start + t.codes[i, g]] = 1.0
            start += k
    np.testing.assert_array_equal(t.onehot(), expected)
    assert t.layout.feature_names == (
        "c0", "c1", "g0_0", "g0_1", "g0_2", "g1_0", "g1_1", "g1_2", "g1_3",
    )  # fmt: skip
    assert NODATA_CODE == 255


def test_onehot_equals_codeexpand():
    torch = pytest.importorskip("torch")
    from xlandslide.models.layers import CodeExpand

    rng = np.random.default_rng(1)
    cont = rng.normal(size=(50, 3)).astype("f4")
    cont[rng.random(cont.shape) < 0.2] = np.nan
    codes = rng.integers(0, 6, size=(50, 2)).astype("u1")
    codes[rng.random(codes.shape) < 0.2] = 255
    expand = CodeExpand(3, (5, 2))
    # (n, C) as (1, C, n, 1) images
    got = expand(
        torch.from_numpy(cont.T[None, :, :, None]), torch.from_numpy(codes.T[None, :, :, None])
    )
    np.testing.assert_array_equal(onehot(cont, codes, (5, 2)), got[0, :, :, 0].numpy().T)


def test_conversion_and_names():
    t = _table(codes=np.array([[0, 2], [1, 1], [2, 3]]), label=[1, 0, 0])
    assert t.codes.dtype == np.uint8 and t.label.dtype == np.int8 and t.continuous.dtype == "f4"
    assert t.continuous_names == ("c0", "c1") and t.group_names == ("g0", "g1")
    assert t.weight is None and t.weights().tolist() == [1.0, 1.0, 1.0]
    s = _table(weight=[1, 2, 3]).subset(np.array([True, False, True]))
    assert s.n == 2 and s.weight.tolist() == [1.0, 3.0] and s.n_classes == (3, 4)
    layout = Layout.from_state(t.layout.to_state())
    assert layout == t.layout


@pytest.mark.parametrize(
    "kw, error, match",
    [
        (dict(label=np.array([1, 0, 2])), ShapeError, r"found \[2\]"),
        (dict(label=np.array([1, 0])), ShapeError, r"label must have shape \(3,\)"),
        (dict(codes=np.array([[0, 2], [1, 1], [2, 300]])), ShapeError, "0..255"),
        (dict(codes=np.zeros((3, 1), "u1")), ConfigError, "1 group names but 2 class counts"),
        (dict(n_classes=(3, 0)), ConfigError, "class counts must lie"),
        (dict(weight=np.array([1.0, -1.0, 1.0])), ShapeError, "weight must be finite"),
        (dict(continuous_names=("a", "a")), ConfigError, "2 distinct names"),
        (dict(continuous=np.zeros(3)), ShapeError, r"\(n, C\)"),
    ],
)
def test_bad_tables(kw, error, match):
    with pytest.raises(error, match=match):
        _table(**kw)


def test_layout_check_shapes():
    layout = _table().layout
    with pytest.raises(ShapeError, match=r"shape \(n, 2\)"):
        layout.check(np.zeros((4, 3), "f4"), np.zeros((4, 2), "u1"))
    with pytest.raises(ShapeError, match="codes must be uint8"):
        layout.check(np.zeros((4, 2), "f4"), np.zeros((4, 2), "i8"))
    cont, codes = Layout(("a",)).check(np.zeros((4, 1)), None)
    assert cont.dtype == np.float32 and codes.shape == (4, 0)
