"""The demo: the whole pipeline on a built-in synthetic region, on a laptop's CPU.

Steps (each printed with its time): build the region and its uphill offsets lazily and
write the region store; cut patches and split them 80/10/10; fit the Naive baseline (the
training positive ratio); train LLR and pick the aligned features from its weights (the
paper's |w| >= 0.2 rule, :func:`xlandslide.select_aligned_features`), train LACNN; predict the
maps lazily and stream them to Zarr (and the LACNN map to GeoTIFF); evaluate NLL, ROC AUC and
calibration on the test split (and the train NLL) against the Naive baseline; write plots and
``metrics.json``.

Sizes are small so that it runs in minutes on 2 cores; the paper's settings are the
package defaults (core 500, halo 64, Table 1 of DESIGN.md via ``TrainConfig.paper``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo (small on purpose: see the module docstring)."""

    size: int = 1024
    seed: int = 0
    chunks: int = 256
    core: int = 128
    halo: int = 64
    distances: tuple[float, ...] = (30.0, 100.0, 300.0)
    llr_epochs: int = 4
    llr_lr: float = 0.05
    lacnn_epochs: int = 10
    lacnn_lr: float = 0.002
    lacnn_batch: int = 4
    lacnn_width: int = 8
    max_batches_per_epoch: int | None = 24
    max_aligned: int = 22

    @classmethod
    def quick(cls) -> DemoConfig:
        """Tiny settings for smoke tests (seconds, not minutes)."""
        return cls(
            size=192,
            core=64,
            halo=32,
            chunks=96,
            llr_epochs=2,
            lacnn_epochs=1,
            lacnn_width=4,
            max_batches_per_epoch=4,
        )

    def replace(self, **changes) -> DemoConfig:
        return dataclasses.replace(self, **changes)


class _Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:7.1f}s] {msg}", file=self.stream, flush=True)


def run_demo(out, config: DemoConfig | None = None) -> dict:
    """Run the demo into folder ``out`` and return the metrics dict (also in metrics.json).

    The demo's own outputs in ``out`` are replaced when they exist (each atomically).
    """
    import dask

    from .checkpoint import load_model
    from .evaluate import calibration, evaluate, naive_nll, nll
    from .evaluate.calibration import SUSCEPTIBILITY_EDGES
    from .grid import PatchGeometry
    from .io import open_map, open_region, write_map, write_region
    from .patches import make_patches
    from .plot import (
        plot_calibration,
        plot_model_maps,
        plot_roc,
        plot_susceptibility,
        save_figure,
    )
    from .synthetic import synthetic_region
    from .train import TrainConfig, fit, select_aligned_features

    cfg = config or DemoConfig()
    out = Path(out)
    log = _Progress()
    out.mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(exist_ok=True)

    # 1. region + offsets -> region.zarr
    log(f"building a {cfg.size} x {cfg.size} synthetic region (seed {cfg.seed}) and its offsets")
    region = synthetic_region(shape=(cfg.size, cfg.size), seed=cfg.seed, chunks=cfg.chunks)
    region = region.landslide.with_offsets(cfg.distances, halo=cfg.halo)
    write_region(region, out / "region.zarr", overwrite=True)
    log("wrote region.zarr")

    # 2. patches and split
    train_region = open_region(out / "region.zarr", chunks=None)
    geometry = PatchGeometry(core=cfg.core, halo=cfg.halo)
    patches = make_patches(train_region, geometry, seed=cfg.seed)
    patches.to_json(out / "split.json")
    counts = patches.counts()
    log(f"patches: {counts}")

    # 3. the Naive baseline; an LLR and the aligned features picked from its weights (the
    #    paper's |w| >= 0.2 rule); the LACNN on them
    fit(train_region, "naive", patches=patches, checkpoint=out / "models" / "naive.pt")
    llr_cfg = TrainConfig.paper("llr").replace(
        epochs=cfg.llr_epochs,
        lr=cfg.llr_lr,
        seed=cfg.seed,
        max_batches_per_epoch=cfg.max_batches_per_epoch,
    )
    log("training LLR and choosing the aligned features from its weights")
    selection = select_aligned_features(
        train_region,
        patches,
        config=llr_cfg,
        threshold=0.2,
        max_features=cfg.max_aligned,
        checkpoint=out / "models" / "llr.pt",
    )
    aligned = selection.names
    log(f"aligned features ({len(aligned)}): {', '.join(aligned)}")

    lacnn_cfg = TrainConfig.paper("lacnn").replace(
        epochs=cfg.lacnn_epochs,
        lr=cfg.lacnn_lr,
        batch_size=cfg.lacnn_batch,
        seed=cfg.seed,
        max_batches_per_epoch=cfg.max_batches_per_epoch,
    )
    log("training LACNN")
    fit(
        train_region,
        "lacnn",
        patches=patches,
        config=lacnn_cfg,
        model_config={"base_width": cfg.lacnn_width},
        aligned=aligned,
        distances=cfg.distances,
        checkpoint=out / "models" / "lacnn.pt",
    )

    # 4. lazy prediction from the store, streamed to disk
    region = open_region(out / "region.zarr")
    models = {
        "LLR": load_model(out / "models" / "llr.pt"),
        "LACNN": load_model(out / "models" / "lacnn.pt"),
    }
    log("predicting the whole region (LLR, LACNN), streamed to Zarr")
    with dask.config.set(scheduler="threads"):
        for name, m in models.items():
            path = out / ("susceptibility.zarr" if name == "LACNN" else "susceptibility_llr.zarr")
            write_map(region.landslide.predict(m), path, overwrite=True)
        saved = {
            "LACNN": open_map(out / "susceptibility.zarr"),
            "LLR": open_map(out / "susceptibility_llr.zarr"),
        }
        write_map(saved["LACNN"], out / "susceptibility.tif", overwrite=True)
    log("wrote susceptibility.zarr, susceptibility_llr.zarr, susceptibility.tif")

    # 5. evaluation on the test split (and the train NLL, as in Table 2 of the paper);
    #    Naive = the training positive ratio everywhere
    log("evaluating on the test split")
    label = region["label"]
    test_mask = patches.core_mask("test", like=region)
    train_mask = patches.core_mask("train", like=region)
    results = {name: evaluate(p, label, test_mask, roc=True) for name, p in saved.items()}
    reliability = {
        name: calibration(p, label, test_mask, bins=SUSCEPTIBILITY_EDGES)
        for name, p in saved.items()
    }
    curves = {name: (r["fpr"], r["tpr"]) for name, r in results.items()}
    naive = load_model(out / "models" / "naive.pt").module.ratio
    metrics = {
        "naive": {
            "nll": float(naive_nll(naive, label, test_mask)),
            "train_nll": float(naive_nll(naive, label, train_mask)),
            "ratio": naive,
        },
        "models": {
            name: {
                "auc": float(r["auc"]),
                "nll": float(r["nll"]),
                "train_nll": float(nll(saved[name], label, train_mask)),
                "ece": reliability[name]["ece"],
                "auc_error_bound": float(r.get("auc_error_bound", 0.0)),
            }
            for name, r in results.items()
        },
        "aligned": {"features": list(aligned), "distances": list(cfg.distances)},
        "split": {
            "seed": cfg.seed,
            "core": cfg.core,
            "halo": cfg.halo,
            "counts": counts,
            "test_pixels": int(next(iter(results.values()))["n_pixels"]),
            "test_positive_ratio": float(next(iter(results.values()))["positive_ratio"]),
        },
        "config": dataclasses.asdict(cfg),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))

    # 6. plots
    fig = plot_susceptibility(saved["LACNN"], label, title="LACNN susceptibility")
    save_figure(fig, out / "map.png")
    fig = plot_model_maps(
        {"LLR": saved["LLR"], "LACNN": saved["LACNN"]},
        label,
        window=_zoom_window(patches, label, "test"),
    )
    save_figure(fig, out / "maps.png")
    fig = plot_roc({k: v for k, v in curves.items()}, naive=True)
    save_figure(fig, out / "roc.png")
    fig = plot_calibration(reliability, title="reliability on the test split")
    save_figure(fig, out / "calibration.png")
    log("wrote map.png, maps.png, roc.png, calibration.png, metrics.json")

    _print_table(metrics)
    return metrics


def _zoom_window(patches, label, split: str) -> dict:
    """The window (core and halo) of the ``split`` patch whose core holds most landslides."""
    import numpy as np

    lab = np.asarray(label.values)
    best, best_k = -1, None
    for k in patches.indices(split):
        r, c = patches.origins[k]
        core = patches.geometry.core
        n = int(np.count_nonzero(lab[r : r + core, c : c + core] == 1))
        if n > best:
            best, best_k = n, k
    if best_k is None:
        return {"y": slice(0, lab.shape[0] // 2), "x": slice(0, lab.shape[1] // 2)}
    y0, y1, x0, x1 = patches.window(best_k)
    return {"y": slice(max(y0, 0), y1), "x": slice(max(x0, 0), x1)}


def _print_table(metrics: dict) -> None:
    naive = metrics["naive"]
    rows = [("Naive", f"{naive['nll']:.4f}", f"{naive['train_nll']:.4f}", "0.500", "")]
    for name, m in metrics["models"].items():
        rows.append(
            (name, f"{m['nll']:.4f}", f"{m['train_nll']:.4f}", f"{m['auc']:.3f}", f"{m['ece']:.4f}")
        )
    print("\nMetrics (NLL per known pixel; AUC and ECE on the test split)")
    print(f"{'model':<8} {'test NLL':>9} {'train NLL':>10} {'AUC':>7} {'ECE':>8}")
    for r in rows:
        print(f"{r[0]:<8} {r[1]:>9} {r[2]:>10} {r[3]:>7} {r[4]:>8}")
