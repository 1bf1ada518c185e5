"""The field's non-torch models, on a pixel table (pure numpy; no xarray, dask or torch).

Every learner implements :class:`Learner`: ``fit(PixelTable)``, ``predict_logit(continuous,
codes)``, ``to_state()`` (JSON-plain values and numpy arrays; a LightGBM booster as its text
model) and ``from_state(state)``.

=====  =============================================  ==========================================
name   what                                           the field
=====  =============================================  ==========================================
fr     frequency ratio, sum of ln FR, calibrated      LSAT, SZ-plugin v1
woe    weights of evidence, prior + sum of W          LSAT, SZ-plugin v1
llr    ridge logistic regression on one-hot, L-BFGS   LAND-SE, SZ-plugin v2 (GLM)
gam    B-spline terms + one-hot, ridge, L-BFGS        LAND-SE, SZ-plugin v2 (GAM)
gbm    LightGBM boosted trees, native categoricals    SZ-plugin, r.learn.ml2 (boosting)
=====  =============================================  ==========================================

Continuous columns beyond the region's layers (the uphill-gathered, aligned features) are
simply more continuous columns.  :func:`stratified_sample` picks the table's pixels the same
way for any chunking.

Examples
--------
>>> import numpy as np
>>> from xlandslide.learners import PixelTable, build_learner, learner_from_state
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(300, 2)).astype("f4")
>>> codes = rng.integers(0, 3, size=(300, 1)).astype("u1")
>>> y = (rng.random(300) < 1 / (1 + np.exp(-2 * x[:, 0]))).astype("i1")
>>> table = PixelTable(x, codes, y, n_classes=(3,))
>>> woe = build_learner("woe", n_bins=5).fit(table)
>>> again = learner_from_state(woe.to_state())
>>> bool(np.array_equal(again.predict_logit(x, codes), woe.predict_logit(x, codes)))
True
"""

from __future__ import annotations

from ..errors import CheckpointError, NameNotFoundError
from .base import STATE_VERSION, Learner
from .evidence import FrequencyRatio, WeightsOfEvidence
from .gam import GAM
from .gbm import GBM
from .linear import LinearLogistic
from .optim import LogisticFit, fit_logistic
from .sampling import StratifiedSample, sampling_rates, stratified_sample
from .table import Layout, PixelTable, onehot

#: The learners by name.
LEARNERS: dict[str, type] = {
    cls.name: cls for cls in (FrequencyRatio, WeightsOfEvidence, LinearLogistic, GAM, GBM)
}


def build_learner(name: str, **options) -> Learner:
    """A new (unfitted) learner of the given name with its options."""
    if name not in LEARNERS:
        raise NameNotFoundError(f"no learner {name!r}; choose one of {sorted(LEARNERS)}")
    return LEARNERS[name](**options)


def learner_from_state(state: dict) -> Learner:
    """Rebuild a fitted learner from its ``to_state()`` dictionary (dispatch on its name)."""
    name = state.get("name") if isinstance(state, dict) else None
    if name not in LEARNERS:
        raise CheckpointError(f"not a learner state (name {name!r}); known: {sorted(LEARNERS)}")
    return LEARNERS[name].from_state(state)


__all__ = [
    "GAM",
    "GBM",
    "LEARNERS",
    "STATE_VERSION",
    "FrequencyRatio",
    "Layout",
    "Learner",
    "LinearLogistic",
    "LogisticFit",
    "PixelTable",
    "StratifiedSample",
    "WeightsOfEvidence",
    "build_learner",
    "fit_logistic",
    "learner_from_state",
    "onehot",
    "sampling_rates",
    "stratified_sample",
]
