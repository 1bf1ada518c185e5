"""Tests of xlandslide.evaluate: NLL, Naive closed form, exact and streaming ROC/AUC."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from hypothesis import given, settings
from sklearn import metrics

from tests.helpers import raise_if_dask_computes
from tests.strategies import yx_chunks
from xlandslide.errors import EvaluationError, GridMismatchError, ShapeError
from xlandslide.evaluate import (
    average_precision,
    brier_score,
    evaluate,
    naive_nll,
    naive_ratio,
    nll,
    roc_auc,
    roc_curve,
)
from xlandslide.evaluate.metrics import BINS, bin_index


def make_maps(ny=60, nx=70, seed=0, ratio=0.1, ties=False, crs="EPSG:32632"):
    """A (prob, label) pair of DataArrays on one grid: informative, noisy probabilities."""
    rng = np.random.default_rng(seed)
    label = (rng.random((ny, nx)) < ratio).astype("int8")
    label[:4] = -1  # unknown rows
    prob = 1 / (1 + np.exp(-(rng.normal(-3, 1.2, (ny, nx)) + 1.5 * label)))
    if ties:
        prob = np.round(prob, 2)
    prob = prob.astype("float32")
    coords = {"y": 1000.0 - 10 * np.arange(ny), "x": 10.0 * np.arange(nx)}
    p = xr.DataArray(prob, dims=("y", "x"), coords=coords).rio.write_crs(crs)
    lab = xr.DataArray(label, dims=("y", "x"), coords=coords).rio.write_crs(crs)
    return p, lab


def known(p, lab, mask=None):
    sel = (lab.values >= 0) & ~np.isnan(p.values)
    if mask is not None:
        sel &= mask.values
    return p.values[sel].astype(np.float64), lab.values[sel]


def assert_results_close(got, ref):
    assert got.keys() == ref.keys()
    for key, value in ref.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_allclose(got[key], value, rtol=1e-12)
        elif isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert got[key] == value, key


# --------------------------------------------------------------------------- NLL


def test_nll_matches_manual_formula():
    p, lab = make_maps()
    p[10, 10] = np.nan  # excluded
    p[11, 11] = 0.0  # clipped to eps
    pv, y = known(p, lab)
    q = np.clip(pv, 1e-7, 1 - 1e-7)
    expected = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
    assert nll(p, lab) == pytest.approx(expected, rel=1e-6)
    assert nll(p, lab) == pytest.approx(metrics.log_loss(y, q), rel=1e-6)


def test_naive_closed_form_equals_nll_of_constant():
    p, lab = make_maps(seed=3)
    mask = xr.zeros_like(lab, dtype=bool)
    mask[:, :40] = True
    for m in (None, mask):
        ratio = naive_ratio(lab, m)
        y = lab.values[(lab.values >= 0) & (True if m is None else m.values)]
        assert ratio == pytest.approx(y.mean())
        for r in (0.013, ratio, 0.5):
            const = xr.full_like(p, r)
            assert naive_nll(r, lab, m) == pytest.approx(nll(const, lab, m), rel=1e-5)
        # with the evaluated set's own ratio it is the entropy of the labels
        entropy = -(ratio * math.log(ratio) + (1 - ratio) * math.log(1 - ratio))
        assert naive_nll(ratio, lab, m) == pytest.approx(entropy)


def test_paper_naive_value():
    """Veneto's Naive row: a positive ratio near 0.013 gives an NLL near the paper's 0.065-0.069."""
    lab = xr.DataArray(np.zeros((100, 100), "int8"), dims=("y", "x"))
    lab[:13, :10] = 1  # 130 of 10000 = 0.013
    assert naive_ratio(lab) == pytest.approx(0.013)
    assert naive_nll(0.013, lab) == pytest.approx(0.0690, abs=5e-4)


# --------------------------------------------------------------------------- AUC


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_exact_auc_equals_sklearn(seed, ties):
    p, lab = make_maps(seed=seed, ties=ties)
    pv, y = known(p, lab)
    auc, bound = roc_auc(p, lab)
    assert bound == 0.0
    assert auc == pytest.approx(metrics.roc_auc_score(y, pv), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True])
def test_histogram_auc_within_its_bound(seed, ties):
    p, lab = make_maps(seed=seed, ties=ties)
    pv, y = known(p, lab)
    exact = metrics.roc_auc_score(y, pv)
    res = evaluate(p, lab, exact_limit=10, bins=64)  # coarse bins: a visible bound
    assert res["auc_method"] == "histogram"
    assert abs(res["auc"] - exact) <= res["auc_error_bound"] + 1e-12
    if not ties:
        assert res["auc_error_bound"] > 0
    fine = evaluate(p, lab, exact_limit=10)
    assert abs(fine["auc"] - exact) <= fine["auc_error_bound"] + 1e-12
    assert fine["auc_error_bound"] < 1e-3


def test_histogram_bound_small_for_continuous_scores():
    rng = np.random.default_rng(5)
    y = (rng.random((300, 300)) < 0.01).astype("int8")
    prob = rng.beta(0.5, 40, y.shape) + 0.01 * y  # concentrated near 0, as landslides are
    auc, bound = roc_auc(prob, y, exact_limit=1000)
    assert bound < 1e-3
    assert abs(auc - metrics.roc_auc_score(y.ravel(), prob.ravel())) <= bound + 1e-12


def test_constant_prediction_is_an_exact_tie():
    p, lab = make_maps()
    const = xr.full_like(p, 0.013)
    assert roc_auc(const, lab, exact_limit=10) == (0.5, 0.0)


def test_bin_index_monotone_and_covers_range():
    rng = np.random.default_rng(0)
    p = np.sort(np.concatenate([rng.random(10000), rng.random(10000) ** 20, [0.0, 0.5, 1.0]]))
    idx = bin_index(p)
    assert np.all(np.diff(idx) >= 0)
    assert idx[0] == 0 and idx[-1] == BINS - 1
    # relative resolution better than 0.2 % from 1e-11 to 0.5 (log-odds-like) ...
    q = np.logspace(-11, np.log10(0.49), 5000)
    assert np.all(bin_index(q * 1.002) > bin_index(q))
    # ... and in 1 - p near 1, down to where float32 itself stops resolving 1 - p
    q = np.logspace(-3, np.log10(0.49), 5000)
    assert np.all(bin_index(1 - q * 1.002) < bin_index(1 - q))


# --------------------------------------------------------------------------- curve


@pytest.mark.parametrize("drop", [True, False])
def test_roc_curve_equals_sklearn(drop):
    p, lab = make_maps(seed=2, ties=True)
    pv, y = known(p, lab)
    fpr, tpr, thr = roc_curve(p, lab, drop_intermediate=drop)
    efpr, etpr, ethr = metrics.roc_curve(y, pv, drop_intermediate=drop)
    np.testing.assert_allclose(fpr, efpr)
    np.testing.assert_allclose(tpr, etpr)
    np.testing.assert_allclose(thr, ethr.astype(np.float64), rtol=1e-6)


def test_histogram_curve_points_lie_on_the_exact_curve():
    p, lab = make_maps(seed=4)
    pv, y = known(p, lab)
    fpr, tpr, thr = roc_curve(p, lab, exact_limit=10, bins=128, drop_intermediate=False)
    assert thr[0] == np.inf and fpr[0] == 0 and tpr[0] == 0
    assert fpr[-1] == 1 and tpr[-1] == 1
    assert np.all(np.diff(thr) < 0)
    for f, t, th in zip(fpr[1:], tpr[1:], thr[1:]):
        assert t == pytest.approx(np.mean(pv[y == 1] >= th))
        assert f == pytest.approx(np.mean(pv[y == 0] >= th))


# --------------------------------------------------------------------------- evaluate


def test_unknown_labels_masks_and_nan_probabilities_are_ignored():
    p, lab = make_maps(seed=6)
    base = evaluate(p, lab)
    q = p.copy()
    q.values[lab.values < 0] = 0.999  # garbage where unknown
    assert evaluate(q, lab) == base
    q[20, 20] = np.nan
    res = evaluate(q, lab)
    assert res["n_missing"] == 1 and base["n_missing"] == 0
    assert res["n_pixels"] == base["n_pixels"] - 1
    mask = xr.zeros_like(lab, dtype=bool)
    mask[:30] = True
    pv, y = known(p, lab, mask)
    res = evaluate(p, lab, mask, train_ratio=0.05)
    assert res["n_pixels"] == y.size and res["n_positive"] == int(y.sum())
    assert res["auc"] == pytest.approx(metrics.roc_auc_score(y, pv))
    assert res["naive_nll"] == pytest.approx(naive_nll(0.05, lab, mask))
    assert res["positive_ratio"] == pytest.approx(y.mean())


@pytest.mark.parametrize("exact_limit", [10, 5_000_000])
def test_dask_equals_numpy(exact_limit):
    p, lab = make_maps(seed=7)
    mask = xr.ones_like(lab, dtype=bool)
    mask[:, 50:] = False
    ref = evaluate(p, lab, mask, exact_limit=exact_limit, train_ratio=0.1, roc=True)
    for chunks in ({"y": 13, "x": 17}, {"y": 60, "x": 9}, {"y": 7, "x": 70}):
        got = evaluate(
            p.chunk(chunks),
            lab.chunk({"y": 20, "x": 20}),
            mask.chunk(chunks),
            exact_limit=exact_limit,
            train_ratio=0.1,
            roc=True,
        )
        assert_results_close(got, ref)


@pytest.mark.parametrize("exact_limit", [10, 5_000_000])
def test_evaluate_is_a_single_compute_of_reductions(exact_limit):
    p, lab = make_maps(seed=8)
    p, lab = p.chunk({"y": 20, "x": 25}), lab.chunk({"y": 20, "x": 25})
    mask = p > 0.001  # lazy
    with raise_if_dask_computes(max_computes=1):
        res = evaluate(p, lab, mask, exact_limit=exact_limit, roc=True)
    assert res["auc_method"] == ("histogram" if exact_limit == 10 else "exact")
    with raise_if_dask_computes(max_computes=1):
        nll(p, lab)
    with raise_if_dask_computes(max_computes=1):
        naive_ratio(lab, mask)


def test_large_map_with_few_evaluated_pixels_is_exact():
    """A mask leaving few pixels on a map above exact_limit: a second compute, exact AUC."""
    p, lab = make_maps(seed=9)
    mask = xr.zeros_like(lab, dtype=bool)
    mask[10:30, 10:30] = True
    pv, y = known(p, lab, mask)
    with raise_if_dask_computes(max_computes=2):
        res = evaluate(p.chunk(16), lab.chunk(16), mask.chunk(16), exact_limit=1000)
    assert res["auc_method"] == "exact" and res["auc_error_bound"] == 0
    assert res["auc"] == pytest.approx(metrics.roc_auc_score(y, pv), abs=1e-12)


def test_patchset_core_mask_as_mask():
    from xlandslide.grid import PatchGeometry
    from xlandslide.patches import make_patches

    p, lab = make_maps(seed=10)
    region = xr.Dataset({"label": lab}).chunk({"y": 20, "x": 20})
    ps = make_patches(region, PatchGeometry(core=10, halo=2))
    mask = ps.core_mask("test", like=region)
    with raise_if_dask_computes(max_computes=1):
        res = evaluate(p.chunk({"y": 20, "x": 20}), region["label"], mask)
    pv, y = known(p, lab, mask.compute())
    assert res["n_pixels"] == y.size
    assert res["nll"] == pytest.approx(metrics.log_loss(y, pv, labels=[0, 1]), rel=1e-6)


def test_lazily_indexed_store(tmp_path):
    p, lab = make_maps(seed=11)
    xr.Dataset({"prob": p, "label": lab}).to_zarr(tmp_path / "m.zarr", consolidated=False)
    ds = xr.open_zarr(tmp_path / "m.zarr", chunks=None, consolidated=False)
    assert ds["prob"].chunks is None
    ref = evaluate(p, lab, exact_limit=10)
    got = evaluate(ds["prob"], ds["label"], exact_limit=10)
    assert_results_close(got, ref)


@settings(max_examples=15, deadline=None)
@given(chunks=yx_chunks((60, 70)), mask_chunks=yx_chunks((60, 70), max_chunks=3))
def test_any_chunking_gives_the_same_metrics(chunks, mask_chunks):
    p, lab = make_maps(seed=12)
    mask = xr.DataArray(np.add.outer(np.arange(60), np.arange(70)) % 4 > 0, dims=("y", "x"))
    mask = mask.assign_coords(p.coords)
    for exact_limit in (10, 5_000_000):
        ref = evaluate(p, lab, mask, exact_limit=exact_limit, roc=True)
        c, m = dict(zip(("y", "x"), chunks)), dict(zip(("y", "x"), mask_chunks))
        got = evaluate(p.chunk(c), lab.chunk(m), mask.chunk(m), exact_limit=exact_limit, roc=True)
        assert_results_close(got, ref)


def test_raw_numpy_arrays():
    p, lab = make_maps(seed=13)
    pv, y = known(p, lab)
    res = evaluate(p.values, lab.values)
    assert res["auc"] == pytest.approx(metrics.roc_auc_score(y, pv), abs=1e-12)
    with pytest.raises(ShapeError, match="2-D"):
        evaluate(p.values.ravel(), lab.values.ravel())


def test_errors():
    p, lab = make_maps()
    other = lab.assign_coords(x=lab.x + 5.0)
    with pytest.raises(GridMismatchError):
        evaluate(p, other)
    with pytest.raises(GridMismatchError, match="CRS"):
        evaluate(p, lab.rio.write_crs("EPSG:4326"))
    with pytest.raises(GridMismatchError):
        evaluate(p, lab, lab.isel(y=slice(0, 30)) > 0)
    with pytest.raises(EvaluationError, match=r"outside \[0, 1\]"):
        nll(p * 10, lab)
    bad = lab.copy()
    bad[30, 30] = 3
    with pytest.raises(EvaluationError, match="label other than"):
        evaluate(p, bad)
    with pytest.raises(EvaluationError, match="both classes"):
        roc_auc(p, xr.zeros_like(lab))
    with pytest.raises(EvaluationError, match="both classes"):
        roc_curve(p, xr.zeros_like(lab))
    res = evaluate(p, xr.zeros_like(lab))
    assert math.isnan(res["auc"]) and res["n_positive"] == 0
    with pytest.raises(EvaluationError, match="floating"):
        evaluate(lab, lab)
    with pytest.raises(ShapeError, match="dims"):
        evaluate(p.rename(y="lat"), lab)
    # the typed errors are still ValueErrors
    assert issubclass(EvaluationError, ValueError) and issubclass(ShapeError, ValueError)


# --------------------------------------------------------------------------- Brier, PR AUC


def test_brier_score_equals_sklearn():
    p, lab = make_maps(seed=14)
    p[5, 5] = np.nan  # left out
    pv, y = known(p, lab)
    ref = metrics.brier_score_loss(y, pv)
    assert brier_score(p, lab) == pytest.approx(ref, rel=1e-9)
    assert evaluate(p, lab)["brier"] == pytest.approx(ref, rel=1e-9)
    assert evaluate(p, lab, exact_limit=10)["brier"] == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_exact_average_precision_equals_sklearn(seed, ties):
    p, lab = make_maps(seed=seed, ties=ties)
    pv, y = known(p, lab)
    ap, bound = average_precision(p, lab)
    assert bound == 0.0
    assert ap == pytest.approx(metrics.average_precision_score(y, pv), abs=1e-12)
    assert evaluate(p, lab)["pr_auc"] == ap


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("bins", [16, 64, BINS])
def test_histogram_average_precision_within_its_bound(seed, ties, bins):
    p, lab = make_maps(seed=seed, ties=ties)
    pv, y = known(p, lab)
    exact = metrics.average_precision_score(y, pv)
    res = evaluate(p, lab, exact_limit=10, bins=bins)
    assert res["auc_method"] == "histogram"
    assert abs(res["pr_auc"] - exact) <= res["pr_auc_error_bound"] + 1e-12
    if bins == BINS and not ties:
        assert res["pr_auc_error_bound"] < 2e-3
    if bins == 16 and not ties:
        assert res["pr_auc_error_bound"] > 0


def test_average_precision_bound_holds_for_adversarial_bins():
    """Within one bin any order and any tie structure stays inside the bound."""
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(5, 60))
        y = rng.random(n) < rng.uniform(0.1, 0.9)
        y[0], y[1] = True, False
        # values crowded in few coarse bins, with random ties
        p = np.round(rng.uniform(0.30, 0.36, n), int(rng.integers(1, 4)))
        ap, bound = average_precision(p[None, :], y[None, :].astype("int8"), exact_limit=0, bins=8)
        exact = metrics.average_precision_score(y, p)
        assert abs(ap - exact) <= bound + 1e-12


def test_average_precision_special_cases():
    # a perfect ranking: AP 1, exactly, even from the histogram
    y = np.array([[0, 0, 1, 1, 0, 1]], "int8")
    p = np.array([[0.1, 0.2, 0.9, 0.8, 0.3, 0.7]])
    assert average_precision(p, y) == (1.0, 0.0)
    ap, bound = average_precision(p, y, exact_limit=0)
    assert abs(ap - 1.0) <= bound + 1e-12
    # a constant map: AP = positive ratio (one tied threshold), exactly
    const = np.full((1, 6), 0.4)
    assert average_precision(const, y, exact_limit=0) == (pytest.approx(0.5), 0.0)
    with pytest.raises(EvaluationError, match="both classes"):
        average_precision(p, np.zeros_like(y))


@settings(max_examples=10, deadline=None)
@given(chunks=yx_chunks((60, 70)))
def test_brier_and_average_precision_any_chunking(chunks):
    p, lab = make_maps(seed=15)
    c = dict(zip(("y", "x"), chunks))
    for exact_limit in (10, 5_000_000):
        ref = evaluate(p, lab, exact_limit=exact_limit)
        got = evaluate(p.chunk(c), lab.chunk(c), exact_limit=exact_limit)
        assert got["brier"] == pytest.approx(ref["brier"], rel=1e-12)
        assert got["pr_auc"] == ref["pr_auc"]
        assert got["pr_auc_error_bound"] == ref["pr_auc_error_bound"]
