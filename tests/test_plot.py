"""Tests of xlandslide.plot: figures are drawn (Agg, no pyplot) and written as PNG."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import xarray as xr

from tests.helpers import raise_if_dask_computes
from xlandslide.errors import ConfigError, MissingOptionalDependency, ShapeError
from xlandslide.evaluate import calibration, evaluate, roc_curve
from xlandslide.plot import (
    plot_calibration,
    plot_model_maps,
    plot_roc,
    plot_susceptibility,
    save_figure,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_maps(ny=50, nx=64, seed=0):
    rng = np.random.default_rng(seed)
    label = (rng.random((ny, nx)) < 0.1).astype("int8")
    label[:, :5] = -1
    prob = np.clip(rng.random((ny, nx)) * 0.3 + 0.5 * label, 0, 1).astype("float32")
    prob[label < 0] = np.nan
    coords = {"y": 1000.0 - 10 * np.arange(ny), "x": 10.0 * np.arange(nx)}
    return (
        xr.DataArray(prob, dims=("y", "x"), coords=coords),
        xr.DataArray(label, dims=("y", "x"), coords=coords),
    )


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 2000


def test_susceptibility_map_saved(tmp_path):
    prob, label = make_maps()
    fig = plot_susceptibility(prob, label, title="synthetic")
    assert len(fig.axes) == 3  # two panels and a colour bar
    assert fig.axes[0].images[0].get_array().shape == (50, 64)
    assert fig.axes[0].get_xlim() == pytest.approx((-5.0, 635.0))
    assert_png(save_figure(fig, tmp_path / "sub" / "map.png"))


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_large_maps_are_downsampled(backend, tmp_path):
    prob, label = make_maps(100, 120)
    if backend == "dask":
        prob, label = prob.chunk(32), label.chunk(32)
    # one small coarsened map each, and the base rate of the labels
    with raise_if_dask_computes(max_computes=3):
        fig = plot_susceptibility(prob, label, max_pixels=1000)
    # factor ceil(sqrt(12000 / 1000)) = 4
    assert fig.axes[0].images[0].get_array().shape == (25, 30)
    truth = fig.axes[1].images[0].get_array()
    assert truth.shape == (25, 30)
    if backend == "dask":  # coarsened max: a block with any landslide shows one
        expected = label.values.reshape(25, 4, 30, 4).max(axis=(1, 3))
        np.testing.assert_array_equal(truth.filled(-1), np.where(expected < 0, -1, expected))
    assert_png(save_figure(fig, tmp_path / "map.png"))


def test_roc_plot_from_curves_and_results(tmp_path):
    prob, label = make_maps()
    fpr, tpr, _ = roc_curve(prob, label)
    res = evaluate(prob, label, roc=True)
    fig = plot_roc({"tuple": (fpr, tpr), "evaluate": res})
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[1] == f"evaluate (AUC = {res['auc']:.3f})"
    assert legend[0] == f"tuple (AUC = {np.trapezoid(tpr, fpr):.3f})"
    assert legend[2] == "Naive (AUC = 0.500)"
    assert np.trapezoid(tpr, fpr) == pytest.approx(res["auc"])
    assert_png(save_figure(fig, tmp_path / "roc.png"))
    fig = plot_roc({"m": res}, naive=False)
    assert len(fig.axes[0].get_legend().get_texts()) == 1
    with pytest.raises(ConfigError, match="roc=True"):
        plot_roc({"m": evaluate(prob, label)})


@pytest.mark.parametrize("log", [True, False])
def test_reliability_diagram(tmp_path, log):
    prob, label = make_maps()
    res = calibration(prob, label, bins=5)
    fig = plot_calibration({"m": res}, log=log)
    ax = fig.axes[0]
    assert ax.get_xscale() == ("log" if log else "linear")
    line = ax.get_lines()[0]
    full = res["count"] > 0
    np.testing.assert_allclose(line.get_xdata(), res["mean_predicted"][full])
    freq = res["observed_frequency"][full]
    drawn = np.asarray(line.get_ydata())
    if log:  # zero frequencies sit on the bottom edge
        freq = np.where(freq > 0, freq, ax.get_ylim()[0])
    np.testing.assert_allclose(drawn, freq)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [f"m (ECE = {res['ece']:.4f})", "perfect calibration"]
    assert_png(save_figure(fig, tmp_path / "calibration.png"))


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_model_maps_whole_and_window(tmp_path, backend):
    prob, label = make_maps()
    other = (prob * 0.5).rename("other")
    if backend == "dask":
        prob, other, label = prob.chunk(16), other.chunk(16), label.chunk(16)
    window = {"y": slice(10, 30), "x": slice(20, 52)}
    with raise_if_dask_computes(max_computes=10 if backend == "dask" else 0):
        fig = plot_model_maps({"a": prob, "b": other}, label, window=window)
    axes = np.asarray(fig.axes[:6]).reshape(3, 2)
    titles = [ax.get_title() for ax in axes[:, 1]]
    assert titles == ["a: window", "b: window", "ground truth: window"]
    shown = axes[0, 1].get_images()[0].get_array()
    np.testing.assert_allclose(np.ma.filled(shown, np.nan), prob.isel(window).values)
    truth = axes[2, 1].get_images()[0].get_array()
    np.testing.assert_array_equal(truth.filled(-1), label.isel(window).values)
    # one shared colour scale for every probability panel: the 2-98 % of both maps' values
    limits = {ax.get_images()[0].get_clim() for ax in axes[:2].ravel()}
    pooled = np.concatenate([prob.values.ravel(), other.values.ravel()])
    assert limits == {tuple(np.nanpercentile(pooled, [2, 98]))}
    assert len(axes[0, 0].patches) == 1  # the window outlined on the whole map
    assert_png(save_figure(fig, tmp_path / "maps.png"))
    with pytest.raises(ConfigError, match="holds no pixel"):
        plot_model_maps({"a": prob}, label, window={"y": slice(60, 70)})
    with pytest.raises(ConfigError, match="empty"):
        plot_model_maps({}, label)
    with pytest.raises(ShapeError, match="shape"):
        plot_model_maps({"a": prob.isel(y=slice(0, 10))}, label)


def test_draw_into_given_axes(tmp_path):
    from matplotlib.figure import Figure

    prob, label = make_maps()
    fig = Figure(figsize=(12, 4))
    axes = fig.subplots(1, 3)
    assert plot_susceptibility(prob, label, ax=axes[:2]) is fig
    assert plot_roc({"m": roc_curve(prob, label)}, ax=axes[2]) is fig
    assert_png(save_figure(fig, tmp_path / "all.png"))


def test_bad_inputs():
    prob, label = make_maps()
    with pytest.raises(ShapeError, match="dims"):
        plot_susceptibility(prob.values, label)
    with pytest.raises(ShapeError, match="differ in shape"):
        plot_susceptibility(prob.isel(x=slice(0, 10)), label)
    with pytest.raises(ConfigError, match="one per panel"):
        from matplotlib.figure import Figure

        plot_susceptibility(prob, label, ax=Figure().subplots(1, 3))


@pytest.mark.parametrize("module", ["matplotlib", "matplotlib.figure"])
def test_missing_matplotlib_names_the_extra(monkeypatch, module):
    prob, label = make_maps()
    monkeypatch.setitem(sys.modules, module, None)
    for draw in (lambda: plot_susceptibility(prob, label), lambda: plot_roc({})):
        with pytest.raises(MissingOptionalDependency, match=r"xlandslide\[plot\]"):
            draw()
    with pytest.raises(ImportError):  # also an ImportError
        plot_calibration({})


# --------------------------------------------------------------------------- skill figures


def _georef(a):
    import rioxarray  # noqa: F401

    return a.rio.write_crs("EPSG:32717")


def test_zoning_map_has_a_classed_legend_and_map_axes(tmp_path):
    from xlandslide.evaluate.zoning import zoning, zoning_table
    from xlandslide.io.classed import class_colours
    from xlandslide.plot import plot_zoning

    prob, label = make_maps()
    zones = zoning(_georef(prob), "quantile", 5)
    table = zoning_table(zones, label)
    fig = plot_zoning(zones, table=table)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0].startswith("very high:") and texts[-1].startswith("very low:")
    assert "% area" in texts[0] and "% slides" in texts[0]
    colours = [
        tuple(np.round(np.array(p.get_facecolor()[:3]) * 255).astype(int))
        for p in ax.get_legend().get_patches()
    ]
    assert colours[::-1] == class_colours(5)
    assert "EPSG:32717" in ax.get_xlabel() and "m" in ax.get_ylabel()
    assert ax.get_xlim() == pytest.approx((-5.0, 635.0))
    assert_png(save_figure(fig, tmp_path / "zones.png"))
    with pytest.raises(ConfigError, match="class names"):
        plot_zoning(zones.assign_attrs(class_names=[]))


def test_rate_curves_importance_and_uncertainty(tmp_path):
    import pandas as pd

    from xlandslide.evaluate.rates import rate_curve
    from xlandslide.plot import plot_importance, plot_rate_curves, plot_uncertainty

    prob, label = make_maps()
    half = xr.zeros_like(label, dtype=bool)
    half[:, 32:] = True
    curves = {
        "success (training labels)": rate_curve(prob, label, ~half),
        "prediction (held-out labels)": rate_curve(prob, label, half),
    }
    fig = plot_rate_curves(curves)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3 and lines[0].get_xdata()[-1] == pytest.approx(100)
    assert "AUC = " in fig.axes[0].get_legend().get_texts()[0].get_text()
    assert_png(save_figure(fig, tmp_path / "rates.png"))
    table = pd.DataFrame(
        {
            "name": ["slope", "geology"],
            "kind": ["feature", "group"],
            "importance": [0.2, -0.01],
            "sd": [0.02, 0.01],
        }
    )
    fig = plot_importance(table)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["slope", "geology"]
    assert len(fig.axes[0].patches) == 2
    weights = pd.DataFrame({"feature": ["a", "b"], "weight": [1.0, -0.5], "sd": [0.0, 0.0]})
    assert_png(save_figure(plot_importance(weights), tmp_path / "w.png"))
    with pytest.raises(ConfigError, match="tables"):
        plot_importance(pd.DataFrame({"x": [1]}))
    u = xr.Dataset({"mean": _georef(prob), "std": _georef(prob) / 4}, attrs={"n_members": 5})
    fig = plot_uncertainty(u)
    assert "EPSG:32717" in fig.axes[0].get_xlabel()
    assert fig.get_suptitle() == "ensemble of 5 models"
    assert_png(save_figure(fig, tmp_path / "u.png"))


def test_per_fold_roc(tmp_path):
    import pandas as pd

    from xlandslide.plot import plot_cv_roc
    from xlandslide.workflows.cv import CVResult

    prob, label = make_maps()
    masks = [label.copy(data=np.arange(64)[None, :].repeat(50, 0) % 2 == f) for f in (0, 1)]
    res = [evaluate(prob, label, m, roc=True) for m in masks]
    table = pd.DataFrame({"model": ["llr", "llr"], "fold": [0, 1], "auc": [r["auc"] for r in res]})
    cv = CVResult(
        table,
        {},
        {},
        {},
        {},
        None,
        {"method": "kmeans"},
        {"llr": [(r["fpr"], r["tpr"]) for r in res]},
    )
    fig = plot_cv_roc(cv)
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts[0] == f"fold 1 (AUC = {res[0]['auc']:.3f})" and len(texts) == 3
    assert "kmeans" in fig.axes[0].get_title()
    assert_png(save_figure(fig, tmp_path / "cv.png"))
    with pytest.raises(ConfigError, match="no model"):
        plot_cv_roc(cv, model="lacnn")
