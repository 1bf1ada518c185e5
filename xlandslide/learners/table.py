"""The pixel table every learner fits on, its layout, and the one-hot view.

A :class:`PixelTable` holds one row per labelled pixel: the continuous layers (float32, NaN
for missing), the class codes of the categorical groups (uint8, :data:`NODATA_CODE` = 255
for "no class"), the label (0 stable, 1 landslide) and optional sampling weights.  Its
:class:`Layout` (names and class counts) is what a fitted learner needs at prediction time;
it round-trips through a learner's state.

Nothing here knows xarray, dask or torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..catalog import NODATA_CODE
from ..errors import ConfigError, ShapeError

__all__ = ["NODATA_CODE", "Layout", "PixelTable", "onehot"]


def onehot(continuous: np.ndarray, codes: np.ndarray, n_classes: Sequence[int]) -> np.ndarray:
    """The (n, C + sum(n_classes)) float32 one-hot view of a table's features.

    Exactly what :class:`xlandslide.models.layers.CodeExpand` computes: the continuous columns
    with NaN replaced by 0 (infinite values kept), then one column per class of every group,
    1 where the pixel has that code; a code at or above the group's class count (255: no
    class) gives 0 in every column of its group.

    Examples
    --------
    >>> import numpy as np
    >>> onehot(np.array([[np.nan], [2.0]], "f4"), np.array([[1], [255]], "u1"), (3,))
    array([[0., 0., 1., 0.],
           [2., 0., 0., 0.]], dtype=float32)
    """
    continuous = np.asarray(continuous)
    codes = np.asarray(codes)
    n, c = continuous.shape
    out = np.zeros((n, c + int(sum(n_classes))), dtype=np.float32)
    out[:, :c] = np.nan_to_num(continuous, nan=0.0, posinf=np.inf, neginf=-np.inf)
    start = c
    rows = np.arange(n)
    for g, k in enumerate(n_classes):
        code = codes[:, g].astype(np.intp)
        valid = code < k
        out[rows[valid], start + code[valid]] = 1.0
        start += int(k)
    return out


@dataclass(frozen=True)
class Layout:
    """Names and class counts of a table's columns: what a fitted learner expects.

    Parameters
    ----------
    continuous_names : tuple of str
        One name per continuous column (the aligned features appended last, if any).
    group_names : tuple of str
        One name per categorical group.
    n_classes : tuple of int
        Number of classes of every group (codes ``0 .. n - 1``; any other code is "no class").
    """

    continuous_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    n_classes: tuple[int, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "continuous_names", tuple(str(s) for s in self.continuous_names))
        object.__setattr__(self, "group_names", tuple(str(s) for s in self.group_names))
        counts = tuple(int(k) for k in self.n_classes)
        object.__setattr__(self, "n_classes", counts)
        if len(counts) != len(self.group_names):
            raise ConfigError(
                f"{len(self.group_names)} group names but {len(counts)} class counts "
                f"{list(counts)}; give one count per group"
            )
        if any(k < 1 or k > NODATA_CODE for k in counts):
            raise ConfigError(f"class counts must lie in 1..{NODATA_CODE}, got {list(counts)}")

    @property
    def n_continuous(self) -> int:
        return len(self.continuous_names)

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the one-hot columns: the continuous names, then ``f"{group}_{code}"``."""
        onehot_names = [
            f"{g}_{k}" for g, n in zip(self.group_names, self.n_classes) for k in range(n)
        ]
        return self.continuous_names + tuple(onehot_names)

    def to_state(self) -> dict:
        return {
            "continuous_names": list(self.continuous_names),
            "group_names": list(self.group_names),
            "n_classes": list(self.n_classes),
        }

    @classmethod
    def from_state(cls, state: dict) -> Layout:
        return cls(state["continuous_names"], state["group_names"], state["n_classes"])

    def check(
        self, continuous: np.ndarray, codes: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(continuous float32 (n, C), codes uint8 (n, G))``, or raise ShapeError."""
        continuous = np.asarray(continuous)
        if continuous.ndim != 2 or continuous.shape[1] != self.n_continuous:
            raise ShapeError(
                f"continuous must have shape (n, {self.n_continuous}) for the layers "
                f"{list(self.continuous_names)}, got {continuous.shape}"
            )
        if not np.issubdtype(continuous.dtype, np.number):
            raise ShapeError(f"continuous must be numeric, got dtype {continuous.dtype}")
        n = continuous.shape[0]
        if codes is None and self.n_groups == 0:
            codes = np.zeros((n, 0), dtype=np.uint8)
        codes = np.asarray(codes)
        if codes.shape != (n, self.n_groups) or codes.dtype != np.uint8:
            raise ShapeError(
                f"codes must be uint8 of shape {(n, self.n_groups)} for the groups "
                f"{list(self.group_names)}, got {codes.dtype} {codes.shape}"
            )
        return continuous.astype(np.float32, copy=False), codes


def _names(names: Sequence[str], count: int, prefix: str, what: str) -> tuple[str, ...]:
    if not names:
        return tuple(f"{prefix}{i}" for i in range(count))
    names = tuple(str(s) for s in names)
    if len(names) != count or len(set(names)) != count:
        raise ConfigError(f"{what} needs {count} distinct names, got {list(names)}")
    return names


@dataclass(frozen=True)
class PixelTable:
    """One row per labelled pixel: features, label and optional sampling weights.

    Parameters
    ----------
    continuous : (n, C) float32
        Continuous layers; NaN marks a missing value.  C may be 0.
    codes : (n, G) uint8
        Class codes of the categorical groups; 255 (or any code >= the group's class count)
        is "no class".  G may be 0.
    label : (n,) int8
        1 landslide, 0 stable.
    n_classes : tuple of int
        Number of classes of every group.
    weight : (n,) float64 or None
        Sampling weights (for example :func:`~xlandslide.learners.stratified_sample`'s
        ``1 / rate``): every loss and count is weighted by them.  ``None``: all 1.
    continuous_names, group_names : tuple of str
        Names of the columns; default ``c0, c1, ...`` and ``g0, g1, ...``.

    Inputs are converted to the dtypes above (a copy only when needed), never modified.

    Examples
    --------
    >>> import numpy as np
    >>> t = PixelTable(np.array([[0.5], [np.nan]], "f4"), np.array([[2], [0]], "u1"),
    ...                np.array([1, 0], "i1"), n_classes=(3,), group_names=("rock",))
    >>> t.n, t.layout.feature_names
    (2, ('c0', 'rock_0', 'rock_1', 'rock_2'))
    >>> t.onehot()
    array([[0.5, 0. , 0. , 1. ],
           [0. , 1. , 0. , 0. ]], dtype=float32)
    """

    continuous: np.ndarray
    codes: np.ndarray
    label: np.ndarray
    n_classes: tuple[int, ...] = ()
    weight: np.ndarray | None = None
    continuous_names: tuple[str, ...] = ()
    group_names: tuple[str, ...] = ()
    layout: Layout = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        continuous = np.asarray(self.continuous)
        if continuous.ndim != 2 or not np.issubdtype(continuous.dtype, np.number):
            raise ShapeError(f"continuous must be a numeric (n, C) array, got {continuous.shape}")
        n = continuous.shape[0]
        codes = np.asarray(self.codes)
        if codes.ndim != 2 or codes.shape[0] != n:
            raise ShapeError(f"codes must have shape ({n}, G), got {codes.shape}")
        if codes.dtype != np.uint8:
            if codes.size and (
                not np.issubdtype(codes.dtype, np.integer) or codes.min() < 0 or codes.max() > 255
            ):
                raise ShapeError(f"codes must be integers in 0..255, got dtype {codes.dtype}")
            codes = codes.astype(np.uint8)
        label = np.asarray(self.label)
        if label.shape != (n,):
            raise ShapeError(f"label must have shape ({n},), got {label.shape}")
        if label.size and not np.isin(label, (0, 1)).all():
            bad = np.unique(label[~np.isin(label, (0, 1))])[:5]
            raise ShapeError(f"label must be 0 (stable) or 1 (landslide), found {bad.tolist()}")
        weight = self.weight
        if weight is not None:
            weight = np.asarray(weight, dtype=np.float64)
            if weight.shape != (n,) or not (np.isfinite(weight) & (weight >= 0)).all():
                raise ShapeError(
                    f"weight must be finite, >= 0, of shape ({n},); got shape {weight.shape}"
                )
        c_names = _names(self.continuous_names, continuous.shape[1], "c", "continuous")
        g_names = _names(self.group_names, codes.shape[1], "g", "the groups")
        layout = Layout(c_names, g_names, tuple(self.n_classes))
        values = {
            "continuous": continuous.astype(np.float32, copy=False),
            "codes": codes,
            "label": label.astype(np.int8, copy=False),
            "n_classes": layout.n_classes,
            "weight": weight,
            "continuous_names": c_names,
            "group_names": g_names,
            "layout": layout,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        """Number of rows (pixels)."""
        return self.label.shape[0]

    def weights(self) -> np.ndarray:
        """The (n,) float64 weights (ones when :attr:`weight` is None)."""
        return np.ones(self.n) if self.weight is None else self.weight

    def onehot(self) -> np.ndarray:
        """The (n, C + sum(n_classes)) float32 one-hot view, as CodeExpand makes it."""
        return onehot(self.continuous, self.codes, self.n_classes)

    def subset(self, rows: np.ndarray) -> PixelTable:
        """The table of the rows selected by a boolean mask or an index array."""
        weight = None if self.weight is None else self.weight[rows]
        return PixelTable(
            self.continuous[rows], self.codes[rows], self.label[rows], self.n_classes,
            weight, self.continuous_names, self.group_names,
        )  # fmt: skip

    def require_both_classes(self, who: str) -> None:
        """Raise ConfigError unless both labels have positive weight (a learner's fit)."""
        w = self.weights()
        pos, neg = w[self.label == 1].sum(), w[self.label == 0].sum()
        if not (pos > 0 and neg > 0):
            raise ConfigError(
                f"{who} needs landslide and stable pixels, got weights {pos:g} (landslide) "
                f"and {neg:g} (stable) in {self.n} rows; sample more pixels"
            )
