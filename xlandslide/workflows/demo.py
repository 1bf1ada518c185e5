"""The demo: the whole pipeline on a built-in synthetic region, on a laptop's CPU.

Steps (each printed with its time): build the region and its uphill offsets lazily and
write the region store; cut patches and split them 80/10/10; the paper's report
(:func:`xlandslide.paper_report`): fit the six models — Naive (the training positive
ratio), LLR, NN, then the aligned features picked from the LLR's weights (the paper's
|w| >= 0.2 rule), LANN, CNN and LACNN — predict their maps lazily and stream them to Zarr,
score them on the test split (Table 2: test NLL, train NLL, AUC; with PR AUC, Brier score
and ECE) and draw the ROC curves of all, their maps in a zoomed window beside the truth
and the reliability diagram; then zone the LACNN map into five quantile classes (a classed
GeoTIFF that QGIS shows with its classes, the zoning table) and draw the success- and
prediction-rate curves; write ``metrics.json`` and print the tables.

Sizes are small so that it runs in minutes on 2 cores: patches of core 128 (halo 64) and
short training budgets on top of the package's defaults (:meth:`TrainConfig.default`);
the paper's geometry (core 500) and Table 1 (``TrainConfig.paper``) are one option away.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..evaluate.rates import rate_curve
from ..evaluate.zoning import zoning, zoning_table
from ..grid import PAPER_DISTANCES, PatchGeometry
from ..io import open_map, open_region, write_map, write_region
from ..io.atomic import atomic_output, replaceable_table
from ..io.classed import write_classed
from ..models import model_entry
from ..patches import make_patches
from ..plot import (
    plot_rate_curves,
    plot_susceptibility,
    plot_zoning,
    require_matplotlib,
    save_figure,
)
from ..synthetic import synthetic_region
from ..train import TrainConfig
from .report import DISPLAY, paper_report


@dataclass(frozen=True)
class DemoConfig:
    """Settings of the demo (small on purpose: see the module docstring).

    ``train`` maps a model name to the :class:`~xlandslide.TrainConfig` changes of its run
    (on top of :meth:`TrainConfig.default`), ``options`` to its model options; ``seed``
    seeds every run.
    """

    size: int = 1024
    seed: int = 0
    chunks: int = 256
    core: int = 128
    halo: int = 64
    distances: tuple[float, ...] = PAPER_DISTANCES
    train: dict = dataclasses.field(
        default_factory=lambda: {
            "nn": {"epochs": 3, "batch_size": 4, "max_batches_per_epoch": 12},
            "lann": {"epochs": 3, "batch_size": 4, "max_batches_per_epoch": 12},
            "cnn": {"epochs": 6, "batch_size": 4, "max_batches_per_epoch": 24},
            "lacnn": {"epochs": 6, "batch_size": 4, "max_batches_per_epoch": 24},
        }
    )
    options: dict = dataclasses.field(
        default_factory=lambda: {"cnn": {"base_width": 8}, "lacnn": {"base_width": 8}}
    )
    max_aligned: int = 22
    zones: int = 5

    @classmethod
    def quick(cls) -> DemoConfig:
        """Tiny settings for smoke tests (seconds, not minutes)."""
        tiny = {"epochs": 1, "batch_size": 4, "max_batches_per_epoch": 4}
        return cls(
            size=192,
            core=64,
            halo=32,
            chunks=96,
            train={name: tiny for name in ("nn", "lann", "cnn", "lacnn")},
            options={"cnn": {"base_width": 4}, "lacnn": {"base_width": 4}},
        )

    def replace(self, **changes) -> DemoConfig:
        return dataclasses.replace(self, **changes)


class _Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        print(f"[{time.perf_counter() - self.t0:7.1f}s] {msg}", file=self.stream, flush=True)


def configs(cfg: DemoConfig) -> tuple[dict, dict]:
    """The training settings and model options of the demo's five trained models.

    The package's defaults (:meth:`TrainConfig.default`: the LLR fitted exactly; the
    networks with AdamW, warm-up and cosine decay, clipping, GroupNorm in the U-Net) with
    the budgets of ``cfg.train``, sized for 2 CPU cores: the per-pixel NN and LANN see 3 x
    12 batches of 4 patches, the CNN and the LACNN 6 x 24; every network starts from the LLR
    (:func:`xlandslide.paper_report`'s default), so the LACNN differs from the CNN by the
    aligned gather alone.
    """
    names = ("llr", "nn", "lann", "cnn", "lacnn")
    train = {n: TrainConfig.default(n, seed=cfg.seed, **dict(cfg.train.get(n, {}))) for n in names}
    return train, {n: dict(v) for n, v in cfg.options.items()}


def run_demo(out, config: DemoConfig | None = None, *, progress: bool = True) -> dict:
    """Run the demo into folder ``out`` and return the metrics dict (also in metrics.json).

    The demo's own outputs in ``out`` are replaced when they exist (each atomically).
    ``progress``: the training's per-epoch lines and bars and the report's step lines on
    stderr (:func:`xlandslide.fit`, :func:`xlandslide.paper_report`); the demo's own step
    lines go to stdout either way.
    """
    cfg = config or DemoConfig()
    out = Path(out)
    require_matplotlib()  # the demo ends with figures: a missing matplotlib is said first
    log = _Progress()
    out.mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(exist_ok=True)
    train_region, patches = _region_and_patches(cfg, out, log)
    counts = patches.counts()
    log(f"patches: {counts}")
    # 3. the paper's Table 2 and Figures 4-6: six models, one split
    train_cfg, options = configs(cfg)
    region = open_region(out / "region.zarr")
    log("the six models of the paper: training, predicting, scoring (paper_report)")
    report = paper_report(
        train_region,
        patches,
        configs=train_cfg,
        model_configs=options,
        distances=cfg.distances,
        max_aligned=cfg.max_aligned,
        out=out,
        predict_region=region,
        progress=progress,
    )
    log(f"aligned features ({len(report.aligned)}): {', '.join(report.aligned)}")
    lacnn = _write_maps(report, out)
    log("wrote maps/*.zarr, susceptibility.zarr (LACNN), susceptibility.tif, table2.csv")
    zoned = _zoning(cfg, lacnn, region, patches, out)
    log("wrote zones.tif (+ .qml, .aux.xml), zoning.csv, zoning.png, rates.png, map.png")
    metrics = _metrics(cfg, report, counts, *zoned)
    own = replaceable_table("{")  # a JSON document (the demo's own metrics)
    with atomic_output(out / "metrics.json", overwrite=True, replaceable=own) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, default=_plain))
    _print_table(metrics)
    _print_zoning(metrics)
    return metrics


def _region_and_patches(cfg: DemoConfig, out: Path, log):
    """1. the region and its offsets, written to region.zarr; 2. its patches and split."""
    log(f"building a {cfg.size} x {cfg.size} synthetic region (seed {cfg.seed}) and its offsets")
    region = synthetic_region(shape=(cfg.size, cfg.size), seed=cfg.seed, chunks=cfg.chunks)
    region = region.landslide.with_offsets(cfg.distances, halo=cfg.halo)
    write_region(region, out / "region.zarr", overwrite=True)
    log("wrote region.zarr")
    train_region = open_region(out / "region.zarr", chunks=None)
    geometry = PatchGeometry(core=cfg.core, halo=cfg.halo)
    patches = make_patches(train_region, geometry, seed=cfg.seed)
    patches.to_json(out / "split.json")
    return train_region, patches


def _write_maps(report, out: Path):
    """The LACNN's and the LLR's maps to Zarr (the LACNN's also to GeoTIFF); the LACNN's
    map, read back."""
    import dask

    with dask.config.set(scheduler="threads"):
        for name, target in (("lacnn", "susceptibility.zarr"), ("llr", "susceptibility_llr.zarr")):
            write_map(report.maps[name], out / target, overwrite=True)
        write_map(report.maps["lacnn"], out / "susceptibility.tif", overwrite=True)
    return open_map(out / "susceptibility.zarr")


def _zoning(cfg: DemoConfig, lacnn, region, patches, out: Path):
    """4. zoning of the LACNN map (zones.tif, zoning.csv); success and prediction rates;
    their figures and the map's."""
    label = region["label"]
    inside = region["dem"].notnull()
    zones = zoning(lacnn, "quantile", cfg.zones, mask=inside)
    write_classed(zones, out / "zones.tif", overwrite=True)
    table = zoning_table(zones, label)
    with atomic_output(
        out / "zoning.csv", overwrite=True, replaceable=replaceable_table("class,")
    ) as tmp:
        table.to_csv(tmp, index=False)
    rates = {
        "success (training labels)": rate_curve(
            lacnn, label, patches.core_mask("train", like=region), area=inside
        ),
        "prediction (test labels)": rate_curve(
            lacnn, label, patches.core_mask("test", like=region), area=inside
        ),
    }
    save_figure(
        plot_zoning(zones, table=table, title="LACNN susceptibility zones (quantiles)"),
        out / "zoning.png",
    )
    save_figure(
        plot_rate_curves(rates, title="LACNN: success and prediction rates"), out / "rates.png"
    )
    fig = plot_susceptibility(lacnn, label, title="LACNN susceptibility", stretch="log")
    save_figure(fig, out / "map.png")
    return zones, table, rates


_METRIC_COLUMNS = (
    ("auc", "auc"),
    ("nll", "test_nll"),
    ("train_nll", "train_nll"),
    ("pr_auc", "pr_auc"),
    ("brier", "brier"),
    ("ece", "ece"),
    ("auc_error_bound", "auc_error_bound"),
    ("seconds", "seconds"),
)


def _metrics(cfg: DemoConfig, report, counts, zones, table, rates) -> dict:
    """What metrics.json holds."""
    rows = {r["model"]: r for r in report.table.to_dict(orient="records")}
    first = next(iter(report.results.values()))
    return {
        "naive": {
            "nll": float(rows["Naive"]["test_nll"]),
            "train_nll": float(rows["Naive"]["train_nll"]),
            "ratio": report.models["naive"].module.ratio,
        },
        "models": {
            DISPLAY[n]: {key: float(rows[DISPLAY[n]][col]) for key, col in _METRIC_COLUMNS}
            for n in report.models
            if model_entry(n).trained
        },
        "aligned": {"features": list(report.aligned), "distances": list(cfg.distances)},
        "split": {
            "seed": cfg.seed,
            "core": cfg.core,
            "halo": cfg.halo,
            "counts": counts,
            "test_pixels": int(first["n_pixels"]),
            "test_positive_ratio": float(first["positive_ratio"]),
        },
        "zoning": {
            "method": "quantile",
            "breaks": zones.attrs["breaks"],
            "table": table.to_dict(orient="records"),
            "success_rate_auc": rates["success (training labels)"]["auc"],
            "prediction_rate_auc": rates["prediction (test labels)"]["auc"],
        },
        "config": dataclasses.asdict(cfg),
    }


def _plain(value):
    """JSON for what json cannot write (numpy scalars, infinities as strings)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _print_table(metrics: dict) -> None:
    naive = metrics["naive"]
    rows = [("Naive", f"{naive['nll']:.4f}", f"{naive['train_nll']:.4f}", "0.500", "", "")]
    for name, m in metrics["models"].items():
        rows.append(
            (
                name,
                f"{m['nll']:.4f}",
                f"{m['train_nll']:.4f}",
                f"{m['auc']:.3f}",
                f"{m.get('pr_auc', float('nan')):.3f}",
                f"{m['ece']:.4f}",
            )
        )
    print("\nTable 2 (NLL per known pixel; AUC, PR AUC and ECE on the test split)")
    print(f"{'model':<8} {'test NLL':>9} {'train NLL':>10} {'AUC':>7} {'PR AUC':>7} {'ECE':>8}")
    for r in rows:
        print(f"{r[0]:<8} {r[1]:>9} {r[2]:>10} {r[3]:>7} {r[4]:>7} {r[5]:>8}")


def _print_zoning(metrics: dict) -> None:
    z = metrics["zoning"]
    print(f"\nLACNN zoning ({z['method']}): area and landslides per class")
    print(f"{'class':<10} {'area km2':>9} {'area %':>7} {'slides %':>9} {'FR':>6}")
    for r in z["table"]:
        print(
            f"{r['name']:<10} {r['area_km2']:>9.3f} {r['area_pct']:>7.1f} "
            f"{r['landslide_pct']:>9.1f} {r['frequency_ratio']:>6.2f}"
        )
    print(
        f"success-rate AUC {z['success_rate_auc']:.3f}, "
        f"prediction-rate AUC {z['prediction_rate_auc']:.3f}"
    )
