"""The real-terrain example runs end to end on the shipped Ecuador data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ecuador_real_terrain.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("ecuador_real_terrain", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ecuador_example(tmp_path, capsys):
    import rioxarray

    figures = _load_example().main(tmp_path / "out")
    # 350 points, 3 of them on pixels where the DEM or an uphill ring is missing
    assert 340 <= figures["n_points"] <= 350
    # the paper's idea on real terrain: what lies uphill adds skill under spatial CV
    assert figures["cv_auc_uphill"] > figures["cv_auc_local"] > 0.6
    assert 0 <= figures["llr_test_auc"] <= 1 and figures["llr_test_points"] > 0
    # the aligned features chosen from the LLR's weights (|w| >= 0.2), read by the LANN
    assert "slope" in figures["aligned"] and set(figures["aligned"]) <= {"slope", "dem"}
    assert 0 <= figures["lann_test_auc"] <= 1
    tif = rioxarray.open_rasterio(tmp_path / "out" / "susceptibility.tif", masked=True)
    assert tif.rio.crs.to_epsg() == 32717
    values = tif.values[np.isfinite(tif.values)]
    assert values.size > 0.5 * tif.size and ((values >= 0) & (values <= 1)).all()
    assert "spatial-CV AUC" in capsys.readouterr().out
