"""Report-grade figures (issue 19 item 5): map decorations, percentile stretch and base
rate, windows inside the data, quantile calibration, importance of the present classes,
the zoning / CV / uncertainty figures and their one-call writers."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xlandslide as xl
from xlandslide.evaluate import calibration, evaluate
from xlandslide.plot import (
    class_presence,
    cv_figure,
    importance_figure,
    inside_window,
    plot_calibration,
    plot_importance,
    plot_model_maps,
    plot_susceptibility,
    quantile_calibration,
    save_figure,
    susceptibility_figure,
    uncertainty_figure,
    zoning_figure,
)
from xlandslide.plot.decor import axis_units, nice_length

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CRS = "EPSG:32717"


@pytest.fixture(scope="module")
def region():
    """A 120 x 160 synthetic region at 25 m in UTM 17S (4 km wide), its north-east corner
    outside the boundary (labels -1, no prediction there)."""
    r = xl.synthetic_region((120, 160), seed=3, chunks=64, pixel_size=25.0, crs=CRS,
                            origin=(379_000.0, 9_700_000.0))  # fmt: skip
    yy, xx = np.mgrid[:120, :160]
    outside = xr.DataArray((xx - yy) > 90, dims=("y", "x"), coords={"y": r.y, "x": r.x})
    label = r["label"].where(~outside, -1).astype("int8")
    return r.assign(label=label), outside


@pytest.fixture(scope="module")
def prob(region):
    r, outside = region
    slope = r["continuous"].sel(layer="slope")
    return (1 / (1 + np.exp(-(1.5 * slope - 4.0)))).astype("float32").where(~outside)


def _map_axes(fig):
    return [ax for ax in fig.axes if ax.get_images() and "EPSG" in ax.get_xlabel()]


def _decorated(ax):
    assert CRS in ax.get_xlabel() and CRS in ax.get_ylabel()
    assert ax.get_xlabel().startswith("Easting (") and ax.get_ylabel().startswith("Northing (")
    assert ax.get_title()
    assert any(a.get_gid() == "scale-bar" for a in ax.artists)
    assert any(t.get_gid() == "north-arrow" for t in ax.texts)


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def _base(label):
    lab = np.asarray(label.values)
    return (lab == 1).sum() / (lab >= 0).sum()


def test_susceptibility_map_is_report_grade(region, prob, tmp_path):
    r, _ = region
    path = susceptibility_figure(prob, tmp_path / "map.png", label=r, title="susceptibility")
    assert path.read_bytes()[:8] == PNG_MAGIC
    fig = _drawn(plot_susceptibility(prob, r["label"]))
    axes = _map_axes(fig)
    assert len(axes) == 2
    for k, ax in enumerate(axes):
        _decorated(ax)
        assert "(km)" in ax.get_xlabel()  # a 4 km wide map in km
        shown = [ax.get_xticklabels()] + ([ax.get_yticklabels()] if k == 0 else [])
        for ticks in shown:  # the right panel shares the left's y ticks
            texts = [t.get_text() for t in ticks if t.get_text()]
            assert 2 <= len(texts) <= 6 and all(len(t) <= 8 for t in texts), texts
            boxes = [t.get_window_extent() for t in ticks if t.get_text()]
            assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    lo, hi = axes[0].get_images()[0].get_clim()
    expected = np.nanpercentile(prob.values, [2, 98])
    np.testing.assert_allclose((lo, hi), expected, rtol=1e-6)
    cbar = next(ax for ax in fig.axes if any(ln.get_gid() == "base-rate" for ln in ax.lines))
    line = next(ln for ln in cbar.lines if ln.get_gid() == "base-rate")
    base = _base(r["label"])
    assert np.asarray(line.get_ydata())[0] == pytest.approx(max(base, lo))
    assert f"base rate {100 * base:.3g} %" in cbar.get_ylabel()


def test_log_stretch_and_given_base_rate(prob):
    fig = plot_susceptibility(prob, stretch="log", base_rate=0.003)
    im = fig.axes[0].get_images()[0]
    v = prob.values[np.isfinite(prob.values)]
    v = v[v > 0]
    assert type(im.norm).__name__ == "LogNorm"
    np.testing.assert_allclose(im.get_clim(), np.percentile(v, [2, 98]), rtol=1e-6)
    assert "base rate 0.3 %" in fig.axes[1].get_ylabel()


def test_ticks_in_km_and_metres_and_degrees(region):
    from xlandslide.plot.decor import _tick_formatter

    km = _tick_formatter(1000.0)
    km.set_locs([379_000.0, 379_500.0, 380_000.0])
    assert [km(v) for v in (379_000.0, 379_500.0)] == ["379.0", "379.5"]
    m = _tick_formatter(1.0)
    m.set_locs([5_100_000.0, 5_100_250.0])
    assert m(5_100_250.0) == "5,100,250"
    r, _ = region
    assert axis_units(r["label"])["unit"] == "km"
    small = r["label"].isel(y=slice(0, 20), x=slice(0, 20))
    assert axis_units(small)["unit"] == "m" and axis_units(small)["metres"] == 1.0
    geo = xr.DataArray(np.zeros((3, 3)), dims=("y", "x"),
                       coords={"y": [1.0, 0.5, 0.0], "x": [-78.0, -77.5, -77.0]})  # fmt: skip
    u = axis_units(geo.rio.write_crs("EPSG:4326"))
    assert (u["x"], u["unit"], u["crs"]) == ("Longitude", "°", "EPSG:4326")
    assert u["metres"] == pytest.approx(111_195, rel=1e-3)
    assert axis_units(geo)["crs"] is None


def test_nice_length_and_the_scale_bar_without_matplotlib_scalebar(prob, monkeypatch):
    assert [nice_length(v) for v in (2600, 999, 5, 0.37, 1000)] == [2000, 500, 5, 0.2, 1000]
    monkeypatch.setitem(sys.modules, "matplotlib_scalebar", None)
    monkeypatch.setitem(sys.modules, "matplotlib_scalebar.scalebar", None)
    fig = plot_susceptibility(prob)
    bar = next(a for a in fig.axes[0].artists if a.get_gid() == "scale-bar")
    assert type(bar).__name__ == "AnchoredSizeBar"
    # a quarter of the 4 km width: 1 km
    assert bar.txt_label.get_text() == "1 km"


def _brute_window(valid, label, side, cell):
    """Landslides in the window the rule picks, every cell-aligned position tried: a cell
    with any valid pixel is inside; the most landslides among the windows covering the
    most inside cells."""
    ny, nx = valid.shape
    rows = []
    for y0 in range(0, ny - side + 1, cell):
        for x0 in range(0, nx - side + 1, cell):
            inside = [
                valid[y : y + cell, x : x + cell].any()
                for y in range(y0, y0 + side, cell)
                for x in range(x0, x0 + side, cell)
            ]
            rows.append((np.mean(inside), int((label[y0 : y0 + side, x0 : x0 + side] == 1).sum())))
    top = max(r[0] for r in rows)
    return top, max(n for share, n in rows if share == top)


def test_zoom_window_lies_inside_the_data(region, prob):
    r, outside = region
    label = r["label"].compute()
    win = inside_window(label, {"m": prob}, size=30)  # cells of 3 pixels
    assert win["y"].stop - win["y"].start == 30 == win["x"].stop - win["x"].start
    assert win["y"].start % 3 == 0 and win["x"].start % 3 == 0
    assert not outside.isel(win).values.any()  # no pixel beyond the boundary
    top, best = _brute_window(np.isfinite(prob.values), label.values, 30, 3)
    assert top == 1.0 and int((label.isel(win).values == 1).sum()) == best
    # without maps: the labelled pixels are the data
    win = inside_window(label, size=30)
    top, best = _brute_window(label.values >= 0, label.values, 30, 3)
    assert not outside.isel(win).values.any()
    assert int((label.isel(win).values == 1).sum()) == best
    fig = plot_model_maps({"m": prob}, label)
    zoom = fig.axes[1].get_images()[0].get_array()
    assert np.isfinite(np.ma.filled(zoom, np.nan)).mean() > 0.97  # the default: inside
    for ax in fig.axes[:4]:
        _decorated(ax)


def test_calibration_quantile_bins_equal_counts(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.beta(0.5, 15, size=(200, 150))
    y = (rng.random(p.shape) < p).astype("int8")
    prob = xr.DataArray(p, dims=("y", "x"))
    label = xr.DataArray(y, dims=("y", "x"))
    assert abs(y.mean() - 0.03) < 0.005  # a 3 % base rate
    uniform = calibration(prob, label, bins=10)
    assert uniform["count"][0] > 0.9 * p.size  # uniform bins: nearly all in the first
    res = quantile_calibration(prob, label)
    assert len(res["count"]) == 10
    assert res["count"].max() - res["count"].min() <= 1
    assert res["count"].sum() == p.size
    lazy = quantile_calibration(prob.chunk(64), label.chunk(64))
    np.testing.assert_array_equal(lazy["count"], res["count"])
    fig = plot_calibration({"m": res})
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 10
    assert save_figure(fig, tmp_path / "c.png").read_bytes()[:8] == PNG_MAGIC


def test_importance_draws_the_present_classes_only(region, tmp_path):
    r, _ = region
    pres = class_presence(r)
    codes = r["categorical"].values
    groups = list(r["group"].values)
    for row in pres.itertuples():  # oracle: numpy counts of the codes
        g = groups.index(row.group)
        c = list(r["categorical"].attrs["classes"][row.group]).index(row._3)
        assert row.pixels == int((codes[g] == c).sum())
    names = ["slope", "dem", *pres["feature"]]
    rng = np.random.default_rng(1)
    weights = pd.DataFrame({"feature": names, "weight": rng.normal(size=len(names)), "sd": 0.1})
    fig = plot_importance(weights, presence=pres, max_bars=100)
    ax = fig.axes[0]
    shown = [t.get_text() for t in ax.get_yticklabels()]
    present = {"slope", "dem", *pres.loc[pres.pixels > 0, "feature"]}
    assert shown == [n for n in names if n in present]
    absent = int((pres.pixels == 0).sum())
    assert absent > 0 and f"{absent} classes absent" in ax.get_title()
    hatched = [bool(b.get_hatch()) for b in ax.patches]
    values = weights.set_index("feature").loc[shown, "weight"].to_numpy()
    assert hatched == list(values < 0)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"positive", "negative", "continuous layer"} <= set(legend)
    used = {g for g in pres.loc[pres.pixels > 0, "group"]}
    assert {f"group: {g}" for g in used} <= set(legend)
    path = importance_figure(weights, tmp_path / "imp.png", region=r)
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_zoning_figure_with_density_per_class(region, prob, tmp_path):
    from xlandslide.evaluate.zoning import zoning, zoning_table

    r, _ = region
    zones = zoning(prob, "quantile", 5)
    table = zoning_table(zones, r["label"])
    path = zoning_figure(zones, tmp_path / "zones.png", label=r)
    assert path.read_bytes()[:8] == PNG_MAGIC
    from xlandslide.plot import plot_zoning

    fig = plot_zoning(zones, table=table)
    _decorated(fig.axes[0])
    bars = fig.axes[1]
    widths = [p.get_width() for p in bars.patches]
    np.testing.assert_allclose(widths, 100 * table["density"].to_numpy())
    assert [t.get_text() for t in bars.get_yticklabels()] == list(table["name"])
    assert "density" in bars.get_xlabel()


def test_cv_figure_rocs_and_fold_map(region, prob, tmp_path):
    from xlandslide.patches.folds import spatial_folds
    from xlandslide.plot import plot_cv
    from xlandslide.workflows.cv import CVResult

    r, _ = region
    folds = spatial_folds(r, "kmeans", k=3, seed=0)
    res = [evaluate(prob, r["label"], folds.test_mask(f, r), roc=True) for f in range(3)]
    table = pd.DataFrame({"model": ["llr"] * 3, "fold": range(3), "auc": [x["auc"] for x in res]})
    curves = {"llr": [(x["fpr"], x["tpr"]) for x in res]}
    cv = CVResult(table, {}, {}, {}, {}, folds, {"method": "kmeans"}, curves)
    fig = plot_cv(cv, r)
    roc, fmap = fig.axes[0], fig.axes[1]
    assert len(roc.get_lines()) == 4  # three folds and the diagonal
    _decorated(fmap)
    ids = np.ma.filled(fmap.get_images()[0].get_array(), -1)
    np.testing.assert_array_equal(ids, folds.fold_ids(r).values)
    legend = [t.get_text() for t in fmap.get_legend().get_texts()]
    assert legend == ["fold 1", "fold 2", "fold 3", "landslide"]
    assert cv_figure(cv, tmp_path / "cv.png", region=r).read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("source", ["dataset", "zarr"])
def test_uncertainty_figure_mean_and_sd(region, prob, tmp_path, source):
    r, _ = region
    u = xr.Dataset({"mean": prob, "std": prob * (1 - prob) / 3}, attrs={"n_members": 4})
    if source == "zarr":
        xl.write_map(u, tmp_path / "u.zarr")
        u_in = tmp_path / "u.zarr"
    else:
        u_in = u
    path = uncertainty_figure(u_in, tmp_path / "u.png", label=r["label"])
    assert path.read_bytes()[:8] == PNG_MAGIC
    from xlandslide.plot import plot_uncertainty

    fig = plot_uncertainty(u, label=r["label"])
    axes = _map_axes(fig)
    assert len(axes) == 2
    for ax, var in zip(axes, ("mean", "std")):
        _decorated(ax)
        clim = ax.get_images()[0].get_clim()
        np.testing.assert_allclose(clim, np.nanpercentile(u[var].values, [2, 98]), rtol=1e-5)
    assert "ensemble of 4 models" in fig.get_suptitle()


def test_writers_refuse_a_foreign_png(prob, tmp_path):
    from xlandslide.errors import ForeignOutputError

    foreign = tmp_path / "mine.png"
    foreign.write_bytes(PNG_MAGIC + b"someone else's figure")
    with pytest.raises(ForeignOutputError):
        susceptibility_figure(prob, foreign)
    assert foreign.read_bytes().endswith(b"figure")


def test_uncertainty_title_names_the_members_models(prob, tmp_path):
    """The members of :func:`xlandslide.uncertainty_map` are dicts (name, weights hash), a
    JSON text once read back from a GeoTIFF: the title gives each model's name with its count."""
    import json

    from xlandslide.plot import plot_uncertainty

    members = [{"name": n, "weights_sha1": f"{i:040x}"} for i, n in enumerate("aab")]
    for attr in (members, json.dumps(members)):
        u = xr.Dataset({"mean": prob, "std": prob / 3}, attrs={"n_members": 3, "members": attr})
        title = plot_uncertainty(u).get_suptitle()
        assert title == "ensemble of 3 models (2 x a, b)", title
    path = tmp_path / "u.tif"
    xl.write_map(xr.Dataset({"mean": prob, "std": prob / 3}, attrs={"members": members}), path)
    title = plot_uncertainty(xr.Dataset({"mean": xl.open_map(path), "std": prob})).get_suptitle()
    assert "weights_sha1" not in title


def test_log_colour_bar_reads_each_decade(region, prob):
    """A log scale's ticks are decades of probability: 0.01 % reads 0.01 %, not 0.0 %."""
    r, _ = region
    p = (prob * 0 + 10.0 ** np.linspace(-5, -0.5, prob.sizes["x"])).where(prob.notnull())
    fig = _drawn(plot_susceptibility(p, r["label"], stretch="log"))
    cbar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    shown = {t.get_text() for t in cbar.get_yticklabels() if t.get_text()}
    assert {"0.01%", "0.1%", "1%", "10%"} <= shown, shown
