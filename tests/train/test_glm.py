"""The exact LLR (L-BFGS on pixel tables) against scikit-learn's LogisticRegression."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import xlandslide as xl
from xlandslide.train.glm import fit_glm, glm_logits
from xlandslide.train.table import pixel_table

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def synthetic():
    return xl.synthetic_region((160, 192), seed=2, chunks=64).compute()


@pytest.fixture(scope="module")
def ecuador():
    spec = importlib.util.spec_from_file_location("ecuador_cv", EXAMPLES / "ecuador_spatial_cv.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ecuador_cv"] = module
    spec.loader.exec_module(module)
    return module.terrain_region()


@pytest.mark.parametrize("l2", [1e-3, 1e-2])
def test_glm_equals_sklearn_with_the_same_penalty(synthetic, l2):
    table = pixel_table(synthetic)
    fit = fit_glm(table, l2=l2)
    x, y = table.onehot(), table.label
    sk = LogisticRegression(C=1 / (l2 * table.n), tol=1e-10, max_iter=10_000).fit(x, y)
    assert fit.converged
    np.testing.assert_allclose(fit.weights, sk.coef_[0], atol=1e-3)
    assert abs(fit.bias - sk.intercept_[0]) < 1e-3
    z = glm_logits(table, fit.weights, fit.bias)
    assert abs(roc_auc_score(y, z) - roc_auc_score(y, sk.decision_function(x))) < 1e-3


def test_pixel_table_is_chunk_independent_and_sampling_unbiased(synthetic):
    whole = pixel_table(synthetic)
    other = pixel_table(synthetic.chunk({"y": 37, "x": 50}))
    np.testing.assert_array_equal(whole.continuous, other.continuous)
    np.testing.assert_array_equal(whole.codes, other.codes)
    np.testing.assert_array_equal(whole.label, other.label)
    labels = synthetic.label.values
    assert whole.n == int((labels >= 0).sum()) and whole.weight is None
    budget = whole.n // 4
    a = pixel_table(synthetic, max_pixels=budget, seed=3)
    b = pixel_table(synthetic.chunk({"y": 40, "x": 96}), max_pixels=budget, seed=3)
    np.testing.assert_array_equal(a.continuous, b.continuous)
    # every landslide kept (they fill less than half the budget); weights restore the counts
    assert int((a.label == 1).sum()) == int((labels == 1).sum())
    assert abs(a.weights().sum() - whole.n) / whole.n < 0.03
    assert abs(a.n - budget) / budget < 0.05


def test_fit_llr_is_the_glm_by_default(synthetic):
    patches = xl.make_patches(synthetic, xl.PatchGeometry(32, 8), seed=0)
    model = xl.fit(synthetic, "llr", patches=patches, progress=False)
    assert model.history["solver"] == "lbfgs" and model.history["converged"]
    table = pixel_table(synthetic, patches.core_mask("train", like=synthetic))
    want = fit_glm(table, l2=xl.TrainConfig.default("llr").weight_decay)
    np.testing.assert_allclose(model.module.linear_weights(), want.weights, atol=1e-6)
    # the paper's Table 1 still trains it by gradient descent on patches
    paper = xl.TrainConfig.paper("llr", epochs=1, max_batches_per_epoch=1)
    assert not paper.uses_lbfgs("llr") and xl.TrainConfig.default("llr").uses_lbfgs("llr")


def test_ecuador_llr_within_0005_auc_of_sklearn_on_every_kmeans_fold(ecuador):
    """The issue's check: the package's LLR (by cross_validate) against scikit-learn's GLM
    with the same penalty, on the same k-means folds and pixels.  (scikit-learn's default
    C=1 is a penalty 1/n, 50 times the package's 1e-4 on these ~200 points: it moves fold
    0's 49-point AUC by 0.033 and the mean by 0.004.)"""
    l2 = xl.TrainConfig.default("llr").weight_decay
    folds = xl.spatial_folds(ecuador, "kmeans", k=5, seed=0)
    cv = xl.cross_validate(ecuador, ["llr"], folds, geometry=xl.PatchGeometry(64, 32))
    for f in range(5):
        train = pixel_table(ecuador, folds.train_mask(f, ecuador, exclude=[(f + 1) % 5]))
        test = pixel_table(ecuador, folds.test_mask(f, ecuador))
        sk = LogisticRegression(C=1 / (l2 * train.n), tol=1e-10, max_iter=10_000)
        sk.fit(train.onehot(), train.label)
        want = roc_auc_score(test.label, sk.decision_function(test.onehot()))
        got = float(cv.table.loc[cv.table["fold"] == f, "auc"].iloc[0])
        assert abs(got - want) < 0.005, (f, got, want)
