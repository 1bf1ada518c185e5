"""``llr``: penalised logistic regression on the one-hot table, fitted to convergence.

The field's GLM (LAND-SE, SZ-plugin v2): one coefficient per continuous layer (NaN -> 0) and
per class of every group, plus an intercept, minimising (see :mod:`.optim`)::

    sum_i w_i BCE_i / sum_i w_i + l2 / 2 * ||beta||^2

by L-BFGS in float64, the intercept unpenalised.  This is scikit-learn's
``LogisticRegression(C=1 / (l2 * sum(w)))`` on :meth:`PixelTable.onehot`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import LearnerBase
from .optim import check_l2, fit_logistic
from .table import PixelTable, onehot

__all__ = ["LinearLogistic"]


class LinearLogistic(LearnerBase):
    """Penalised (ridge) logistic regression on the one-hot pixel table.

    Parameters
    ----------
    l2 : float
        Ridge strength in ``mean weighted BCE + l2 / 2 * ||beta||^2`` (default 1e-4: on
        tables of 10^4 to 10^5 pixels it keeps rare classes finite and barely shrinks the
        rest; raise it for a few hundred points).
    gtol : float
        Convergence: largest absolute gradient entry (default 1e-7).
    max_iter : int
        Most L-BFGS iterations.

    Examples
    --------
    >>> import numpy as np
    >>> from xlandslide.learners import PixelTable
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 1)).astype("f4")
    >>> y = (rng.random(400) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype("i1")
    >>> llr = LinearLogistic(l2=1e-3).fit(PixelTable(x, np.zeros((400, 0), "u1"), y))
    >>> llr.coefficients().round(1).to_dict()
    {'intercept': -0.2, 'c0': 2.0}
    >>> llr.predict_logit(np.array([[0.0]], "f4"), None).round(1)
    array([-0.2])
    """

    name = "llr"

    def __init__(self, l2: float = 1e-4, gtol: float = 1e-7, max_iter: int = 5000):
        self.l2 = check_l2(l2)
        self.gtol = float(gtol)
        self.max_iter = int(max_iter)
        self.intercept_: float = 0.0
        self.coef_: np.ndarray | None = None

    def options(self) -> dict[str, Any]:
        return {"l2": self.l2, "gtol": self.gtol, "max_iter": self.max_iter}

    def fit(self, table: PixelTable) -> LinearLogistic:
        """Fit on every row of ``table`` (weighted by its sampling weights)."""
        self._start_fit(table)
        fit = fit_logistic(
            table.onehot().astype(np.float64), table.label, table.weight,
            l2=self.l2, gtol=self.gtol, max_iter=self.max_iter,
        )  # fmt: skip
        self.intercept_, self.coef_ = fit.intercept, fit.coef
        self.layout = table.layout
        return self

    def predict_logit(self, continuous: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
        """(n,) float64 logits of (n, C) continuous values and (n, G) uint8 codes."""
        continuous, codes = self._check(continuous, codes)
        x = onehot(continuous, codes, self.layout.n_classes).astype(np.float64)
        return self.intercept_ + x @ self.coef_

    def coefficients(self):
        """The intercept and one coefficient per one-hot feature, as a pandas Series."""
        import pandas as pd

        names = ("intercept", *self._fitted_layout().feature_names)
        return pd.Series(np.r_[self.intercept_, self.coef_], index=names, name="coefficient")

    def to_state(self) -> dict:
        return {**self._header(), "intercept": self.intercept_, "coef": self.coef_.copy()}

    @classmethod
    def from_state(cls, state: dict) -> LinearLogistic:
        learner = cls._from_header(state)
        learner.intercept_ = float(state["intercept"])
        learner.coef_ = np.asarray(state["coef"], dtype=np.float64)
        return learner
