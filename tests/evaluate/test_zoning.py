"""Tests of xlandslide.evaluate.zoning: breaks, class maps, the zoning table, rate curves."""

from __future__ import annotations

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from hypothesis import given, settings

from tests.helpers import raise_if_dask_computes
from tests.strategies import yx_chunks
from xlandslide.errors import ConfigError, EvaluationError
from xlandslide.evaluate.rates import rate_curve
from xlandslide.evaluate.zoning import (
    class_names,
    zoning,
    zoning_breaks,
    zoning_table,
)


def make_map(ny=60, nx=70, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    label = (rng.random((ny, nx)) < 0.08).astype("int8")
    label[:3] = -1
    prob = 1 / (1 + np.exp(-(rng.normal(-2.5, 1.0, (ny, nx)) + 1.2 * label)))
    if ties:
        prob = np.round(prob, 2)
    prob[0, :5] = np.nan
    coords = {"y": 5000.0 - 10 * np.arange(ny), "x": 10.0 * np.arange(nx)}
    p = xr.DataArray(prob.astype("float32"), dims=("y", "x"), coords=coords)
    lab = xr.DataArray(label, dims=("y", "x"), coords=coords)
    return p.rio.write_crs("EPSG:32632"), lab.rio.write_crs("EPSG:32632")


def test_quantile_classes_hold_equal_areas():
    p, _ = make_map()
    n_valid = int(np.isfinite(p.values).sum())  # 4195 valid pixels
    zones = zoning(p, "quantile", 5)
    assert zones.dtype == np.uint8 and zones.chunks is not None
    c = zones.values
    counts = np.bincount(c[c < 255], minlength=5)
    # by hand: class i holds the pixels ranked [round(i N / 5), round((i + 1) N / 5))
    want = np.diff([round(i * n_valid / 5) for i in range(6)])
    np.testing.assert_array_equal(counts, want)
    assert (c[np.isnan(p.values)] == 255).all()
    assert zones.attrs["class_names"] == ["very low", "low", "moderate", "high", "very high"]
    # the streaming breaks: each class's area exact up to the pixels of one bin
    stream = zoning(p.chunk(17), "quantile", 5, exact_limit=0).values
    got = np.bincount(stream[stream < 255], minlength=5)
    assert np.abs(got - want).max() <= 3


def test_equal_interval_user_and_natural_breaks():
    import jenkspy

    p, _ = make_map(seed=1)
    v = p.values[np.isfinite(p.values)].astype(np.float64)
    b = zoning_breaks(p, "equal_interval", 4)
    np.testing.assert_allclose(b, v.min() + (v.max() - v.min()) * np.arange(1, 4) / 4)
    np.testing.assert_allclose(zoning_breaks(p.chunk(20), "equal_interval", 4, exact_limit=0), b)
    jb = zoning_breaks(p, "natural_breaks", 5, sample=10_000)
    np.testing.assert_allclose(jb, jenkspy.jenks_breaks(v, n_classes=5)[1:-1])
    stream = zoning_breaks(p.chunk(25), "natural_breaks", 5, sample=10_000, exact_limit=0)
    np.testing.assert_allclose(stream, jb)  # the whole map is the sample
    small = zoning_breaks(p.chunk(25), "natural_breaks", 5, sample=500, exact_limit=0)
    assert small.shape == (4,) and np.all(np.diff(small) > 0)
    zones = zoning(p, breaks=[0.05, 0.1, 0.3])
    np.testing.assert_array_equal(
        zones.values[np.isfinite(p.values)],
        np.searchsorted([0.05, 0.1, 0.3], v, side="right"),
    )
    assert zones.attrs["method"] == "user" and zones.attrs["class_names"][-1] == "very high"


def test_zoning_table_from_counts():
    p, lab = make_map(seed=2)
    zones = zoning(p, "quantile", 5)
    mask = xr.zeros_like(lab, dtype=bool)
    mask[:, :35] = True
    t = zoning_table(zones, lab, mask)
    c, y, m = zones.values, lab.values, mask.values
    pixels = np.array([(c == i).sum() for i in range(5)])
    slides = np.array([((c == i) & (y == 1) & m).sum() for i in range(5)])
    np.testing.assert_array_equal(t["pixels"], pixels)
    np.testing.assert_array_equal(t["landslide_pixels"], slides)
    np.testing.assert_allclose(t["area_km2"], pixels * 100 / 1e6)
    np.testing.assert_allclose(t["area_pct"], 100 * pixels / pixels.sum())
    np.testing.assert_allclose(t["landslide_pct"], 100 * slides / slides.sum())
    np.testing.assert_allclose(t["density"], slides / pixels)
    fr = (slides / slides.sum()) / (pixels / pixels.sum())
    np.testing.assert_allclose(t["frequency_ratio"], fr)
    assert t["frequency_ratio"].iloc[-1] > 1 > t["frequency_ratio"].iloc[0]  # informative map
    assert list(t["name"]) == list(class_names(5))
    assert t["upper"].iloc[0] == zones.attrs["breaks"][0]


def test_zoning_is_lazy_and_one_pass():
    p, _lab = make_map(seed=4)
    p = p.chunk(20)
    with raise_if_dask_computes(max_computes=1):
        zones = zoning(p, "quantile", 5, exact_limit=0)
    with raise_if_dask_computes(max_computes=1):
        zoning(p, "natural_breaks", 3, exact_limit=0, sample=300)
    with raise_if_dask_computes():
        zoning(p, breaks=[0.1, 0.2])
    assert zones.chunks is not None


@settings(max_examples=8, deadline=None)
@given(chunks=yx_chunks((60, 70)))
def test_breaks_and_classes_do_not_depend_on_chunks(chunks):
    p, lab = make_map(seed=5)
    c = dict(zip(("y", "x"), chunks))
    for method in ("quantile", "equal_interval", "natural_breaks"):
        ref = zoning(p.chunk(30), method, 5, exact_limit=0, sample=400)
        got = zoning(p.chunk(c), method, 5, exact_limit=0, sample=400)
        assert got.attrs["breaks"] == ref.attrs["breaks"]
        np.testing.assert_array_equal(got.values, ref.values)
    r0 = rate_curve(p.chunk(30), lab.chunk(30), exact_limit=0)
    r1 = rate_curve(p.chunk(c), lab.chunk(c), exact_limit=0)
    assert r0["auc"] == r1["auc"]


def test_zoning_errors():
    p, _ = make_map()
    with pytest.raises(ConfigError, match="unknown zoning method"):
        zoning(p, "jenks")
    with pytest.raises(ConfigError, match="n_classes"):
        zoning(p, "quantile", 1)
    with pytest.raises(ConfigError, match="increasing"):
        zoning(p, breaks=[0.3, 0.1])
    with pytest.raises(EvaluationError, match="outside"):
        zoning(p * 3, "quantile")
    with pytest.raises(EvaluationError, match="distinct"):
        zoning(xr.full_like(p, 0.2), "natural_breaks", 3)


def test_a_flat_map_is_zoned_with_a_warning():
    """Zoning classes that differ in the sixth decimal are not classes (issue 15)."""
    from xlandslide.errors import DegenerateMapWarning
    from xlandslide.evaluate.zoning import zoning

    rng = np.random.default_rng(0)
    flat = xr.DataArray(0.003553 + 1e-6 * rng.random((40, 50)), dims=("y", "x"))
    with pytest.warns(DegenerateMapWarning, match="nearly constant"):
        zoning(flat, "quantile", 5)
    varied = xr.DataArray(rng.random((40, 50)) * 0.1, dims=("y", "x"))
    zoning(varied, "quantile", 5)  # no warning (warnings are errors in tests)
