"""Honest skill on real terrain: spatial cross-validation of LLR, LANN and LACNN (Ecuador).

The Reserva Biologica San Francisco data (CC0, ``data/ecuador_rbsf/SOURCE.md``): five 10 m
terrain attributes — slope, plan and profile curvature, elevation, log10 catchment area — and
350 landslide / non-landslide points.  The example

1. builds a region of the five attributes (each standardised over the valid pixels; the
   points are the labels, every other pixel unknown) and adds the uphill offsets at
   30 / 100 / 300 m;
2. makes k-means spatial folds of the points (Brenning 2012) and, for comparison, random
   folds of the same points;
3. runs :func:`xlandslide.cross_validate` on both for LLR, LANN and LACNN with the settings
   for point inventories (:func:`xlandslide.train.presets.point_inventory`: small patches
   and networks, dropout, early stopping on the next fold's points, a seed ensemble);
4. prints mean ± sd over folds, the AUC of every fold, and the spatial and random figures
   side by side;
5. per spatial fold, the gap of LANN and LACNN to the LLR with its DeLong standard error
   (:meth:`CVResult.paired`: the two share their points, so that is the noise of the gap).

No scikit-learn anywhere: folds, training, prediction and scores are xlandslide's.

6. per fold, the share of seed models whose network replaced its warm start: a network
   begins as the fold's LLR and is kept only when it beats it on the validation points by
   more than ``accept_margin`` standard errors (the preset's 2; ``--accept-margin=Z``).

Run:  .venv/bin/python examples/ecuador_spatial_cv.py [OUTPUT_FOLDER] [--quick]
      [--accept-margin=Z]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

import xlandslide
from xlandslide.train.presets import point_inventory
from xlandslide.workflows.cv import compare

DATA = Path(__file__).resolve().parent / "data" / "ecuador_rbsf"
DISTANCES = (30.0, 100.0, 300.0)
HALO = 32  # pixels: covers the 300 m ring (30 pixels at 10 m)
MODELS = ("llr", "lann", "lacnn")


def terrain_region(tif=DATA / "ta_terrain_attributes_10m.tif", points=None):
    """A region of all five terrain attributes, the points burnt in as labels.

    :func:`xlandslide.build_region` with the ``elev`` band as the grid (the DEM, for the
    uphill offsets) and the four other bands as continuous layers; every layer standardised
    over the pixels where all are valid (one pass), the points as labels (-1 elsewhere).
    """
    bands = ("slope", "cplan", "cprof", "log10_carea")
    return xlandslide.build_region(
        xlandslide.RasterLayer(tif, band="elev"),
        continuous={name: xlandslide.RasterLayer(tif, band=name) for name in bands},
        labels=DATA / "lsl_balanced_points.gpkg" if points is None else points,
        label_column="lslpts",
        title="Reserva Biologica San Francisco: five terrain attributes",
    ).compute()


def settings(quick: bool = False, accept_margin=None):
    """Per-model TrainConfig, model options and seeds (the point-inventory presets;
    ``accept_margin``, when given, replaces the preset's)."""
    configs, options, seeds = {}, {}, {}
    for name in MODELS:
        preset = point_inventory(name)
        cfg = preset["config"]
        if accept_margin is not None:
            cfg = cfg.replace(accept_margin=accept_margin)
        if quick:
            cfg = cfg.replace(epochs=2, early_stopping=None)
        configs[name], options[name] = cfg, preset["model_config"]
        seeds[name] = (0,) if quick else preset["seeds"]
    return configs, options, seeds, point_inventory("lann")["core"]


def main(out="ecuador-cv-output", quick: bool = False, accept_margin=None) -> dict:
    """Run the spatial and random CV; write ``cv_table.csv`` into ``out``; return figures."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    region = terrain_region()
    region = region.landslide.with_offsets(DISTANCES, halo=HALO).compute()  # 4 MB: in memory
    n = int((region["label"].values >= 0).sum())
    print(f"region {dict(region.sizes)}; {n} labelled pixels; layers {list(region.layer.values)}")
    configs, options, seeds, core = settings(quick, accept_margin)
    geometry = xlandslide.PatchGeometry(core=core, halo=HALO)
    k = 3 if quick else 5
    results = {}
    for label, folds in (
        ("spatial", xlandslide.spatial_folds(region, "kmeans", k=k, seed=0)),
        ("random", xlandslide.spatial_folds(region, "random", k=k, seed=0)),
    ):
        print(f"{label} folds ({folds.method}): labelled pixels per fold {folds.counts}")
        results[label] = xlandslide.cross_validate(
            region,
            MODELS,
            folds,
            geometry=geometry,
            configs=configs,
            model_configs=options,
            seeds=seeds,
            oversample=point_inventory("lann")["oversample"],
        )
        print(f"\n{label} {k}-fold CV (mean ± sd over folds; AUC of every fold):")
        print(results[label].format())
    side = compare(results)
    print("\nROC AUC, spatial vs random folds (mean, sd over folds):")
    print(side.round(3).to_string())
    table = pd.concat([res.table.assign(split=label) for label, res in results.items()])
    table.to_csv(out / "cv_table.csv", index=False)
    print(f"wrote {out / 'cv_table.csv'}")
    # is a gap to the LLR more than noise? DeLong's paired error on each fold's points
    paired = {m: results["spatial"].paired(region, m, "llr") for m in MODELS if m != "llr"}
    print("\nspatial folds, AUC minus the LLR's (DeLong standard error of the gap, z):")
    for m, t in paired.items():
        cells = "  ".join(f"{r.difference:+.3f} ({r.se:.3f}, z {r.z:+.1f})" for r in t.itertuples())
        print(f"{m:<6} {cells}")
    print("\nshare of seed models whose network replaced the LLR it started from, per fold:")
    for label, res in results.items():
        t = res.table
        for m in MODELS[1:]:
            kept = " ".join(f"{v:.2f}" for v in t[t.model == m]["kept"])
            print(f"{label:<8} {m:<6} {kept}")
    spatial = results["spatial"].table
    per_fold = {m: spatial[spatial.model == m]["auc"].tolist() for m in MODELS}
    se = {m: spatial[spatial.model == m]["auc_se"].tolist() for m in MODELS}
    return {
        "n_points": n,
        "spatial_auc": per_fold,
        "spatial_auc_se": se,
        "random_auc_mean": {
            m: float(results["random"].summary().loc[m, "auc_mean"]) for m in MODELS
        },
        "spatial_auc_mean": {
            m: float(results["spatial"].summary().loc[m, "auc_mean"]) for m in MODELS
        },
        "aligned": {f: list(v) for f, v in results["spatial"].aligned.items()},
        "paired": {m: t.to_dict(orient="list") for m, t in paired.items()},
        "kept": {m: spatial[spatial.model == m]["kept"].tolist() for m in MODELS[1:]},
    }


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    margin = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--accept-margin=")]
    main(*args[:1], quick="--quick" in sys.argv, accept_margin=float(margin[0]) if margin else None)
