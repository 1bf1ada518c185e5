""":func:`paper_report`: the paper's Table 2 and Figures 4-6 for all six models, in one call.

On one patch split (:func:`xlandslide.make_patches`, the paper's random 80 / 10 / 10):

1. fit Naive (the training positive ratio), LLR, NN, then choose the aligned features from
   the LLR's weights (the paper's ``|w| >= 0.2`` rule) and fit LANN, CNN and LACNN;
2. predict every map lazily — streamed to ``out/maps/NAME.zarr`` when ``out`` is given, so
   that the scores and figures read each map from disk instead of recomputing it;
3. score: test NLL, train NLL and ROC AUC (Table 2), with PR AUC, Brier score and ECE;
4. draw the ROC curves of all models on one plot (Figure 4) and every map over the whole
   region and in a zoomed window inside the region beside the ground truth (Figures 5-6;
   a logarithmic colour scale), and the reliability diagram on bins of equal counts.

Which split every figure is on is said in the table (``split`` column) and the figure
titles; for skill on held-out *space*, run :func:`xlandslide.cross_validate` instead.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..evaluate.calibration import calibration
from ..evaluate.metrics import evaluate, naive_nll, nll
from ..io.atomic import atomic_output, check_outputs, replaceable_figure, replaceable_table
from ..io.integrity import foreign_output
from ..io.maps import open_map, write_map
from ..models import canonical_name, model_entry
from ..plot import (
    inside_window,
    plot_calibration,
    plot_model_maps,
    plot_roc,
    quantile_calibration,
    require_matplotlib,
    save_figure,
)
from ..predict import predict
from ..train.config import TrainConfig
from ..train.defaults import CHAIN_ALIGNED
from ..train.fit import fit
from ..train.presets import DEFAULT_MODEL_CONFIG
from ..train.quality import is_degenerate
from ..train.select import select_aligned_features

#: The models of Table 2, in its order.
PAPER_MODELS = ("naive", "llr", "nn", "lann", "cnn", "lacnn")
#: Display names.
DISPLAY = {
    "naive": "Naive",
    "llr": "LLR",
    "nn": "NN",
    "lann": "LANN",
    "cnn": "CNN",
    "lacnn": "LACNN",
}


@dataclass
class Report:
    """What :func:`paper_report` returns.

    ``table``: one row per model — ``model``, ``test_nll``, ``train_nll``, ``auc``,
    ``pr_auc``, ``brier``, ``ece``, ``auc_error_bound``, ``seconds`` (training), ``split``;
    ``results``: per model the :func:`xlandslide.evaluate` dict on the test cores (with the
    ROC curve); ``models``, ``maps`` (lazy or opened from ``out``); ``aligned`` names;
    ``files``: what was written.
    """

    table: object
    results: dict
    models: dict
    maps: dict
    aligned: tuple
    files: dict = field(default_factory=dict)

    def format(self) -> str:
        """Table 2 as text (NLL per known pixel; AUC; PR AUC; ECE — on the test split)."""
        lines = [
            f"{'model':<7} {'test NLL':>9} {'train NLL':>10} {'AUC':>7} {'PR AUC':>7} "
            f"{'Brier':>8} {'ECE':>8}"
        ]
        for _, r in self.table.iterrows():
            lines.append(
                f"{r['model']:<7} {r['test_nll']:>9.4f} {r['train_nll']:>10.4f} "
                f"{r['auc']:>7.3f} {r['pr_auc']:>7.3f} {r['brier']:>8.5f} {r['ece']:>8.4f}"
                + ("  DEGENERATE" if r.get("degenerate") else "")
            )
        return "\n".join(lines)


def _log(progress, msg):
    if progress:
        print(f"[xlandslide report] {msg}", file=sys.stderr, flush=True)


def paper_report(
    region,
    patches,
    *,
    models: Sequence[str] = PAPER_MODELS,
    configs: Mapping | None = None,
    model_configs: Mapping | None = None,
    aligned: Sequence[str] | None = None,
    distances: Sequence[float] | None = None,
    threshold: float = 0.2,
    max_aligned: int | None = None,
    chain: bool = CHAIN_ALIGNED,
    out=None,
    predict_region=None,
    window: dict | None = None,
    progress: bool = True,
) -> Report:
    """Train, predict, score and draw all six models of the paper on one split.

    Parameters
    ----------
    region : Dataset
        The training region (for aligned models, with the offsets of ``distances``).  A
        store opened with ``chunks=None`` trains fastest.
    patches : PatchSet
        The split (:func:`xlandslide.make_patches`); scores are on its ``test`` cores, the
        train NLL on its ``train`` cores.
    models : sequence of str
        Any of :data:`PAPER_MODELS` (default all six, in Table 2's order).
    configs, model_configs : mapping of name -> TrainConfig / options, optional
        Per-model training settings (default ``TrainConfig.default(name)``; Table 1 of the paper is
        ``TrainConfig.paper(name)``) and options.
    aligned : sequence of str, optional
        The aligned features (default: the LLR's choice, ``threshold`` / ``max_aligned``).
    distances : sequence of float, optional
        Looking distances of the aligned models (default: all the region holds).
    chain : bool
        ``True``: an aligned model starts from its base when that is among the models (the
        LACNN from the CNN, the LANN from the NN; ``fit(..., warm_start=...)``) and trains
        its own budget on top.  ``False`` (default,
        :data:`~xlandslide.train.defaults.CHAIN_ALIGNED`): it starts where its base does
        (the LLR), so the two differ by the aligned gather alone.
    out : path, optional
        Folder: checkpoints ``models/NAME.pt``, maps ``maps/NAME.zarr``, ``table2.csv``,
        ``table2.json``, ``roc.png``, ``maps.png``, ``calibration.png``.
    predict_region : Dataset, optional
        The region to predict (default ``region``): e.g. the same store opened with dask
        chunks.
    window : dict, optional
        Pixel slices of the zoomed window (default: the square of a patch core's side
        inside the region holding most landslides, :func:`xlandslide.plot.inside_window`).
    progress : bool

    Returns
    -------
    Report

    Examples
    --------
    >>> import tempfile
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> out = tempfile.mkdtemp()
    >>> report = xlandslide.paper_report(
    ...     region, patches, models=["naive", "llr"], out=out, progress=False
    ... )
    >>> report.table["model"].tolist(), float(report.table["auc"].iloc[0])  # Naive: 0.5
    (['Naive', 'LLR'], 0.5)
    >>> bool(report.table["auc"].iloc[1] > 0.7)
    True
    >>> sorted(report.files)
    ['calibration', 'map_llr', 'map_naive', 'maps', 'roc', 'table_csv', 'table_json']
    """
    import pandas as pd

    names = [canonical_name(m) for m in models]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"models must name distinct models, got {list(models)}")
    order = {n: i for i, n in enumerate(PAPER_MODELS)}
    names.sort(key=order.get)
    out = Path(out) if out is not None else None
    if out is not None:
        require_matplotlib()  # the figures come last: a missing matplotlib is said first
        check_outputs(_outputs(out), overwrite=True)  # only ours replaced: said before training
        (out / "models").mkdir(parents=True, exist_ok=True)
    trainer = _Trainer(region, patches, configs, model_configs, out, progress)
    chosen = trainer.train_all(names, aligned, distances, threshold, max_aligned, chain)
    trained = {n: trainer.trained[n] for n in names}
    target = region if predict_region is None else predict_region
    maps, files = _predict_all(target, trained, out, progress)
    label = target["label"]
    rows, results = _score_all(target, patches, trained, maps, trainer, progress)
    report = Report(pd.DataFrame(rows), results, trained, maps, tuple(chosen), files)
    if out is not None:
        _write(report, out, patches, label, window)
    return report


class _Trainer:
    """Trains the report's models on one split, keeping each and its training time."""

    def __init__(self, region, patches, configs, model_configs, out, progress):
        self.region, self.patches, self.out, self.progress = region, patches, out, progress
        self.configs = dict(configs or {})
        self.model_configs = dict(model_configs or {})
        self.trained: dict = {}
        self.seconds: dict = {}

    def train(self, name, **kw):
        t0 = time.perf_counter()
        _log(self.progress, f"training {DISPLAY[name]}")
        ckpt = None if self.out is None else self.out / "models" / f"{name}.pt"
        if not model_entry(name).trained:
            m = fit(self.region, name, patches=self.patches, checkpoint=ckpt)
        else:
            m = fit(
                self.region,
                name,
                patches=self.patches,
                config=self.configs.get(name) or TrainConfig.default(name),
                model_config=self.model_configs.get(name),
                checkpoint=ckpt,
                progress=self.progress,
                **kw,
            )
        self.seconds[name] = time.perf_counter() - t0
        self.trained[name] = m
        return m

    def warm(self, name) -> dict:
        """The LLR for a network with a linear path (the package's default)."""
        llr = self.trained.get("llr")
        opts = {**DEFAULT_MODEL_CONFIG.get(name, {}), **(self.model_configs.get(name) or {})}
        if llr is None or not opts.get("linear_skip") or model_entry(name).linear:
            return {}
        return {"warm_start": llr}

    def aligned(self, threshold, max_aligned) -> tuple:
        """The LLR's choice of aligned features (an LLR trained for it when none is)."""
        llr = self.trained.get("llr")
        if llr is None:
            cfg = self.configs.get("llr") or TrainConfig.default("llr")
            llr = fit(self.region, "llr", patches=self.patches, config=cfg, progress=self.progress)
        return select_aligned_features(
            self.region,
            self.patches,
            llr=llr,
            threshold=threshold,
            max_features=max_aligned,
            progress=self.progress,
        ).names

    def train_all(self, names, aligned, distances, threshold, max_aligned, chain) -> tuple:
        """Every model, the per-pixel and unaligned first; returns the aligned features."""
        for name in [n for n in names if not model_entry(n).needs_offsets]:
            self.train(name, **self.warm(name))
        if not any(model_entry(n).needs_offsets for n in names):
            return ()
        chosen = tuple(aligned) if aligned is not None else self.aligned(threshold, max_aligned)
        _log(self.progress, f"aligned features ({len(chosen)}): {', '.join(chosen)}")
        for name in [n for n in names if model_entry(n).needs_offsets]:
            base = self.trained.get(model_entry(name).base)
            torch_base = base is not None and model_entry(name).backend == "torch"
            kw = {"warm_start": base} if chain and torch_base else self.warm(name)
            self.train(name, aligned=chosen, distances=distances, **kw)
        return chosen


def _predict_all(target, trained, out, progress):
    """Each model's lazy map of ``target`` (with ``out``: streamed to ``maps/NAME.zarr``
    and read back); and the files written."""
    import dask

    maps, files = {}, {}
    for name, m in trained.items():
        prob = predict(target, m)
        if out is not None:
            path = out / "maps" / f"{name}.zarr"
            _log(progress, f"predicting {DISPLAY[name]} -> {path}")
            with dask.config.set(scheduler="threads"):
                write_map(prob, path, overwrite=True)
            prob = open_map(path)
            files[f"map_{name}"] = path
        maps[name] = prob
    return maps, files


def _score_all(target, patches, trained, maps, trainer, progress):
    """Table 2's rows and each model's metrics on the test cores."""
    label = target["label"]
    test = patches.core_mask("test", like=target)
    train_m = patches.core_mask("train", like=target)
    rows, results = [], {}
    for name, prob in maps.items():
        _log(progress, f"scoring {DISPLAY[name]}")
        r = evaluate(prob, label, test, roc=True)
        c = calibration(prob, label, test)
        if not model_entry(name).trained:
            train_nll = naive_nll(trained[name].module.ratio, label, train_m)
        else:
            train_nll = nll(prob, label, train_m)
        results[name] = r
        rows.append(
            {
                "model": DISPLAY[name],
                "test_nll": r["nll"],
                "train_nll": float(train_nll),
                "auc": r["auc"],
                "pr_auc": r["pr_auc"],
                "brier": r["brier"],
                "ece": c["ece"],
                "auc_error_bound": r["auc_error_bound"],
                "n_test_pixels": r["n_pixels"],
                "test_positive_ratio": r["positive_ratio"],
                "seconds": trainer.seconds[name],
                "degenerate": is_degenerate(trained[name]),
                "split": "random patch split, test cores",
            }
        )
    return rows, results


def zoom_window(patches, label, split: str = "test") -> dict:
    """The window (core and halo) of the ``split`` patch whose core holds most landslides."""
    best, best_k = -1, None
    core = patches.geometry.core
    for k in patches.indices(split):
        r, c = patches.origins[k]
        block = np.asarray(label.isel(y=slice(r, r + core), x=slice(c, c + core)).values)
        n = int(np.count_nonzero(block == 1))
        if n > best:
            best, best_k = n, k
    ny, nx = label.sizes["y"], label.sizes["x"]
    if best_k is None:
        return {"y": slice(0, ny // 2), "x": slice(0, nx // 2)}
    y0, y1, x0, x1 = patches.window(best_k)
    return {"y": slice(max(y0, 0), min(y1, ny)), "x": slice(max(x0, 0), min(x1, nx))}


#: The first columns of ``table2.csv``.
TABLE2_HEADER = "model,test_nll,"


def _replaceable_json(path: Path) -> None:
    """Only a ``table2.json`` the report wrote: a list of rows with a model and its NLL."""

    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        ours = isinstance(rows, list) and all(
            isinstance(r, dict) and {"model", "test_nll"} <= set(r) for r in rows
        )
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise foreign_output(path, "not the report's table")


def _outputs(out: Path) -> dict:
    """The files the report writes in ``out`` and what each may replace."""

    figures = {out / f"{n}.png": replaceable_figure for n in ("roc", "maps", "calibration")}
    return {
        out / "table2.csv": replaceable_table(TABLE2_HEADER),
        out / "table2.json": _replaceable_json,
        **figures,
    }


def _write(report: Report, out: Path, patches, label, window) -> None:

    t = report.table
    checks = _outputs(out)
    with atomic_output(
        out / "table2.csv", overwrite=True, replaceable=checks[out / "table2.csv"]
    ) as tmp:
        t.to_csv(tmp, index=False)
    with atomic_output(out / "table2.json", overwrite=True, replaceable=_replaceable_json) as tmp:
        tmp.write_text(json.dumps(t.to_dict(orient="records"), indent=2))
    report.files.update(table_csv=out / "table2.csv", table_json=out / "table2.json")
    curves = {DISPLAY[n]: r for n, r in report.results.items() if model_entry(n).trained}
    naive = any(not model_entry(n).trained for n in report.results)
    fig = plot_roc(curves, naive=naive, title="ROC on the test split (random patch split)")
    report.files["roc"] = save_figure(fig, out / "roc.png")
    if window is None:
        window = inside_window(label, report.maps, size=patches.geometry.core)
    maps = {DISPLAY[n]: m for n, m in report.maps.items()}
    fig = plot_model_maps(maps, label, window=window, stretch="log")  # rare slides: decades
    report.files["maps"] = save_figure(fig, out / "maps.png")
    test = patches.core_mask("test", like=label)
    rel = {
        DISPLAY[n]: quantile_calibration(m, label, test)
        for n, m in report.maps.items()
        if model_entry(n).trained
    }
    title = "reliability on the test split (10 bins of equal counts)"
    fig = plot_calibration(rel, title=title)
    report.files["calibration"] = save_figure(fig, out / "calibration.png")


__all__ = ["DISPLAY", "PAPER_MODELS", "Report", "paper_report", "zoom_window"]
