"""Real terrain: uphill features on the Reserva Biologica San Francisco DEM (Ecuador).

A 10 m DEM of the tropical Andes and 350 landslide / non-landslide points (CC0, see
``data/ecuador_rbsf/SOURCE.md``).  The example

1. builds a region from the DEM: two continuous layers, slope and the standardised DEM (no
   geology exists for this area, so no categorical group), and burns the points into the
   label (every other pixel unknown, never counted);
2. adds the uphill offsets at 30 / 100 / 300 m and reads the aligned features, lazily;
3. compares, with 5-fold spatial cross-validation (500 m blocks), a logistic regression on
   the local terrain alone with one that also sees the terrain at the uphill points — the
   paper's idea, measured on real data;
4. cuts the region into patches, trains xlandslide's LLR on them (point labels only),
   chooses the aligned features from its weights (``select_aligned_features``, the paper's
   step) and trains a LANN on them, then writes the LLR's lazy susceptibility map to
   ``ecuador-output/``.

Run:  .venv/bin/python examples/ecuador_real_terrain.py [OUTPUT_FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import rioxarray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import xlandslide
from xlandslide.grid import PatchGeometry

DATA = Path(__file__).resolve().parent / "data" / "ecuador_rbsf"
DISTANCES = (30, 100, 300)
HALO = 32  # pixels: covers the 300 m ring (30 pixels at 10 m)


def spatial_cv_auc(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    score = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        model.fit(x[train], y[train])
        score[test] = model.predict_proba(x[test])[:, 1]
    return roc_auc_score(y, score)


def main(out="ecuador-output") -> dict:
    """Run the example, write ``susceptibility.tif`` into ``out`` and return the figures."""
    out = Path(out)
    stack = rioxarray.open_rasterio(DATA / "ta_terrain_attributes_10m.tif", masked=True)
    names = list(stack.attrs["long_name"])
    dem = stack.isel(band=names.index("elev"), drop=True).chunk(128).rename("dem")
    points = gpd.read_file(DATA / "lsl_balanced_points.gpkg")

    label = xlandslide.labels_from_points(points, dem, "lslpts")
    region = xlandslide.region_from_dem(dem, label)  # continuous: slope, dem (standardised)
    region = region.landslide.with_offsets(DISTANCES, halo=HALO)  # lazy int8 offsets
    aligned = region.landslide.aligned_features(["slope", "dem"])  # lazy, slope@30m, ...
    names = [str(n) for n in aligned.feature.values]
    print(f"region {dict(region.sizes)}; aligned features: {names}")

    # sample every layer at the labelled pixels
    lab = label.values
    rows, cols = np.nonzero(lab >= 0)
    y = lab[rows, cols].astype(int)
    local = region["continuous"].sel(layer=["slope", "dem"]).values[:, rows, cols].T
    uphill = aligned.values[:, rows, cols].T
    # relief to the uphill point: DEM there minus DEM here (standardised units)
    dem_idx = [i for i, n in enumerate(aligned.feature.values) if n.startswith("dem@")]
    relief = uphill[:, dem_idx] - local[:, [1]]
    keep = np.isfinite(local).all(1) & np.isfinite(uphill).all(1)
    groups = (rows // 50) * 1000 + cols // 50  # 500 m blocks for spatial CV
    base = spatial_cv_auc(local[keep], y[keep], groups[keep])
    full = spatial_cv_auc(np.hstack([local, uphill, relief])[keep], y[keep], groups[keep])
    print(f"{keep.sum()} labelled pixels ({y[keep].sum()} landslides)")
    print(f"spatial-CV AUC, local slope + DEM:               {base:.3f}")
    print(f"spatial-CV AUC, + terrain at the uphill points:  {full:.3f}")

    # xlandslide's own models on patches (labels only at the points): an LLR, the aligned
    # features chosen from its weights, a LANN reading them at the uphill points
    # (the region is small, 3 MB with its offsets: compute it once, in memory, rather than
    # recompute the slope and the offsets of the blocks around every patch read; a large
    # region is written to a store instead, region.landslide.to_store, and opened from it)
    out.mkdir(parents=True, exist_ok=True)
    region = region.compute()
    patches = xlandslide.make_patches(region, PatchGeometry(core=64, halo=HALO), seed=0)
    cfg = xlandslide.TrainConfig.paper("llr", epochs=5, lr=0.05, batch_size=8)
    llr = xlandslide.fit(region, "llr", patches=patches, config=cfg, progress=False)
    selection = xlandslide.select_aligned_features(region, patches, llr=llr)  # |w| >= 0.2
    weights = ", ".join(f"{k} {v:+.2f}" for k, v in selection.weights.items())
    print(f"LLR weights: {weights}; aligned: {', '.join(selection.names)}")
    cfg = xlandslide.TrainConfig.paper("lann", epochs=10, lr=0.005, batch_size=8)
    lann = xlandslide.fit(
        region,
        "lann",
        patches=patches,
        aligned=selection.names,  # read at 30, 100 and 300 m uphill (the region's offsets)
        config=cfg,
        model_config={"hidden": [8]},  # ~270 labelled training pixels: a small network
        progress=False,
    )

    # ~43 test points: these AUCs have a standard error near 0.08; the spatial CV above
    # (347 points, 5 folds) is the measurement of what the uphill terrain adds

    test = patches.core_mask("test", like=region)
    scores = {}
    for name, model in (("LLR", llr), ("LANN", lann)):
        prob = region.landslide.predict(model)  # lazy
        scores[name] = xlandslide.evaluate(prob, region["label"], test)
        m = scores[name]
        print(f"{name} test-split AUC {m['auc']:.3f} on {m['n_pixels']} points")
        if name == "LLR":
            xlandslide.write_map(prob, out / "susceptibility.tif", overwrite=True)
    print(f"wrote {out / 'susceptibility.tif'}")
    return {
        "n_points": int(keep.sum()),
        "cv_auc_local": base,
        "cv_auc_uphill": full,
        "llr_test_auc": float(scores["LLR"]["auc"]),
        "llr_test_points": int(scores["LLR"]["n_pixels"]),
        "lann_test_auc": float(scores["LANN"]["auc"]),
        "aligned": list(selection.names),
    }


if __name__ == "__main__":
    main(*sys.argv[1:2])
