"""Penalised logistic regression by L-BFGS: the one optimiser of llr, gam and calibrations.

The objective, in float64, with weights ``w`` (sampling weights, all 1 by default)::

    J(b0, beta) = sum_i w_i * BCE(y_i, b0 + x_i . beta) / sum_i w_i  +  l2 / 2 * beta' P beta

where ``BCE(y, z) = log(1 + exp(z)) - y z`` and ``P`` is the identity (ridge) unless a penalty
matrix is given (for example a P-spline difference penalty); the intercept ``b0`` is never
penalised.  With ``P = I`` this is scikit-learn's ``LogisticRegression(C=1 / (l2 * sum(w)))``
(``C = 1 / (l2 * n)`` without weights) divided by ``C * sum(w)``: the same minimiser.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from ..errors import ConfigError, XLandslideWarning

__all__ = ["LogisticFit", "fit_logistic", "fit_logistic_linear"]


@dataclass(frozen=True)
class LogisticFit:
    """Result of :func:`fit_logistic`: the coefficients and how the optimiser ended."""

    intercept: float
    coef: np.ndarray
    objective: float
    n_iter: int
    grad_norm: float
    converged: bool
    message: str = ""


def check_l2(l2: float) -> float:
    """``l2`` as a float, or ConfigError when it is not a finite number >= 0."""
    if isinstance(l2, bool) or not isinstance(l2, (int, float, np.floating)):
        raise ConfigError(f"l2 must be a number >= 0, got {l2!r}")
    if not (np.isfinite(l2) and l2 >= 0):
        raise ConfigError(f"l2 must be a finite number >= 0, got {l2!r}")
    return float(l2)


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    l2: float = 0.0,
    penalty: np.ndarray | None = None,
    gtol: float = 1e-7,
    max_iter: int = 5000,
) -> LogisticFit:
    """Minimise mean weighted binary cross-entropy + ``l2 / 2 * beta' P beta`` by L-BFGS.

    Parameters
    ----------
    x : (n, p) array
        Design matrix (without the intercept column); converted to float64.
    y : (n,) array of 0 / 1
        Labels.
    weight : (n,) array or None
        Non-negative sampling weights; ``None`` for all 1.
    l2 : float
        Penalty strength (>= 0).
    penalty : (p, p) array or None
        Symmetric positive semi-definite penalty matrix ``P``; ``None`` for the identity.
    gtol : float
        Converged when the largest absolute gradient entry is at most ``gtol``.
    max_iter : int
        Most L-BFGS iterations.

    Returns
    -------
    LogisticFit
        A warning (:class:`~xlandslide.errors.XLandslideWarning`) is issued when the gradient
        did not reach ``gtol`` (10 times ``gtol`` is tolerated: the line search's floor).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> fit = fit_logistic(x, np.array([0, 1, 0, 1]), l2=0.1)
    >>> round(fit.intercept, 4), np.round(fit.coef, 4), fit.converged
    (-0.9551, array([0.6367]), True)
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"x must be a 2-D design matrix, got shape {x.shape}")
    return fit_logistic_linear(
        lambda beta: x @ beta, lambda r: x.T @ r, x.shape[1], y, weight,
        l2=l2, penalty=penalty, gtol=gtol, max_iter=max_iter,
    )  # fmt: skip


def fit_logistic_linear(
    matvec: Callable[[np.ndarray], np.ndarray],
    rmatvec: Callable[[np.ndarray], np.ndarray],
    p: int,
    y: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    l2: float = 0.0,
    penalty: np.ndarray | None = None,
    gtol: float = 1e-7,
    max_iter: int = 5000,
    warn: bool = True,
) -> LogisticFit:
    """:func:`fit_logistic` with the design given as an operator (the one L-BFGS owner).

    ``matvec(beta)`` returns ``X @ beta`` (n,) and ``rmatvec(r)`` returns ``X.T @ r`` (p,),
    so a design that is never built (the LLR's one-hot classes gathered by code,
    :func:`xlandslide.train.glm.fit_glm`) is fitted by the same optimiser as a dense one.
    ``warn=False``: no warning when the gradient stays above ``10 * gtol`` (the caller
    reports :attr:`LogisticFit.converged` itself).
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    if y.ndim != 1:
        raise ConfigError(f"y must be 1-D, got shape {y.shape}")
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    if w.shape != (n,):
        raise ConfigError(f"weight must have shape ({n},), got {w.shape}")
    l2 = check_l2(l2)
    total = w.sum()
    if not total > 0:
        raise ConfigError("the weights sum to 0: nothing to fit")
    w = w / total
    if penalty is not None:
        penalty = np.asarray(penalty, dtype=np.float64)
        if penalty.shape != (p, p):
            raise ConfigError(f"penalty must have shape {(p, p)}, got {penalty.shape}")

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b0, beta = theta[0], theta[1:]
        z = b0 + matvec(beta)
        pb = beta if penalty is None else penalty @ beta
        value = w @ (np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * (beta @ pb)
        r = w * (expit(z) - y)
        grad = np.empty_like(theta)
        grad[0] = r.sum()
        grad[1:] = rmatvec(r) + l2 * pb
        return float(value), grad

    mean = np.clip(w @ y, 1e-12, 1 - 1e-12)
    theta0 = np.zeros(p + 1)
    theta0[0] = np.log(mean / (1 - mean))
    result = minimize(
        objective,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": int(max_iter), "gtol": gtol, "ftol": 1e-15, "maxcor": 20},
    )
    value, grad = objective(result.x)
    grad_norm = float(np.abs(grad).max())
    converged = grad_norm <= 10 * gtol
    if warn and not converged:
        warnings.warn(
            f"L-BFGS stopped after {result.nit} iterations with gradient {grad_norm:.2e} > "
            f"{10 * gtol:.0e} ({result.message}); raise max_iter or l2",
            XLandslideWarning,
            stacklevel=3,
        )
    return LogisticFit(
        float(result.x[0]), result.x[1:].copy(), value, int(result.nit), grad_norm, converged,
        str(result.message),
    )  # fmt: skip


def calibrate(score: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> tuple[float, float]:
    """``(a, b)`` of the 1-D logistic calibration ``P(y = 1) = sigmoid(a + b * score)``."""
    fit = fit_logistic(np.asarray(score, dtype=np.float64)[:, None], y, weight, l2=0.0)
    return fit.intercept, float(fit.coef[0])
