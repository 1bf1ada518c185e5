"""The LLR fitted exactly: penalised logistic regression by L-BFGS on a pixel table.

The LLR is convex, so it needs neither epochs nor a validation fold: it is fitted to
convergence on all its training pixels (:func:`xlandslide.train.table.pixel_table`), with
the objective

.. math::

    L(b, w) = \\frac{1}{\\sum_i s_i} \\sum_i s_i \\, \\mathrm{BCE}(y_i, b + x_i \\cdot w)
              + \\frac{\\lambda}{2} \\lVert w \\rVert^2

(``s_i`` the table's sampling weights, the intercept ``b`` unpenalised, ``x_i`` the one-hot
features with NaN -> 0 exactly as the networks see them).  It equals scikit-learn's
``LogisticRegression(C=1 / (lambda * n))`` (tested).  The features are never expanded:
the logit of a pixel is its continuous layers times their weights plus, per group, the
weight of its class, and the gradient of a class weight is a ``bincount``; a table of
4 M pixels takes about 13 bytes a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..learners.table import PixelTable


@dataclass(frozen=True)
class GLMFit:
    """The result of :func:`fit_glm`."""

    weights: np.ndarray  # (F,) float64: continuous layers, then every class of every group
    bias: float
    loss: float  # the penalised objective at the optimum
    iterations: int
    converged: bool
    message: str


def _split(theta: np.ndarray, n_cont: int, n_classes) -> tuple[float, np.ndarray, list]:
    b, w = float(theta[0]), theta[1:]
    wc = w[:n_cont]
    groups, start = [], n_cont
    for k in n_classes:
        # one extra zero slot: codes beyond the group's classes (no class) read weight 0
        groups.append(np.append(w[start : start + k], 0.0))
        start += k
    return b, wc, groups


def _logits(theta, x, codes, n_classes) -> np.ndarray:
    b, wc, groups = _split(theta, x.shape[1], n_classes)
    z = x @ wc + b if x.shape[1] else np.full(codes.shape[0], b)
    for g, wg in enumerate(groups):
        z = z + wg[np.minimum(codes[:, g], len(wg) - 1)]
    return z


def glm_logits(table: PixelTable, weights, bias: float) -> np.ndarray:
    """Logits (n,) float64 of the rows of ``table`` under a fitted GLM."""
    theta = np.concatenate([[float(bias)], np.asarray(weights, dtype=np.float64)])
    x = np.nan_to_num(table.continuous.astype(np.float64), nan=0.0)
    return _logits(theta, x, table.codes, table.n_classes)


def bce(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row binary cross-entropy of logits ``z`` against 0/1 labels ``y`` (stable)."""
    return np.logaddexp(0.0, z) - y * z


def fit_glm(
    table: PixelTable, l2: float = 1e-4, *, max_iter: int = 1000, tol: float = 1e-10
) -> GLMFit:
    """Fit the penalised logistic regression of the module notes by L-BFGS (float64).

    Parameters
    ----------
    table : PixelTable
        Training pixels (labels 0/1, optional sampling weights).
    l2 : float
        The penalty ``lambda`` on the mean loss (not on the intercept).
    max_iter : int
        L-BFGS iterations at most.
    tol : float
        Convergence tolerance on the largest gradient entry (the L-BFGS is
        :func:`xlandslide.learners.optim.fit_logistic_linear`, the package's one owner).

    Examples
    --------
    >>> import numpy as np
    >>> from xlandslide.learners import PixelTable
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2000, 1)).astype("float32")
    >>> y = (rng.random(2000) < 1 / (1 + np.exp(-(2 * x[:, 0] - 1)))).astype("int8")
    >>> t = PixelTable(x, np.zeros((2000, 0), "uint8"), y)
    >>> fit = fit_glm(t, l2=0.0)
    >>> bool(abs(fit.weights[0] - 2) < 0.3 and abs(fit.bias + 1) < 0.2)
    True
    """
    from ..learners.optim import fit_logistic_linear

    if not (isinstance(l2, (int, float)) and np.isfinite(l2) and l2 >= 0):
        raise ConfigError(f"l2 must be a finite number >= 0, got {l2!r}")
    y = table.label.astype(np.float64)
    if len(y) == 0 or np.all(y == y[0]):
        raise ConfigError(
            "the GLM's training pixels hold a single class "
            f"({'none' if len(y) == 0 else int(y[0])}); it needs landslide and stable pixels"
        )
    x = np.nan_to_num(table.continuous.astype(np.float64), nan=0.0)
    codes, n_classes = table.codes, table.n_classes
    n_cont = x.shape[1]

    def matvec(w):  # the logits without intercept: continuous times weights + class weights
        return _logits(np.concatenate([[0.0], w]), x, codes, n_classes)

    def rmatvec(r):  # the one-hot design's transpose: a bincount per group
        parts = [x.T @ r] + [
            np.bincount(codes[:, g], weights=r, minlength=256)[:k] for g, k in enumerate(n_classes)
        ]
        return np.concatenate(parts)

    fit = fit_logistic_linear(
        matvec, rmatvec, n_cont + sum(n_classes), y, table.weights(),
        l2=float(l2), gtol=tol, max_iter=max_iter, warn=False,
    )  # fmt: skip
    return GLMFit(
        weights=fit.coef,
        bias=fit.intercept,
        loss=fit.objective,
        iterations=fit.n_iter,
        converged=fit.converged,
        message=fit.message,
    )


__all__ = ["GLMFit", "bce", "fit_glm", "glm_logits"]
