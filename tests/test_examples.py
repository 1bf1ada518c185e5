"""The examples run end to end: the real Ecuador stack, the coded-polygons fixture."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ecuador_example(tmp_path, capsys):
    import rioxarray

    figures = _load("ecuador_real_terrain").main(tmp_path / "out")
    # all five attributes of the terrain file are continuous layers
    assert figures["layers"] == ["slope", "dem", "cplan", "cprof", "log10_carea"]
    # the data set's published check (350 points: 0.8216); one stable point shares a
    # landslide's pixel, so 349 labelled pixels
    assert figures["n_labelled"] == 349
    assert abs(figures["resubstitution_auc"] - 0.8216) < 0.005
    assert 340 <= figures["n_points"] <= 349  # with a full uphill ring
    # the paper's idea on real terrain: what lies uphill adds skill under spatial CV
    assert figures["cv_auc_uphill"] > figures["cv_auc_local"] > 0.7
    assert 0 <= figures["llr_test_auc"] <= 1 and figures["llr_test_points"] > 0
    # the aligned features chosen from the LLR's weights (|w| >= 0.2), read by the LANN
    assert figures["aligned"] and set(figures["aligned"]) <= set(figures["layers"])
    assert 0 <= figures["lann_test_auc"] <= 1
    tif = rioxarray.open_rasterio(tmp_path / "out" / "susceptibility.tif", masked=True)
    assert tif.rio.crs.to_epsg() == 32717
    values = tif.values[np.isfinite(tif.values)]
    assert values.size > 0.5 * tif.size and ((values >= 0) & (values <= 1)).all()
    out = capsys.readouterr().out
    assert "spatial-CV AUC" in out and "published: 0.8216" in out


def test_coded_polygons_example(tmp_path, capsys):
    import rioxarray

    figures = _load("coded_polygons").main(tmp_path / "out")
    assert figures["features"] == 2 + 44 + 5  # slope, dem, INSPIRE lithology and land cover
    assert figures["lithology"] == {
        101: "gneiss",
        205: "limestone",
        310: "flysch",
        412: "alluvium",
    }
    assert set(figures["areas"]["land_cover"]) == {
        "agricultural_areas",
        "artificial_surfaces",
        "forest_and_semi_natural_areas",
        "water_bodies",
        "wetlands",
    }
    # four quadrants over 74 x 59 valid-ish pixels of 10 m: about 0.42 km2 in all
    assert 0.35 < sum(figures["areas"]["lithology"].values()) < 0.45
    assert figures["landslide_pixels"] > 50 and 0.5 <= figures["auc"] <= 1
    tif = rioxarray.open_rasterio(tmp_path / "out" / "susceptibility.tif", masked=True)
    assert tif.rio.crs.to_epsg() == 32632
    assert "lithology code -> class read back" in capsys.readouterr().out


SPATIAL_CV = EXAMPLES / "ecuador_spatial_cv.py"


def test_ecuador_spatial_cv_example(tmp_path, capsys):
    """The spatial CV of LLR, LANN and LACNN on the five attributes, quick settings."""
    import ast

    import pandas as pd

    tree = ast.parse(SPATIAL_CV.read_text())
    imported = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    imported |= {
        n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert "sklearn" not in imported  # xlandslide's own folds, training and scores
    spec = importlib.util.spec_from_file_location("ecuador_spatial_cv", SPATIAL_CV)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    region = module.terrain_region()
    assert list(region.layer.values) == ["slope", "dem", "cplan", "cprof", "log10_carea"]
    cont = region["continuous"].values
    inside = np.isfinite(cont).all(0)
    np.testing.assert_allclose(np.nanmean(cont[:, inside], axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(np.nanstd(cont[:, inside], axis=1), 1, atol=1e-3)
    figures = module.main(tmp_path / "out", quick=True)
    assert 340 <= figures["n_points"] <= 350
    for name in ("llr", "lann", "lacnn"):
        aucs = figures["spatial_auc"][name]
        assert len(aucs) == 3 and all(0 <= a <= 1 for a in aucs)
        assert 0 <= figures["random_auc_mean"][name] <= 1
    table = pd.read_csv(tmp_path / "out" / "cv_table.csv")
    assert set(table.split) == {"spatial", "random"} and len(table) == 2 * 3 * 3
    out = capsys.readouterr().out
    assert "spatial vs random" in out and "±" in out
