"""Tests of xlandslide.evaluate.rates: success / prediction-rate curves and their AUC."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tests.evaluate.test_zoning import make_map
from xlandslide.errors import EvaluationError
from xlandslide.evaluate.rates import rate_curve


def _direct_rate_auc(p, is_slide):
    """Area under (cum. area, cum. landslides), pixels ranked high to low, ties grouped."""
    order = np.argsort(-p, kind="stable")
    ps, ls = p[order], is_slide[order]
    _, start = np.unique(-ps, return_index=True)
    groups = np.split(np.arange(ps.size), np.sort(start)[1:])
    x = [0.0] + [g[-1] + 1 for g in groups]
    y = [0.0, *list(np.cumsum([ls[g].sum() for g in groups]))]
    x, y = np.array(x) / ps.size, np.array(y) / ls.sum()
    return float(np.trapezoid(y, x))


@pytest.mark.parametrize("ties", [False, True])
def test_success_rate_auc_equals_a_direct_computation(ties):
    p, lab = make_map(seed=3, ties=ties)
    train = xr.zeros_like(lab, dtype=bool)
    train[:40] = True
    valid = np.isfinite(p.values)
    pv = p.values[valid].astype(np.float64)
    slide = ((lab.values == 1) & train.values)[valid]
    want = _direct_rate_auc(pv, slide)
    r = rate_curve(p, lab, train)
    assert r["auc_error_bound"] == 0 and r["auc"] == pytest.approx(want, abs=1e-12)
    assert r["n_landslide"] == slide.sum() and r["n_area"] == valid.sum()
    assert r["area_fraction"][0] == 0 and r["landslide_fraction"][-1] == 1
    stream = rate_curve(p.chunk(16), lab.chunk(16), train.chunk(16), exact_limit=0)
    assert abs(stream["auc"] - want) <= stream["auc_error_bound"] + 1e-12
    # prediction rate: held-out labels; an area mask restricts the ranking
    held = rate_curve(p, lab, ~train, area=train | ~train)
    assert 0.5 < held["auc"] < 1


def test_rate_curve_errors():
    p, lab = make_map()
    with pytest.raises(EvaluationError, match="landslide pixels"):
        rate_curve(p, xr.zeros_like(lab))
