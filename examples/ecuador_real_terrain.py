"""Real terrain: the Reserva Biologica San Francisco (Ecuador) built with ``build_region``.

A 10 m terrain stack of the tropical Andes (5 bands: slope, plan and profile curvature,
elevation, log10 catchment area) and 350 landslide / non-landslide points (CC0, see
``data/ecuador_rbsf/SOURCE.md``).  The example

1. builds the region with :func:`xlandslide.build_region`: the ``elev`` band is the grid and
   the DEM, and all five bands are continuous layers (the file's own slope band is used
   rather than a slope computed from the DEM), standardised with statistics of one dask
   pass; the points are the labels (every other pixel unknown, never counted).  No geology
   exists for this area, so there is no categorical group.  ``examples/ecuador.toml`` is
   the same region for the command line (``xlandslide ingest examples/ecuador.toml``);
2. checks the ingest against the data set's published figure: a logistic regression of the
   label on the five attributes, fitted on all points, has a resubstitution AUROC of 0.8216;
3. adds the uphill offsets at 30 / 100 / 300 m and reads the aligned features, lazily, and
   compares with 5-fold spatial cross-validation (500 m blocks) a logistic regression on the
   local terrain with one that also sees the terrain at the uphill points — the paper's
   idea, measured on real data;
4. cuts the region into patches, trains xlandslide's LLR on them (point labels only),
   chooses the aligned features from its weights (``select_aligned_features``, the paper's
   step) and trains a LANN on them, then writes the LLR's lazy susceptibility map to
   ``ecuador-output/``.

Run:  .venv/bin/python examples/ecuador_real_terrain.py [OUTPUT_FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import xlandslide
from xlandslide.grid import PatchGeometry

DATA = Path(__file__).resolve().parent / "data" / "ecuador_rbsf"
TERRAIN = DATA / "ta_terrain_attributes_10m.tif"
POINTS = DATA / "lsl_balanced_points.gpkg"
ATTRIBUTES = ("slope", "cplan", "cprof", "log10_carea")  # besides elev, the DEM
DISTANCES = (30, 100, 300)
HALO = 32  # pixels: covers the 300 m ring (30 pixels at 10 m)


def build() -> xlandslide.region.xr.Dataset:
    """The Ecuador region: five continuous layers, the points as labels (lazy)."""
    return xlandslide.build_region(
        xlandslide.RasterLayer(TERRAIN, band="elev"),
        continuous={name: xlandslide.RasterLayer(TERRAIN, band=name) for name in ATTRIBUTES},
        labels=POINTS,
        label_column="lslpts",
        chunks=128,
        title="Reserva Biologica San Francisco, Ecuador",
    )


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
    region = build()
    layers = list(region.layer.values)
    print(f"region {dict(region.sizes)}; continuous layers: {', '.join(layers)}")
    stats = ", ".join(
        f"{k} {v['mean']:.4g} ± {v['std']:.3g}" for k, v in region.attrs["normalisation"].items()
    )
    print(f"normalisation (one dask pass): {stats}")

    # the published check: resubstitution AUROC of a logistic regression on the 5 attributes
    lab = region["label"].values
    rows, cols = np.nonzero(lab >= 0)
    y = lab[rows, cols].astype(int)
    local = region["continuous"].values[:, rows, cols].T
    published = LogisticRegression(C=np.inf, max_iter=1000).fit(local, y)  # unpenalised
    resub = roc_auc_score(y, published.predict_proba(local)[:, 1])
    print(f"{len(y)} labelled pixels ({y.sum()} landslides)")
    print(f"resubstitution AUROC, 5 attributes: {resub:.4f} (published: 0.8216)")

    region = region.landslide.with_offsets(DISTANCES, halo=HALO)  # lazy int8 offsets
    aligned = region.landslide.aligned_features(["slope", "dem"])  # lazy, slope@30m, ...
    uphill = aligned.values[:, rows, cols].T
    # relief to the uphill point: DEM there minus DEM here (standardised units)
    dem_idx = [i for i, n in enumerate(aligned.feature.values) if n.startswith("dem@")]
    relief = uphill[:, dem_idx] - local[:, [layers.index("dem")]]
    keep = np.isfinite(uphill).all(1)
    groups = (rows // 50) * 1000 + cols // 50  # 500 m blocks for spatial CV
    base = spatial_cv_auc(local[keep], y[keep], groups[keep])
    full = spatial_cv_auc(np.hstack([local, uphill, relief])[keep], y[keep], groups[keep])
    print(f"spatial-CV AUC, the 5 local attributes:          {base:.3f}")
    print(f"spatial-CV AUC, + terrain at the uphill points:  {full:.3f}")

    # xlandslide's own models on patches (labels only at the points): an LLR, the aligned
    # features chosen from its weights, a LANN reading them at the uphill points
    # (the region is small, 5 MB with its offsets: compute it once, in memory, rather than
    # recompute the offsets of the blocks around every patch read; a large region is written
    # to a store instead, region.landslide.to_store, and opened from it)
    out.mkdir(parents=True, exist_ok=True)
    region = region.compute()
    patches = xlandslide.make_patches(region, PatchGeometry(core=64, halo=HALO), seed=0)
    cfg = xlandslide.TrainConfig.paper("llr", epochs=5, lr=0.05, batch_size=8)
    llr = xlandslide.fit(region, "llr", patches=patches, config=cfg, progress=False)
    # |w| >= 0.2, the two strongest (a LANN on ~270 labelled pixels: keep it small)
    selection = xlandslide.select_aligned_features(region, patches, llr=llr, max_features=2)
    weights = ", ".join(f"{k} {v:+.2f}" for k, v in selection.weights.items())
    print(f"LLR weights: {weights}; aligned: {', '.join(selection.names)}")
    cfg = xlandslide.TrainConfig.paper("lann", epochs=6, lr=0.005, batch_size=8)
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
    # (5 folds over every point) is the measurement of what the uphill terrain adds
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
        "layers": layers,
        "n_labelled": len(y),
        "resubstitution_auc": float(resub),
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
