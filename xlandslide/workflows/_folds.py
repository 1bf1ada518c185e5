"""The steps of :func:`xlandslide.workflows.cv.cross_validate`: a fold's masks, its models
(trained in registry order, the LLR first, bases before their aligned models), their scores
and the out-of-fold maps."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ..evaluate.calibration import calibration
from ..evaluate.metrics import evaluate
from ..models import MODELS, model_entry
from ..predict import predict
from ..train.config import TrainConfig
from ..train.ensemble import fit_ensemble
from ..train.fit import fit
from ..train.presets import DEFAULT_MODEL_CONFIG
from ..train.quality import hanley_mcneil_se, is_degenerate
from ..train.select import rank_aligned


def _per_model(value, name: str, default):
    if isinstance(value, Mapping):
        return value.get(name, default)
    return default if value is None else value


def _config_for(configs, name):
    cfg = _per_model(configs, name, None)
    if cfg is None:
        return TrainConfig.default(name)
    if not isinstance(cfg, TrainConfig):
        raise ConfigError(
            f"configs must map model names to TrainConfig objects, got {type(cfg).__name__} "
            f"for {name!r}"
        )
    return cfg


def _options(model_configs, name) -> dict:
    return dict(_per_model(model_configs, name, {}) or {})


def _materialise(mask: xr.DataArray, region: xr.Dataset) -> xr.DataArray:
    """A mask in memory when the region is (small), else the lazy mask."""
    lazy = any(region[v].chunks is not None for v in region.data_vars)
    return mask if lazy else mask.compute()


def _log(progress, msg):
    if progress:
        print(f"[xlandslide cv] {msg}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class _Plan:
    """What every fold runs: the checked arguments of :func:`cross_validate`."""

    names: list
    seeds: dict
    configs: object
    model_configs: object
    aligned: tuple | None
    distances: tuple | None
    warm_start: bool
    chain: bool
    threshold: float
    max_aligned: int | None
    ece_bins: object
    progress: bool
    client: object = None


def _fold_masks(folds, region, validation):
    """Per fold ``(train, val, test)``; each fold's test mask is computed once and is the
    validation mask of the fold before it."""
    k = folds.k
    tests = [_materialise(folds.test_mask(f, region), region) for f in range(k)]
    for f in range(k):
        if validation == "fold":
            v = (f + 1) % k
            train = _materialise(folds.train_mask(f, region, exclude=[v]), region)
            yield train, tests[v], tests[f]
        else:
            train = _materialise(folds.train_mask(f, region), region)
            yield train, train, tests[f]


class _FoldLLR:
    """The fold's LLR (aligned features, warm starts): the one trained among the models,
    else one trained when first asked for."""

    def __init__(self, region, plan: _Plan, common: dict):
        self.region, self.plan, self.common, self.model = region, plan, common, None

    def get(self):
        if self.model is None:
            self.model = fit_ensemble(
                self.region,
                "llr",
                seeds=self.plan.seeds.get("llr", [0])[:1],
                config=_config_for(self.plan.configs, "llr"),
                model_config=_options(self.plan.model_configs, "llr"),
                **self.common,
            )
        return self.model


def _train(region, plan: _Plan, name, common, trained, llr: _FoldLLR):
    """One model of a fold; returns it and the aligned features it reads (or None)."""
    entry = model_entry(name)
    kwargs, opts, chosen = dict(common), _options(plan.model_configs, name), None
    if plan.chain and entry.base in trained and entry.backend == "torch":
        kwargs["warm_start"] = trained[entry.base]
    elif (
        plan.warm_start
        and {**DEFAULT_MODEL_CONFIG.get(name, {}), **opts}.get("linear_skip")
        and not entry.linear
    ):
        kwargs["warm_start"] = llr.get()
    if not entry.trained:
        train = common["train_mask"]
        return fit(region, name, patches=common["patches"], train_mask=train, progress=False), None
    if entry.needs_offsets:
        chosen = _choose(llr.get(), plan) if plan.aligned is None else plan.aligned
        kwargs.update(aligned=chosen, distances=plan.distances)
    if plan.client is not None and entry.trains_on_cluster:
        kwargs["client"] = plan.client  # the others train here, as without a client
    model = fit_ensemble(
        region,
        name,
        seeds=plan.seeds[name],
        config=_config_for(plan.configs, name),
        model_config=opts,
        **kwargs,
    )
    if entry.linear:
        llr.model = model
    return model, chosen


def _score(region, plan: _Plan, name, f, model, test, seconds):
    """The model's lazy map and its row of the table and ROC curve on the fold's test."""
    prob = predict(region, model)
    m = evaluate(prob, region["label"], test, roc=True)
    n_neg = m["n_pixels"] - m["n_positive"]
    row = {
        "model": name,
        "fold": f,
        **{key: m[key] for key in ("auc", "pr_auc", "nll", "brier")},
        "ece": calibration(prob, region["label"], test, bins=plan.ece_bins)["ece"],
        "n_pixels": m["n_pixels"],
        "n_positive": m["n_positive"],
        "auc_error_bound": m["auc_error_bound"],
        "auc_se": hanley_mcneil_se(m["auc"], m["n_positive"], n_neg),
        "best_epoch": _best_epoch(model),
        "kept": _kept(model),
        "degenerate": is_degenerate(model),
        "seconds": seconds,
    }
    return prob, row, (m["fpr"], m["tpr"])


def _run_fold(region, plan: _Plan, f, k, common, test, out):
    """Train and score every model of fold ``f``, adding to ``out``."""
    trained: dict = {}
    llr = _FoldLLR(region, plan, common)
    registry = list(MODELS)
    for name in sorted(plan.names, key=registry.index):  # the LLR first, bases before
        t0 = time.perf_counter()
        model, chosen = _train(region, plan, name, common, trained, llr)
        if chosen is not None:
            out["aligned"][f] = chosen
        trained[name] = model
        seconds = time.perf_counter() - t0
        prob, row, curve = _score(region, plan, name, f, model, test, seconds)
        out["rows"].append(row)
        out["curves"][name].append(curve)
        out["models"][name].append(model)
        out["maps"][name].append(prob)
        _log(
            plan.progress,
            f"fold {f + 1}/{k} {name}: AUC {row['auc']:.3f} "
            f"({row['n_pixels']} pixels, {seconds:.1f} s)",
        )


def _out_of_fold(folds, region, names, maps) -> dict:
    """Per model, each pixel from the model of the fold that did not train on it (lazy)."""
    ids = folds.fold_ids(region)
    oof = {}
    for name in names:
        out = xr.full_like(maps[name][0], np.nan)
        for f, prob in enumerate(maps[name]):
            out = xr.where(ids == f, prob, out)
        oof[name] = (
            out.astype(np.float32)
            .rename("susceptibility")
            .assign_attrs(
                long_name=f"out-of-fold landslide susceptibility ({name}, {folds.method} folds)",
                units="1",
                model=name,
            )
        )
    return oof


def _choose(llr, plan: _Plan):
    """The aligned features the fold's LLR chose (its mean weights, the paper's rule)."""
    members = getattr(llr, "members", [llr])
    w = np.mean([m.module.linear_weights() for m in members], axis=0)
    return rank_aligned(w, members[0].spec.feature_names, plan.threshold, plan.max_aligned)


def _best_epoch(model):
    members = getattr(model, "members", [model])
    epochs = [m.history.get("best_epoch") for m in members]
    epochs = [e for e in epochs if e is not None]
    return float(np.mean(epochs)) if epochs else math.nan


def _kept(model):
    """Share of the members whose trained weights replaced their warm start."""
    members = getattr(model, "members", [model])
    kept = []
    for m in members:
        if "acceptance" in m.history:
            kept.append(bool(m.history["acceptance"]["accepted"]))
        elif "start_val_loss" in m.history:  # a warm start without a margin
            kept.append(m.history.get("best_epoch", 0) > 0)
    return float(np.mean(kept)) if kept else math.nan
