"""Calibration: reliability curve and ECE against scikit-learn, streaming, chunk-invariant."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve

import xlandslide
from tests.helpers import raise_if_dask_computes
from tests.strategies import yx_chunks
from xlandslide.errors import ConfigError, EvaluationError, ShapeError
from xlandslide.evaluate.calibration import SUSCEPTIBILITY_EDGES, calibration


def _case(seed=0, shape=(60, 70)):
    rng = np.random.default_rng(seed)
    p = rng.beta(0.5, 8.0, size=shape)
    y = (rng.random(shape) < np.clip(1.3 * p, 0, 1)).astype(np.int8)  # under-confident map
    y[:4] = -1  # unknown rows
    p[10, :5] = np.nan  # no prediction
    p[20, 3] = 1.0  # the closed right edge
    dims = ("y", "x")
    return xr.DataArray(p, dims=dims), xr.DataArray(y, dims=dims)


def _known(p, y, mask=None):
    sel = (y.values >= 0) & np.isfinite(p.values)
    if mask is not None:
        sel &= mask.values
    return p.values[sel], y.values[sel]


@pytest.mark.parametrize("n_bins", [5, 10])
def test_uniform_bins_equal_sklearn(n_bins):
    p, y = _case()
    got = calibration(p, y, bins=n_bins)
    pv, yv = _known(p, y)
    prob_true, prob_pred = calibration_curve(yv, pv, n_bins=n_bins, strategy="uniform")
    full = got["count"] > 0
    np.testing.assert_allclose(got["observed_frequency"][full], prob_true, rtol=1e-12)
    np.testing.assert_allclose(got["mean_predicted"][full], prob_pred, rtol=1e-12)
    assert got["n_pixels"] == pv.size == got["count"].sum()
    # ECE from its definition
    idx = np.clip(np.searchsorted(got["edges"], pv, side="right") - 1, 0, n_bins - 1)
    ece = sum(
        np.sum(idx == b) / pv.size * abs(yv[idx == b].mean() - pv[idx == b].mean())
        for b in range(n_bins)
        if np.any(idx == b)
    )
    assert got["ece"] == pytest.approx(ece, rel=1e-12)
    assert got["max_error"] == pytest.approx(np.max(np.abs(prob_true - prob_pred)))


@pytest.mark.parametrize("chunks", [7, (13, 70), 32])
def test_dask_streaming_equals_numpy_and_is_lazy(chunks):
    p, y = _case(1)
    mask = xr.DataArray(np.add.outer(np.arange(60), np.arange(70)) % 3 > 0, dims=("y", "x"))
    ref = calibration(p, y, mask, bins=SUSCEPTIBILITY_EDGES)
    c = {"y": chunks, "x": chunks} if np.isscalar(chunks) else dict(zip(("y", "x"), chunks))
    with raise_if_dask_computes(max_computes=1):
        got = calibration(p.chunk(c), y.chunk(c), mask.chunk(c), bins=SUSCEPTIBILITY_EDGES)
    np.testing.assert_array_equal(got["count"], ref["count"])
    np.testing.assert_allclose(got["mean_predicted"], ref["mean_predicted"], rtol=1e-12)
    np.testing.assert_allclose(got["observed_frequency"], ref["observed_frequency"], rtol=1e-12)
    assert got["ece"] == pytest.approx(ref["ece"], rel=1e-12)
    assert ref["n_pixels"] == _known(p, y, mask)[0].size


def test_perfectly_calibrated_bins_have_no_error():
    p = xr.DataArray(np.array([[0.25] * 4 + [0.75] * 4]), dims=("y", "x"))
    y = xr.DataArray(np.array([[1, 0, 0, 0, 1, 1, 1, 0]], dtype=np.int8), dims=("y", "x"))
    got = calibration(p, y, bins=2)
    assert got["ece"] == 0 and got["max_error"] == 0
    assert got["count"].tolist() == [4, 4]


@settings(max_examples=15, deadline=None)
@given(chunks=yx_chunks((60, 70)), bins=st.sampled_from([3, 10, SUSCEPTIBILITY_EDGES]))
def test_any_chunking_gives_the_same_curve(chunks, bins):
    p, y = _case(2)
    ref = calibration(p, y, bins=bins)
    c = dict(zip(("y", "x"), chunks))
    got = calibration(p.chunk(c), y.chunk(c), bins=bins)
    np.testing.assert_array_equal(got["count"], ref["count"])
    np.testing.assert_allclose(got["mean_predicted"], ref["mean_predicted"], rtol=1e-12)
    np.testing.assert_allclose(got["observed_frequency"], ref["observed_frequency"], rtol=1e-12)
    assert got["ece"] == pytest.approx(ref["ece"], rel=1e-12)


def test_the_package_attribute_is_the_function():
    assert xlandslide.calibration is calibration


def test_errors():
    p, y = _case()
    for bad in (0, 2.5, [0.0, 0.5], [0.1, 1.0], [0.0, 0.6, 0.4, 1.0], [[0, 1]]):
        with pytest.raises(ConfigError, match="bin"):
            calibration(p, y, bins=bad)
    with pytest.raises(EvaluationError, match="outside"):
        calibration(p * 3, y)
    bad_label = y.copy()
    bad_label[30, 30] = 2
    with pytest.raises(EvaluationError, match="label other than"):
        calibration(p, bad_label)
    with pytest.raises(ShapeError, match="dims"):
        calibration(p.rename(x="lon"), y)
    with pytest.raises(EvaluationError, match="floating"):
        calibration(y, y)
    # the typed errors are still ValueErrors
    assert all(issubclass(e, ValueError) for e in (ConfigError, EvaluationError, ShapeError))
