"""The command line, driven through ``main(argv)``: synthetic -> train -> predict -> evaluate."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rioxarray
import xarray as xr

import xlandslide
from xlandslide.cli import main


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    store = d / "region.zarr"
    model = d / "llr.pt"
    assert main(["synthetic", str(store), "--shape", "96", "112", "--distances", "30"]) == 0
    argv = ["train", str(store), "--model", "llr", "--out", str(model)]
    argv += ["--epochs", "1", "--core", "48", "--halo", "16", "--batch-size", "4"]
    assert main(argv) == 0
    return d, store, model


def test_synthetic_writes_a_region_store(workflow):
    _, store, _ = workflow
    region = xlandslide.open_region(store)
    assert region.features.shape == (94, 96, 112)
    assert region["uphill_dy"].sizes["distance"] == 1 and region.rio.crs is not None


def test_train_writes_checkpoint_and_split(workflow, capsys):
    d, store, model = workflow
    m = xlandslide.load_model(model)
    assert m.name == "llr" and m.geometry == xlandslide.PatchGeometry(48, 16)
    split = xlandslide.PatchSet.from_json(model.with_suffix(".split.json"))
    assert split.shape == (96, 112) and len(split) == 2 * 3
    # a second run reuses the recorded split
    argv = ["train", str(store), "--model", "llr", "--out", str(d / "again.pt"), "--epochs", "1"]
    argv += ["--split", str(model.with_suffix(".split.json")), "--batch-size", "4"]
    capsys.readouterr()
    assert main(argv) == 0
    assert "reusing the patch split" in capsys.readouterr().out
    assert xlandslide.load_model(d / "again.pt").geometry == m.geometry


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_predict_writes_a_map(workflow, suffix):
    d, store, model = workflow
    out = d / f"map{suffix}"
    assert main(["predict", str(store), str(model), "--out", str(out)]) == 0
    expected = xlandslide.open_region(store).landslide.predict(xlandslide.load_model(model))
    if suffix == ".zarr":
        got = xr.open_zarr(out)["susceptibility"]
    else:
        got = rioxarray.open_rasterio(out, masked=True).squeeze("band", drop=True)
        assert got.rio.crs == expected.rio.crs
    np.testing.assert_allclose(got.values, expected.values, rtol=0, atol=1e-6)
    with pytest.raises(xlandslide.StoreExistsError):
        main(["predict", str(store), str(model), "--out", str(out)])


def test_evaluate_prints_the_metrics_of_the_test_split(workflow, capsys):
    d, store, model = workflow
    out = d / "eval.zarr"
    main(["predict", str(store), str(model), "--out", str(out)])
    split = model.with_suffix(".split.json")
    capsys.readouterr()
    assert main(["evaluate", str(store), str(out), "--split", str(split)]) == 0
    printed = json.loads(capsys.readouterr().out)
    region = xlandslide.open_region(store)
    mask = xlandslide.PatchSet.from_json(split).core_mask("test", like=region)
    expected = xlandslide.evaluate(xr.open_zarr(out)["susceptibility"], region["label"], mask)
    assert printed["nll"] == pytest.approx(expected["nll"])
    assert printed["n_pixels"] == expected["n_pixels"] <= 48 * 48
