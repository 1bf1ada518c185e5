"""llr and gam against scikit-learn's LogisticRegression on the same design (one objective)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from xlandslide.errors import ConfigError, NameNotFoundError
from xlandslide.learners import GAM, LinearLogistic, fit_logistic
from xlandslide.learners.gam import spline_basis, spline_knots

from .common import auc, synthetic_table


def _sklearn(x, table, l2):
    """sklearn's ridge logistic regression with C = 1 / (l2 * sum(w)): our objective x C sum(w)."""
    w = table.weights()
    model = LogisticRegression(C=1 / (l2 * w.sum()), tol=1e-12, max_iter=100_000)
    return model.fit(x, table.label, sample_weight=w)


@pytest.mark.parametrize("weighted", [False, True])
def test_llr_equals_sklearn(weighted):
    table = synthetic_table(n=500, seed=0, missing=0.05, weight=weighted)
    llr = LinearLogistic(l2=1e-2).fit(table)
    ref = _sklearn(table.onehot().astype(float), table, 1e-2)
    np.testing.assert_allclose(llr.coef_, ref.coef_[0], atol=1e-3)
    np.testing.assert_allclose(llr.intercept_, ref.intercept_[0], atol=1e-3)
    np.testing.assert_allclose(
        llr.predict_logit(table.continuous, table.codes),
        ref.decision_function(table.onehot()), atol=1e-3,
    )  # fmt: skip
    assert list(llr.coefficients().index[:3]) == ["intercept", "slope", "dem"]


def test_gam_equals_sklearn_on_its_design():
    table = synthetic_table(n=500, seed=1, nonlinear=True)
    test = synthetic_table(n=500, seed=2, nonlinear=True)
    gam = GAM(l2=1e-2).fit(table)
    x = gam.design(table.continuous, table.codes)
    assert x.shape == (500, 8 + 8 + 3 + 4)
    ref = _sklearn(x, table, 1e-2)
    np.testing.assert_allclose(gam.coef_, ref.coef_[0], atol=1e-3)
    np.testing.assert_allclose(gam.intercept_, ref.intercept_[0], atol=1e-3)
    ours = auc(test.label, gam.predict_logit(test.continuous, test.codes))
    theirs = auc(test.label, ref.decision_function(gam.design(test.continuous, test.codes)))
    assert abs(ours - theirs) < 1e-3


def test_gam_beats_linear_on_a_smooth_nonlinear_logit():
    table = synthetic_table(n=1500, seed=3, nonlinear=True)
    test = synthetic_table(n=1500, seed=4, nonlinear=True)
    gam_auc = auc(test.label, GAM().fit(table).predict_logit(test.continuous, test.codes))
    llr_auc = auc(
        test.label, LinearLogistic().fit(table).predict_logit(test.continuous, test.codes)
    )
    assert gam_auc > 0.8 and gam_auc > llr_auc + 0.15


def test_partial_effects_recover_the_curve():
    table = synthetic_table(n=3000, seed=5, nonlinear=True)
    gam = GAM(penalty="difference", l2=1e-3).fit(table)
    x, effect = gam.partial_effects(grid={"slope": np.linspace(-1.5, 1.5, 31)})["slope"]
    truth = 2 * x**2
    truth = truth - truth.mean()
    assert np.corrcoef(effect, truth)[0, 1] > 0.98
    grid = gam.partial_effects(grid=7)
    assert set(grid) == {"slope", "dem"} and grid["dem"][0].size == 7
    with pytest.raises(NameNotFoundError, match="no continuous layer"):
        gam.partial_effects(grid={"rain": [0.0]})


def test_spline_extrapolates_linearly_and_nan_adds_nothing():
    knots = spline_knots(np.random.default_rng(0).uniform(0, 1, 200), n_basis=8, degree=3)
    x = np.array([1.0, 2.0, 3.0, -1.0, -2.0, np.nan])
    basis = spline_basis(x, knots, 3)
    # beyond the range every basis function is affine: equal steps
    np.testing.assert_allclose(basis[1] - basis[0], basis[2] - basis[1], atol=1e-12)
    np.testing.assert_allclose(
        basis[3] - basis[4], spline_basis(np.array([0.0]), knots, 3)[0] - basis[3], atol=1e-12
    )
    np.testing.assert_array_equal(basis[5], 0.0)
    # inside: the scipy B-spline design matrix itself
    inside = np.linspace(knots[0], knots[-1], 9)
    from scipy.interpolate import BSpline

    ref = BSpline.design_matrix(inside, knots, 3).toarray()
    np.testing.assert_allclose(spline_basis(inside, knots, 3), ref, atol=1e-12)
    assert spline_knots(np.ones(10), 8, 3).size == 0  # a constant layer: no term


def test_fit_logistic_checks():
    with pytest.raises(ConfigError, match="l2 must be"):
        fit_logistic(np.zeros((3, 1)), np.zeros(3), l2=-1.0)
    with pytest.raises(ConfigError, match="penalty must have shape"):
        fit_logistic(np.zeros((3, 1)), np.zeros(3), penalty=np.eye(2))
    with pytest.raises(ConfigError, match="penalty must be one of"):
        GAM(penalty="lasso")
    with pytest.raises(ConfigError, match="n_basis"):
        GAM(n_basis=3, degree=3)


def test_gam_defaults_unit_prior_and_constant_terms_beyond_the_range():
    """Default l2 = 1 / min(n, 10_000): on few rows scikit-learn's C=1 on the same design
    (the oracle); beyond the training range each term holds its boundary value; a state
    written before the option existed predicts linearly, as it was fitted."""
    table = synthetic_table(n=400, seed=6, nonlinear=True)
    gam = GAM().fit(table)
    assert gam.l2_ == 1 / 400 and gam.extrapolation == "constant"
    assert GAM(n_basis=4).fit(synthetic_table(n=12_000, seed=7)).l2_ == 1e-4  # 1 / 10_000
    x = gam.design(table.continuous, table.codes)
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=100_000).fit(x, table.label)
    np.testing.assert_allclose(gam.coef_, ref.coef_[0], atol=1e-3)
    lo, hi = np.nanmin(table.continuous, 0), np.nanmax(table.continuous, 0)
    far = np.array([lo - 5, lo - 1, hi + 1, hi + 5], dtype=np.float32)
    codes = np.zeros((4, 2), np.uint8)
    edge = np.array([lo, lo, hi, hi], dtype=np.float32)
    np.testing.assert_allclose(gam.predict_logit(far, codes), gam.predict_logit(edge, codes))
    state = gam.to_state()
    old = {**state, "options": {k: v for k, v in state["options"].items() if k != "extrapolation"}}
    linear = GAM.from_state(old)
    assert linear.extrapolation == "linear"
    z = linear.predict_logit(far, codes)
    assert not np.allclose(z, gam.predict_logit(far, codes))
    with pytest.raises(ConfigError, match="extrapolation"):
        GAM(extrapolation="cubic")
