"""Tests of xlandslide.workflows.report: Table 2 and Figures 4-6 for the six models."""

from __future__ import annotations

import math

import numpy as np
import pytest

import xlandslide as xl
from tests.helpers import tiny_region
from xlandslide.errors import ConfigError
from xlandslide.grid import PatchGeometry
from xlandslide.train import TrainConfig
from xlandslide.workflows.report import PAPER_MODELS, paper_report, zoom_window


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    region = tiny_region(distances=(30.0, 100.0), halo=16).compute()
    patches = xl.make_patches(region, PatchGeometry(32, 16), seed=0)
    quick = {
        n: TrainConfig.paper(n, epochs=1, batch_size=4, device="cpu", max_batches_per_epoch=2)
        for n in PAPER_MODELS[1:]
    }
    small = {
        "nn": {"hidden": [4]},
        "lann": {"hidden": [4]},
        "cnn": {"base_width": 2},
        "lacnn": {"base_width": 2},
    }
    out = tmp_path_factory.mktemp("report")
    rep = paper_report(
        region, patches, configs=quick, model_configs=small, max_aligned=4, out=out, progress=False
    )
    return region, patches, rep, out


def test_table2_is_the_scores_of_the_maps(report):
    region, patches, rep, _ = report
    t = rep.table
    assert t.model.tolist() == ["Naive", "LLR", "NN", "LANN", "CNN", "LACNN"]
    test = patches.core_mask("test", like=region)
    train = patches.core_mask("train", like=region)
    label = region["label"]
    for name, row in zip(PAPER_MODELS, t.itertuples()):
        prob = xl.predict(region, rep.models[name])
        m = xl.evaluate(prob, label, test)
        assert row.test_nll == pytest.approx(m["nll"], rel=1e-5)
        assert row.auc == pytest.approx(m["auc"], abs=1e-6)
        assert row.pr_auc == pytest.approx(m["pr_auc"], abs=1e-6)
        if name != "naive":
            assert row.train_nll == pytest.approx(xl.nll(prob, label, train), rel=1e-5)
    # the Naive row in closed form: the training ratio r on pixels of positive fraction p
    r = rep.models["naive"].module.ratio
    p = xl.naive_ratio(label, test)
    assert t.test_nll[0] == pytest.approx(-(p * math.log(r) + (1 - p) * math.log(1 - r)))
    assert t.train_nll[0] == pytest.approx(-(r * math.log(r) + (1 - r) * math.log(1 - r)))
    assert t.auc[0] == 0.5
    # the aligned models read what the LLR chose; "Table 2" text
    assert rep.models["lacnn"].spec.aligned == rep.aligned == rep.models["lann"].spec.aligned
    assert "test NLL" in rep.format() and "LACNN" in rep.format()


def test_an_aligned_model_starts_from_its_base_only_when_chained(report):
    """``chain=True``: the LANN starts from the NN trained beside it; default: from the LLR,
    as the NN.  A margin no gain passes keeps the LANN at its start, which shows it."""
    region, patches, _, _ = report
    quick = TrainConfig.paper("nn", epochs=2, batch_size=4, lr=0.05, device="cpu")
    configs = {"nn": quick, "lann": quick.replace(accept_margin=1e6)}
    options = {n: {"hidden": [4], "linear_skip": True} for n in ("nn", "lann")}
    maps = {}
    for chain in (False, True):
        rep = paper_report(
            region,
            patches,
            models=["llr", "nn", "lann"],
            configs=configs,
            model_configs=options,
            max_aligned=4,
            chain=chain,
            progress=False,
        )
        maps[chain] = {n: m.values for n, m in rep.maps.items()}
    assert np.nanmax(np.abs(maps[False]["nn"] - maps[False]["llr"])) > 1e-3  # the NN moved
    np.testing.assert_allclose(maps[False]["lann"], maps[False]["llr"], atol=1e-5)
    np.testing.assert_allclose(maps[True]["lann"], maps[True]["nn"], atol=1e-5)


def test_figures_and_files(report):
    region, patches, rep, out = report
    for name in ("table2.csv", "table2.json", "roc.png", "maps.png", "calibration.png"):
        assert (out / name).stat().st_size > 0, name
    for name in PAPER_MODELS:
        assert (out / "models" / f"{name}.pt").exists()
        saved = xl.open_map(out / "maps" / f"{name}.zarr")
        np.testing.assert_allclose(
            saved.values, xl.predict(region, rep.models[name]).values, atol=1e-6
        )
    w = zoom_window(patches, region["label"])
    k = max(
        patches.indices("test"),
        key=lambda k: int(
            (
                region["label"].values[
                    patches.origins[k][0] : patches.origins[k][0] + 32,
                    patches.origins[k][1] : patches.origins[k][1] + 32,
                ]
                == 1
            ).sum()
        ),
    )
    y0, y1, x0, x1 = patches.window(k)
    assert w == {"y": slice(max(y0, 0), min(y1, 96)), "x": slice(max(x0, 0), min(x1, 112))}


def test_report_errors(report):
    region, patches, _, _ = report
    with pytest.raises(ConfigError, match="distinct"):
        paper_report(region, patches, models=["llr", "llr"])
    with pytest.raises(ConfigError, match="unknown model"):
        paper_report(region, patches, models=["svm"])


def test_the_figures_take_quantile_bins_and_a_window_inside_the_region(
    report, tmp_path, monkeypatch
):
    """calibration.png: bins of equal counts of the test pixels (not every pixel in the first
    of 10 uniform bins); maps.png: a window of a core's side where every map is defined."""
    import xlandslide.workflows.report as wr

    region, patches, rep, _ = report
    seen = {}
    monkeypatch.setattr(
        wr, "plot_model_maps", lambda maps, label, window, **kw: seen.setdefault("window", window)
    )
    monkeypatch.setattr(wr, "plot_calibration", lambda rel, title: seen.setdefault("rel", rel))
    monkeypatch.setattr(wr, "save_figure", lambda fig, path: path)
    wr._write(rep, tmp_path, patches, region["label"], None)
    test = patches.core_mask("test", like=region).values
    labelled = test & (region["label"].values >= 0)
    assert set(seen["rel"]) == {"LLR", "NN", "LANN", "CNN", "LACNN"}  # not the Naive
    for name, r in seen["rel"].items():
        prob = rep.maps[name.lower()].values
        n = int((labelled & np.isfinite(prob)).sum())
        assert r["n_pixels"] == n and r["count"].sum() == n
        full = r["count"][r["count"] > 0]
        assert len(full) >= 8 and full.max() - full.min() <= max(2, n // 50), r["count"]
    w = seen["window"]
    assert w["y"].stop - w["y"].start == w["x"].stop - w["x"].start == patches.geometry.core
    for prob in rep.maps.values():
        assert np.isfinite(prob.isel(w).values).all()


def test_a_missing_matplotlib_is_said_before_any_training(tmp_path, monkeypatch):
    """paper_report(out=...) and run_demo end with figures: without matplotlib they refuse
    at once (MissingOptionalDependency naming the extra), before a model is trained."""
    import sys

    from xlandslide.errors import MissingOptionalDependency
    from xlandslide.workflows import demo as demo_module
    from xlandslide.workflows import report as report_module

    def no_training(*args, **kwargs):
        raise AssertionError("trained before saying matplotlib is missing")

    monkeypatch.setattr(report_module, "fit", no_training)
    monkeypatch.setattr(demo_module, "synthetic_region", no_training)
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    region = tiny_region()
    patches = xl.make_patches(region, PatchGeometry(32, 16), seed=0)
    with pytest.raises(MissingOptionalDependency, match=r"xlandslide\[plot\]"):
        paper_report(region, patches, models=["llr"], out=tmp_path / "r", progress=False)
    with pytest.raises(MissingOptionalDependency, match=r"xlandslide\[plot\]"):
        demo_module.run_demo(tmp_path / "d", progress=False)
    assert not (tmp_path / "r").exists() and not (tmp_path / "d").exists()
