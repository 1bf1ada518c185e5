"""``fr`` and ``woe``: frequency ratio and weights of evidence over the classes of each layer.

Every layer is cut into classes: a continuous layer into ``n_bins`` quantile classes of the
training pixels (the breaks are stored; a value equal to a break goes to the class above
it; values beyond the training range fall in the first or last class), a categorical group
into its codes.  Per class ``B`` of a layer, with ``S`` the landslide pixels (LSAT's
formulas, Bonham-Carter 1994)::

    W+ = ln[(N(B∩S) / N(S)) / (N(B∩¬S) / N(¬S))]
    W- = ln[(N(¬B∩S) / N(S)) / (N(¬B∩¬S) / N(¬S))]
    C = W+ - W-,   s²(W+) = 1/N(B∩S) + 1/N(B∩¬S),   s²(W-) = 1/N(¬B∩S) + 1/N(¬B∩¬S)
    s(C) = sqrt(s²(W+) + s²(W-)),   studentised C = C / s(C)
    FR = (N(B∩S) / N(S)) / (N(B) / N)

**Smoothing.**  A pseudo-count ``smoothing`` = ``a`` (default 0.5) is added to every class
of the layer: ``a`` to N(B∩S) and ``a * N(¬S) / N(S)`` to N(B∩¬S) (Laplace, shaped like the
layer's prior).  Empty classes thus get finite weights, and a class with no pixels gets no
evidence (W+ = 0, FR = 1) instead of the large W+ = ln(N(¬S) / N(S)) that equal pseudo-counts
would give it on rare landslides; with balanced classes it is plain Laplace smoothing.
N(S), N(¬S), N(¬B∩S)... are sums of the smoothed class counts.

**Missing values** (NaN, or a code >= the group's class count such as 255) are no evidence:
they are left out of their layer's counts (each layer's N is its valid pixels) and add 0
to the score.  The tables list them in a row of class -1 with counts only.

**Weights.**  Counts are sums of the table's sampling weights (1 each by default), so a
stratified sample estimates the region's counts; the variances treat them as counts.

**Prediction.**  ``woe``: logit = prior logit + the sum over layers of the pixel's class W+
(the standard layer sum).  ``fr``: the susceptibility index sum of ln FR (ln, so that it adds
like evidence; the classical LSI sums FR itself), logit = prior logit + index.  With
``calibrate=True`` (default) that logit ``s`` is mapped to ``a + b s`` by a 1-D logistic
regression fitted on the training pixels, so the output is a calibrated probability (the sum
over correlated layers overcounts evidence).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import LearnerBase
from .optim import calibrate
from .table import PixelTable

__all__ = ["FrequencyRatio", "WeightsOfEvidence", "class_statistics"]


def class_statistics(pos: np.ndarray, neg: np.ndarray, smoothing: float) -> dict[str, np.ndarray]:
    """W+, W-, contrast, its standard deviation and FR of the classes of one layer.

    ``pos`` and ``neg`` are the (K,) landslide and stable counts of the layer's classes;
    ``smoothing`` is added to ``pos`` and ``smoothing * sum(neg) / sum(pos)`` to ``neg`` (1:1
    when a sum is 0).
    """
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    ratio = neg.sum() / pos.sum() if pos.sum() > 0 and neg.sum() > 0 else 1.0
    p, q = pos + smoothing, neg + smoothing * ratio
    big_p, big_q = p.sum(), q.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        w_plus = np.log((p / big_p) / (q / big_q))
        w_minus = np.log(((big_p - p) / big_p) / ((big_q - q) / big_q))
        s_contrast = np.sqrt(1 / p + 1 / q + 1 / (big_p - p) + 1 / (big_q - q))
        contrast = w_plus - w_minus
        return {
            "w_plus": w_plus,
            "w_minus": w_minus,
            "contrast": contrast,
            "s_contrast": s_contrast,
            "studentised": contrast / s_contrast,
            "fr": (p / big_p) / ((p + q) / (big_p + big_q)),
        }


class _Evidence(LearnerBase):
    """Classes of every layer, their counts, and a per-class score summed over layers."""

    _score_key = ""

    def __init__(self, n_bins: int = 10, smoothing: float = 0.5, calibrate: bool = True):
        if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
            raise ConfigError(f"n_bins must be an integer >= 1, got {n_bins!r}")
        if isinstance(smoothing, bool) or not (np.isfinite(smoothing) and smoothing > 0):
            raise ConfigError(
                f"smoothing must be a pseudo-count > 0, got {smoothing!r} (0.5 is usual)"
            )
        self.n_bins = int(n_bins)
        self.smoothing = float(smoothing)
        self.calibrate = bool(calibrate)
        self.breaks_: list[np.ndarray] = []
        self.counts_: list[np.ndarray] = []  # per layer (3, K): landslide, stable, missing
        self.prior_logit_ = 0.0
        self.calibration_ = (0.0, 1.0)

    def options(self) -> dict[str, Any]:
        return {"n_bins": self.n_bins, "smoothing": self.smoothing, "calibrate": self.calibrate}

    # -- classes ------------------------------------------------------------------------
    def _classes(self, continuous: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """(n, L) class of every pixel and layer (continuous, then groups); -1 missing."""
        n = continuous.shape[0]
        out = np.full((n, len(self.breaks_) + codes.shape[1]), -1, dtype=np.intp)
        for j, breaks in enumerate(self.breaks_):
            x = continuous[:, j]
            valid = ~np.isnan(x)
            out[valid, j] = np.searchsorted(breaks, x[valid], side="right")
        for g, k in enumerate(self.layout.n_classes):
            code = codes[:, g].astype(np.intp)
            j = len(self.breaks_) + g
            out[:, j] = np.where(code < k, code, -1)
        return out

    def _n_classes(self) -> list[int]:
        return [b.size + 1 for b in self.breaks_] + list(self.layout.n_classes)

    # -- fit / predict ------------------------------------------------------------------
    def fit(self, table: PixelTable) -> _Evidence:
        """Class breaks, counts and (optionally) the calibration, from ``table``."""
        self._start_fit(table)
        q = np.arange(1, self.n_bins) / self.n_bins
        self.breaks_ = []
        for j in range(table.continuous.shape[1]):
            x = table.continuous[:, j]
            x = x[~np.isnan(x)].astype(np.float64)
            self.breaks_.append(np.unique(np.quantile(x, q)) if x.size else np.empty(0))
        self.layout = table.layout
        classes = self._classes(table.continuous, table.codes)
        w, y = table.weights(), table.label
        self.counts_ = []
        for j, k in enumerate(self._n_classes()):
            c, valid = classes[:, j], classes[:, j] >= 0
            pos = np.bincount(c[valid & (y == 1)], w[valid & (y == 1)], minlength=k)
            neg = np.bincount(c[valid & (y == 0)], w[valid & (y == 0)], minlength=k)
            missing = np.zeros(k)
            missing[0] = w[~valid].sum()  # one number; kept in the (3, K) array's corner
            self.counts_.append(np.stack([pos, neg, missing]))
        self.prior_logit_ = float(np.log(w[y == 1].sum() / w[y == 0].sum()))
        self.calibration_ = (0.0, 1.0)
        if self.calibrate:
            score = self._raw_logit(classes)
            self.calibration_ = calibrate(score, y, table.weight)
        return self

    def _scores(self) -> list[np.ndarray]:
        return [class_statistics(c[0], c[1], self.smoothing)[self._score_key] for c in self.counts_]

    def _raw_logit(self, classes: np.ndarray) -> np.ndarray:
        total = np.full(classes.shape[0], self.prior_logit_)
        for j, score in enumerate(self._scores()):
            c = classes[:, j]
            total += np.where(c >= 0, score[np.maximum(c, 0)], 0.0)
        return total

    def predict_logit(self, continuous: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
        """(n,) float64 logits: ``a + b * (prior logit + sum of class scores)``."""
        continuous, codes = self._check(continuous, codes)
        a, b = self.calibration_
        return a + b * self._raw_logit(self._classes(continuous, codes))

    # -- tables -------------------------------------------------------------------------
    def tables(self):
        """Per layer and class: counts, shares, W+, W-, contrast, s(contrast), FR.

        Returns
        -------
        pandas.DataFrame
            One row per class of every layer (continuous layers first), then a row of class
            -1 for the layer's missing pixels (counts only).  Columns: ``layer``, ``class``,
            ``lower``, ``upper`` (the quantile class's bounds; NaN for groups),
            ``count`` (pixels, weighted), ``area_share`` (of all the table's pixels),
            ``landslides``, ``fr``, ``w_plus``, ``w_minus``, ``contrast``, ``s_contrast``,
            ``studentised``.
        """
        import pandas as pd

        layout = self._fitted_layout()
        names = layout.continuous_names + layout.group_names
        frames = []
        for j, counts in enumerate(self.counts_):
            k = counts.shape[1]
            pos, neg, missing = counts[0], counts[1], counts[2, 0]
            total = pos.sum() + neg.sum() + missing
            edges = (
                np.r_[-np.inf, self.breaks_[j], np.inf]
                if j < len(self.breaks_)
                else np.full(k + 1, np.nan)
            )
            stats = class_statistics(pos, neg, self.smoothing)
            rows = {
                "layer": [names[j]] * (k + 1),
                "class": np.r_[np.arange(k), -1],
                "lower": np.r_[edges[:-1], np.nan],
                "upper": np.r_[edges[1:], np.nan],
                "count": np.r_[pos + neg, missing],
                "area_share": np.r_[pos + neg, missing] / total,
                "landslides": np.r_[pos, np.nan],
            }
            for key in ("fr", "w_plus", "w_minus", "contrast", "s_contrast", "studentised"):
                rows[key] = np.r_[stats[key], np.nan]
            frames.append(pd.DataFrame(rows))
        return pd.concat(frames, ignore_index=True)

    # -- state --------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {
            **self._header(),
            "breaks": [b.copy() for b in self.breaks_],
            "counts": [c.copy() for c in self.counts_],
            "prior_logit": self.prior_logit_,
            "calibration": list(self.calibration_),
        }

    @classmethod
    def from_state(cls, state: dict):
        learner = cls._from_header(state)
        learner.breaks_ = [np.asarray(b, dtype=np.float64) for b in state["breaks"]]
        learner.counts_ = [np.asarray(c, dtype=np.float64) for c in state["counts"]]
        learner.prior_logit_ = float(state["prior_logit"])
        learner.calibration_ = tuple(float(v) for v in state["calibration"])
        return learner


class WeightsOfEvidence(_Evidence):
    """Weights of evidence: logit = prior logit + sum over layers of the class's W+.

    Parameters
    ----------
    n_bins : int
        Quantile classes of every continuous layer (default 10; ties merge classes).
    smoothing : float
        Pseudo-count ``a`` added to every class's landslide count, ``a * N(¬S) / N(S)`` to
        its stable count (0.5).
    calibrate : bool
        Map the logit through a 1-D logistic fit on the training pixels (default True).

    Examples
    --------
    >>> import numpy as np
    >>> from xlandslide.learners import PixelTable
    >>> codes = np.array([[0], [0], [0], [1], [1], [1]], "u1")
    >>> table = PixelTable(np.zeros((6, 0), "f4"), codes, np.array([1, 1, 0, 1, 0, 0], "i1"),
    ...                    n_classes=(2,), group_names=("rock",))
    >>> woe = WeightsOfEvidence(calibrate=False).fit(table)
    >>> woe.tables()[["class", "count", "landslides", "w_plus"]].round(3)
       class  count  landslides  w_plus
    0      0    3.0         2.0   0.511
    1      1    3.0         1.0  -0.511
    2     -1    0.0         NaN     NaN
    >>> woe.predict_logit(np.zeros((1, 0), "f4"), np.array([[0]], "u1")).round(3)
    array([0.511])
    """

    name = "woe"
    _score_key = "w_plus"


class FrequencyRatio(_Evidence):
    """Frequency ratio: logit = prior logit + sum over layers of ln FR of the pixel's class.

    Parameters are those of :class:`WeightsOfEvidence`.

    Examples
    --------
    >>> import numpy as np
    >>> from xlandslide.learners import PixelTable
    >>> x = np.arange(8, dtype="f4")[:, None]
    >>> table = PixelTable(x, np.zeros((8, 0), "u1"), np.array([0, 0, 0, 1, 0, 1, 1, 1], "i1"))
    >>> fr = FrequencyRatio(n_bins=2).fit(table)
    >>> fr.tables()[["class", "lower", "upper", "fr"]].round(3)
       class  lower  upper   fr
    0      0   -inf    3.5  0.6
    1      1    3.5    inf  1.4
    2     -1    NaN    NaN  NaN
    >>> p = 1 / (1 + np.exp(-fr.predict_logit(x, None)))
    >>> bool(p[0] < 0.5 < p[-1])
    True
    """

    name = "fr"
    _score_key = "fr"

    def _scores(self) -> list[np.ndarray]:
        return [np.log(s) for s in super()._scores()]
