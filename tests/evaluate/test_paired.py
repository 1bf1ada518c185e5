"""DeLong's paired AUC comparison against a slow obvious implementation and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlandslide.errors import EvaluationError
from xlandslide.evaluate.paired import delong


def slow_delong(a, b, y):
    """Placement values by the definition (every positive against every negative)."""
    pos, neg = y == 1, y == 0

    def psi(x, z):
        return 1.0 if x > z else 0.5 if x == z else 0.0

    def placements(s):
        p, q = s[pos], s[neg]
        v10 = np.array([np.mean([psi(x, z) for z in q]) for x in p])
        v01 = np.array([np.mean([psi(x, z) for x in p]) for z in q])
        return v10, v01

    (a10, a01), (b10, b01) = placements(a), placements(b)
    m, n = len(a10), len(a01)
    var = (np.var(a10, ddof=1) + np.var(b10, ddof=1) - 2 * np.cov(a10, b10, ddof=1)[0, 1]) / m + (
        np.var(a01, ddof=1) + np.var(b01, ddof=1) - 2 * np.cov(a01, b01, ddof=1)[0, 1]
    ) / n
    return a10.mean(), b10.mean(), a10.mean() - b10.mean(), math.sqrt(max(var, 0.0))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.integers(4, 60),
    st.sampled_from([None, 5]),  # continuous scores, or few levels (ties)
)
def test_delong_equals_the_slow_definition(seed, size, levels):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size)
    y[:2], y[2:4] = 1, 0
    a = rng.random(size) + 0.4 * y
    b = 0.5 * a + 0.5 * rng.random(size)
    if levels:
        a, b = np.round(a * levels) / levels, np.round(b * levels) / levels
    got = delong(a, b, y)
    want = slow_delong(a, b, y)
    assert got["auc_a"] == pytest.approx(want[0], abs=1e-12)
    assert got["auc_b"] == pytest.approx(want[1], abs=1e-12)
    assert got["difference"] == pytest.approx(want[2], abs=1e-12)
    # a variance that is zero in exact arithmetic comes out as ~1e-18 in one of the two
    # summation orders, and its square root as ~1e-9
    assert got["se"] == pytest.approx(want[3], abs=1e-8)


def test_delong_aucs_equal_scikit_learn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    a, b = rng.random(500) + y * 0.3, rng.random(500) + y * 0.1
    r = delong(a, b, y)
    assert r["auc_a"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert r["auc_b"] == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert r["difference"] > 0 and r["p"] < 1e-3  # a real gap, far outside the noise


def test_a_model_against_itself_has_no_gap_and_no_noise():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    a = rng.random(200)
    r = delong(a, a, y)
    assert r["difference"] == 0 and r["se"] == 0 and r["z"] == 0 and r["p"] == 1


def test_the_paired_error_is_below_the_single_errors_for_correlated_models():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    a = rng.random(300) + 0.5 * y
    b = a + 0.05 * rng.standard_normal(300)  # nearly the same model
    r = delong(a, b, y)
    assert r["se"] < 0.25 * min(r["se_a"], r["se_b"])


def test_nan_scores_and_unknown_labels_are_left_out():
    y = np.array([1, 0, 1, 0, -1, 1, 0])
    a = np.array([0.9, 0.1, 0.8, 0.3, 0.5, np.nan, 0.2])
    b = np.full(7, 0.5)
    b[1] = np.nan
    r = delong(a, b, y)  # left out: 1 (b NaN), 4 (label -1), 5 (a NaN)
    assert r["n_positive"] == 2 and r["n_negative"] == 2


def test_delong_refuses_what_it_cannot_score():
    with pytest.raises(EvaluationError, match="same size"):
        delong([0.1, 0.2], [0.1], [1, 0])
    with pytest.raises(EvaluationError, match="at least 2 landslide"):
        delong([0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [1, 0, 0])


def slow_clustered_se(a, b, y, clusters):
    """Obuchowski (1997) by the definition: per cluster, the summed placements of the
    difference (every positive against every negative of all clusters), loop by loop."""
    pos, neg = y == 1, y == 0

    def psi(x, z):
        return 1.0 if x > z else 0.5 if x == z else 0.0

    def diff_placements(i, positive):
        if positive:
            return np.mean([psi(a[i], a[j]) - psi(b[i], b[j]) for j in np.flatnonzero(neg)])
        return np.mean([psi(a[j], a[i]) - psi(b[j], b[i]) for j in np.flatnonzero(pos)])

    theta = np.mean([diff_placements(i, True) for i in np.flatnonzero(pos)])
    ids = sorted(set(clusters.tolist()))
    k, m, n = len(ids), pos.sum(), neg.sum()
    s10 = s01 = s11 = 0.0
    for c in ids:
        members = np.flatnonzero(clusters == c)
        p = [i for i in members if pos[i]]
        q = [i for i in members if neg[i]]
        d10 = sum(diff_placements(i, True) for i in p) - len(p) * theta
        d01 = sum(diff_placements(i, False) for i in q) - len(q) * theta
        s10, s01, s11 = s10 + d10 * d10, s01 + d01 * d01, s11 + d10 * d01
    scale = k / (k - 1)
    var = scale * (s10 / m / m + s01 / n / n + 2 * s11 / (m * n))
    return math.sqrt(max(var, 0.0))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(8, 50), st.integers(2, 7))
def test_clustered_delong_equals_the_slow_definition(seed, size, k):
    rng = np.random.default_rng(seed)
    y = (rng.random(size) < 0.4).astype(int)
    y[:2], y[2:4] = 1, 0
    a, b = y + rng.normal(0, 1, size), rng.integers(0, 4, size).astype(float)
    clusters = rng.integers(0, k, size)
    clusters[:2] = [0, 1]  # at least two clusters
    r = delong(a, b, y, clusters=clusters)
    assert r["se"] == pytest.approx(slow_clustered_se(a, b, y, clusters), rel=1e-9, abs=1e-12)
    plain = delong(a, b, y)
    assert (r["auc_a"], r["auc_b"]) == (plain["auc_a"], plain["auc_b"])  # only the error moves
    assert r["n_clusters"] == len(set(clusters.tolist()))


def test_copies_of_a_pixel_in_its_cluster_add_no_information():
    """Ten copies of every pixel, each pixel's copies one cluster: the clustered error is the
    error of the original pixels as their own clusters, while the pixel-level error falls by
    sqrt(10) (what the pixel-level error does with a polygon's alike pixels)."""
    rng = np.random.default_rng(4)
    y = (rng.random(300) < 0.2).astype(int)
    a, b = y + rng.normal(0, 1, 300), y + rng.normal(0, 1.5, 300)
    one = delong(a, b, y, clusters=np.arange(300))
    copies = delong(
        np.repeat(a, 10), np.repeat(b, 10), np.repeat(y, 10), clusters=np.repeat(np.arange(300), 10)
    )
    assert copies["se"] == pytest.approx(one["se"], rel=1e-9)
    assert delong(np.repeat(a, 10), np.repeat(b, 10), np.repeat(y, 10))["se"] == pytest.approx(
        delong(a, b, y)["se"] / math.sqrt(10), rel=0.02
    )
    # pixels as their own clusters: the pixel-level error, to O(1/n)
    assert one["se"] == pytest.approx(delong(a, b, y)["se"], rel=0.02)


def test_tile_clusters_and_their_checks():
    from xlandslide.evaluate.paired import tile_clusters

    t = tile_clusters((5, 5), 2)
    assert t.shape == (5, 5) and len(np.unique(t)) == 9 and t[4, 4] == 8 and t[1, 1] == 0
    with pytest.raises(EvaluationError, match="tile"):
        tile_clusters((5, 5), 0)
    y = np.array([1, 0, 1, 0])
    with pytest.raises(EvaluationError, match="one id per pixel"):
        delong(y, y, y, clusters=[0, 1])
    with pytest.raises(EvaluationError, match="2 clusters"):
        delong(np.array([0.9, 0.1, 0.8, 0.3]), np.array([0.5, 0.4, 0.6, 0.2]), y, clusters=[0] * 4)
