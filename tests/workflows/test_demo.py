"""The demo end to end (quick sizes) and what its outputs promise."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import rioxarray
import xarray as xr

import xlandslide
from tests.helpers import raise_if_dask_computes
from xlandslide.cli import main


@pytest.fixture(scope="module")
def quiet_demo(tmp_path_factory):
    """The quick demo with --quiet, and what it wrote on stderr."""
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["demo", "--quick", "--quiet", "--out", str(out)]) == 0
    return out, err.getvalue()


@pytest.fixture(scope="module")
def demo_out(quiet_demo):
    return quiet_demo[0]


def test_quiet_demo_writes_nothing_on_stderr(quiet_demo):
    """--quiet silences the per-epoch lines of the five trainings and the report's steps."""
    out, err = quiet_demo
    assert err == ""
    assert (out / "models" / "lacnn.pt").exists()  # it did train


def test_run_demo_passes_progress_through(tmp_path, monkeypatch, capsys):
    """``progress`` reaches paper_report (which hands it to every fit); the command line
    sets it from --quiet."""
    import xlandslide.workflows.demo as demo

    seen = []

    def stop(*args, progress, **kwargs):
        seen.append(progress)
        raise KeyboardInterrupt  # stop there: the rest is the full demo's

    monkeypatch.setattr(demo, "paper_report", stop)
    cfg = demo.DemoConfig.quick().replace(size=96, chunks=96, core=32, halo=32)
    for progress in (False, True):
        with pytest.raises(KeyboardInterrupt):
            demo.run_demo(tmp_path / "d", cfg, progress=progress)
    assert seen == [False, True]
    monkeypatch.setattr(demo.DemoConfig, "quick", classmethod(lambda cls: cfg))
    for flags, want in ((["--quiet"], False), ([], True)):
        assert main(["demo", "--quick", *flags, "--out", str(tmp_path / "d")]) == 130
        assert seen[-1] is want
    capsys.readouterr()


def test_demo_writes_everything(demo_out, capsys):
    for name in (
        "region.zarr",
        "susceptibility.zarr",
        "susceptibility.tif",
        "susceptibility_llr.zarr",
        "map.png",
        "maps.png",
        "roc.png",
        "calibration.png",
        "metrics.json",
        "split.json",
        "table2.csv",
        "zones.tif",
        "zones.qml",
        "zones.tif.aux.xml",
        "zoning.csv",
        "zoning.png",
        "rates.png",
        *(f"models/{n}.pt" for n in ("naive", "llr", "nn", "lann", "cnn", "lacnn")),
        *(f"maps/{n}.zarr" for n in ("naive", "llr", "nn", "lann", "cnn", "lacnn")),
    ):
        assert (demo_out / name).exists(), name
    m = json.loads((demo_out / "metrics.json").read_text())
    assert set(m) >= {"naive", "models", "split", "zoning"}
    assert list(m["models"]) == ["LLR", "NN", "LANN", "CNN", "LACNN"]  # Table 2's order
    for r in m["models"].values():
        assert 0 <= r["auc"] <= 1 and r["nll"] > 0 and r["train_nll"] > 0
        assert 0 <= r["ece"] <= 1 and 0 <= r["pr_auc"] <= 1 and 0 <= r["brier"] <= 1
    # the six-model table on disk is the one in metrics.json
    import pandas as pd

    table = pd.read_csv(demo_out / "table2.csv")
    assert table["model"].tolist() == ["Naive", "LLR", "NN", "LANN", "CNN", "LACNN"]
    assert table.loc[5, "auc"] == pytest.approx(m["models"]["LACNN"]["auc"])
    # the zoning table: areas add up to the region, landslides to the labelled ones
    zones = pd.read_csv(demo_out / "zoning.csv")
    assert zones["area_pct"].sum() == pytest.approx(100)
    assert len(zones) == 5 and zones["name"].iloc[-1] == "very high"
    region = xlandslide.open_region(demo_out / "region.zarr")
    assert zones["pixels"].sum() == int(region["dem"].notnull().sum())
    assert zones["landslide_pixels"].sum() == int((region["label"] == 1).sum())
    z = m["zoning"]
    assert 0 <= z["success_rate_auc"] <= 1 and 0 <= z["prediction_rate_auc"] <= 1
    # the Naive NLL is the closed form of the training ratio on the test pixels
    r, p = m["naive"]["ratio"], m["split"]["test_positive_ratio"]
    assert m["naive"]["nll"] == pytest.approx(-(p * np.log(r) + (1 - p) * np.log(1 - r)))
    # on the training cores the ratio is the training ratio itself: the entropy of r
    assert m["naive"]["train_nll"] == pytest.approx(-(r * np.log(r) + (1 - r) * np.log(1 - r)))
    from xlandslide.workflows.demo import _print_table

    _print_table(m)
    rows = capsys.readouterr().out.splitlines()
    assert (
        "train NLL" in rows[2]
        and "PR AUC" in rows[2]
        and rows[3].split()[:3]
        == [
            "Naive",
            f"{m['naive']['nll']:.4f}",
            f"{m['naive']['train_nll']:.4f}",
        ]
    )
    tif = rioxarray.open_rasterio(demo_out / "susceptibility.tif", masked=True)
    assert tif.rio.crs is not None and tif.shape[1:] == (192, 192)


def test_saved_model_predicts_lazily_and_matches_the_saved_map(demo_out):
    with raise_if_dask_computes():
        model = xlandslide.load_model(demo_out / "models" / "lacnn.pt")
        region = xlandslide.open_region(demo_out / "region.zarr")
        prob = region.landslide.predict(model)
    saved = xr.open_zarr(demo_out / "susceptibility.zarr")["susceptibility"]
    window = dict(y=slice(40, 130), x=slice(20, 150))
    np.testing.assert_allclose(
        prob.isel(window).values, saved.isel(window).values, rtol=0, atol=1e-6
    )
    # any chunking of the input: the same prediction blocks, the same map
    rechunked = xlandslide.open_region(demo_out / "region.zarr").chunk({"y": 50, "x": 70})
    again = rechunked.landslide.predict(model).values
    np.testing.assert_allclose(again, saved.values, rtol=0, atol=1e-6)


def test_the_chain_of_models(demo_out):
    """Naive, LLR and LACNN saved as models; the LACNN reads what the LLR's weights chose."""
    m = json.loads((demo_out / "metrics.json").read_text())
    naive = xlandslide.load_model(demo_out / "models" / "naive.pt")
    assert naive.name == "naive" and naive.module.ratio == pytest.approx(m["naive"]["ratio"])
    region = xlandslide.open_region(demo_out / "region.zarr", chunks=None)
    patches = xlandslide.PatchSet.from_json(demo_out / "split.json")
    mask = patches.core_mask("train", like=region)
    assert m["naive"]["ratio"] == pytest.approx(xlandslide.naive_ratio(region["label"], mask))
    llr = xlandslide.load_model(demo_out / "models" / "llr.pt")
    lacnn = xlandslide.load_model(demo_out / "models" / "lacnn.pt")
    chosen = xlandslide.select_aligned_features(region, patches, llr=llr, max_features=22)
    assert lacnn.spec.aligned == chosen.names == tuple(m["aligned"]["features"])
    assert lacnn.spec.distances == tuple(m["aligned"]["distances"]) == (30.0, 100.0, 300.0)
    assert lacnn.spec.geometry == patches.geometry == xlandslide.PatchGeometry(64, 32)
    # the Naive model predicts its ratio like any other model
    prob = region.landslide.predict(naive).values
    inside = np.isfinite(region["dem"].values)
    np.testing.assert_allclose(prob[inside], m["naive"]["ratio"], rtol=1e-6)
