""":func:`cross_validate`: every model on every spatial fold, scored on held-out pixels.

For fold ``f`` of ``k`` (:func:`xlandslide.spatial_folds`):

- *test* pixels: the labelled pixels of fold ``f`` — never seen in training;
- *validation* pixels (``validation="fold"``, the default): the labelled pixels of the next
  fold, ``(f + 1) % k`` — spatially separate from the training pixels, they choose the best
  epoch and stop training early (``TrainConfig.early_stopping``), never a random patch
  subset of the training area;
- *training* pixels: the labelled pixels of the other folds, less those within the folds'
  ``buffer`` of a test or validation pixel.

Patches follow the pixels (:func:`xlandslide.mask_patches`): the loss of a patch counts
only its training pixels.  Aligned models read the features the fold's own LLR chose (the
paper's ``|w| >= 0.2`` rule, :func:`xlandslide.train.select.rank_aligned`) unless
``aligned`` names them.  With several ``seeds`` each fold trains a seed ensemble
(:class:`~xlandslide.train.ensemble.EnsembleModel`), whose mean probability is scored.

Scores per fold and model: ROC AUC, PR AUC (average precision), NLL, Brier score and ECE
(:func:`xlandslide.evaluate`, :func:`xlandslide.calibration`) on the test pixels; the
summary gives mean and standard deviation over folds.  The out-of-fold map holds, at every
pixel of fold ``f``, the probability of the model that did not train on fold ``f``
(lazy).  Running the same on ``spatial_folds(region, "random")`` puts the random-CV figures
beside the spatial ones (:func:`compare`): the difference is what a random split overstates.

Cost: one training per model, fold and seed (plus one LLR per fold for the aligned
features when ``"llr"`` is not among the models), one lazy prediction of the region per
model and fold.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..errors import ConfigError, EvaluationError
from ..train.quality import hanley_mcneil_se

#: The metrics of a fold, in table order.
METRICS = ("auc", "pr_auc", "nll", "brier", "ece")


@dataclass
class CVResult:
    """What :func:`cross_validate` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (model, fold): the :data:`METRICS`, ``n_pixels``, ``n_positive``,
        ``auc_error_bound``, ``best_epoch``, ``kept`` (the share of the fold's seed models
        whose trained network replaced its warm start; NaN without a warm start),
        ``degenerate`` (the model, or a member of its ensemble, was flagged by
        :mod:`xlandslide.train.quality`: no better than the Naive model on the validation
        pixels, or a nearly constant map), ``seconds`` (training).
    models : dict
        ``name -> [model of fold 0, ...]`` (LandslideModel or EnsembleModel).
    maps : dict
        ``name -> [lazy probability map of fold 0's model, ...]``.
    oof : dict
        ``name -> lazy out-of-fold map`` (each pixel from the model not trained on its fold).
    aligned : dict
        ``fold -> aligned feature names`` used by the aligned models.
    folds : SpatialFolds
    settings : dict
        What was run (models, validation, seeds, geometry, configs).
    curves : dict
        ``name -> [(fpr, tpr) of fold 0, ...]``: the ROC curve of every fold.
    """

    table: object
    models: dict
    maps: dict
    oof: dict
    aligned: dict
    folds: object
    settings: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)

    def summary(self):
        """Mean and standard deviation (over folds, ``ddof=1``) per model and metric."""
        cols = [m for m in METRICS if m in self.table.columns]
        g = self.table.groupby("model", sort=False)
        mean, sd = g[cols].mean(), g[cols].std(ddof=1)
        out = mean.add_suffix("_mean").join(sd.add_suffix("_sd"))
        out["min_auc"] = g["auc"].min()
        return out[[f"{m}_{s}" for m in cols for s in ("mean", "sd")] + ["min_auc"]]

    def format(self, metrics: Sequence[str] = ("auc", "pr_auc", "nll", "brier", "ece")) -> str:
        """A text table: per model ``mean ± sd`` of each metric and the per-fold AUCs."""
        s = self.summary()
        head = f"{'model':<8}" + "".join(f"{m:>16}" for m in metrics) + "   AUC per fold"
        lines = [head]
        for name, row in s.iterrows():
            cells = "".join(
                f"{row[f'{m}_mean']:.3f} ± {row[f'{m}_sd']:.3f}".rjust(16) for m in metrics
            )
            per = self.table[self.table["model"] == name]["auc"].tolist()
            lines.append(f"{name:<8}{cells}   " + " ".join(f"{a:.3f}" for a in per))
        return "\n".join(lines)

    def paired(self, region, model: str, baseline: str = "llr"):
        """Per fold, ``model``'s AUC minus ``baseline``'s on the fold's held-out pixels, with
        the standard error of that difference (DeLong: the two share their pixels, so it is
        the noise of the gap; :func:`xlandslide.evaluate.paired.delong`).

        Returns a DataFrame: ``fold``, ``auc_<model>``, ``auc_<baseline>``, ``difference``,
        ``se``, ``z``, ``p``, ``n_pixels``.  Only the held-out pixels are read into memory.
        """
        import dask
        import dask.array as da
        import pandas as pd

        from ..evaluate.paired import delong

        for name in (model, baseline):
            if name not in self.maps:
                raise EvaluationError(f"no model {name!r} in this CV; it ran {list(self.maps)}")
        rows = []
        for f, (map_a, map_b) in enumerate(zip(self.maps[model], self.maps[baseline])):
            a = da.asarray(map_a.data)
            take = [
                da.asarray(v.data).rechunk(a.chunks)
                for v in (self.folds.test_mask(f, region), region["label"], map_b)
            ]
            keep = take[0].astype(bool)
            label, pa, pb = dask.compute(take[1][keep], a[keep], take[2][keep])
            r = delong(pa, pb, label)
            rows.append(
                {
                    "fold": f,
                    f"auc_{model}": r["auc_a"],
                    f"auc_{baseline}": r["auc_b"],
                    **{k: r[k] for k in ("difference", "se", "z", "p")},
                    "n_pixels": r["n_positive"] + r["n_negative"],
                }
            )
        return pd.DataFrame(rows)

    def ensemble(self, name: str):
        """The fold models of ``name`` as one :class:`EnsembleModel` (all its members)."""
        from ..train.ensemble import EnsembleModel

        members = []
        for m in self.models[name]:
            members.extend(getattr(m, "members", [m]))
        return EnsembleModel(members)


def _per_model(value, name: str, default):
    if isinstance(value, Mapping):
        return value.get(name, default)
    return default if value is None else value


def _config_for(configs, name):
    from ..train.config import TrainConfig

    cfg = _per_model(configs, name, None)
    if cfg is None:
        return TrainConfig.default(name)
    if not isinstance(cfg, TrainConfig):
        raise ConfigError(
            f"configs must map model names to TrainConfig objects, got {type(cfg).__name__} "
            f"for {name!r}"
        )
    return cfg


def _materialise(mask: xr.DataArray, region: xr.Dataset) -> xr.DataArray:
    """A mask in memory when the region is (small), else the lazy mask."""
    lazy = any(region[v].chunks is not None for v in region.data_vars)
    return mask if lazy else mask.compute()


def _log(progress, msg):
    if progress:
        print(f"[xlandslide cv] {msg}", file=sys.stderr, flush=True)


def cross_validate(
    region: xr.Dataset,
    models: Sequence[str],
    folds,
    *,
    geometry=None,
    configs=None,
    model_configs=None,
    aligned: Sequence[str] | None = None,
    distances: Sequence[float] | None = None,
    validation: str | None = "fold",
    seeds: Sequence[int] | Mapping[str, Sequence[int]] = (0,),
    oversample: int = 5,
    warm_start: bool = True,
    chain: bool = True,
    threshold: float = 0.2,
    max_aligned: int | None = None,
    ece_bins=10,
    progress: bool = False,
) -> CVResult:
    """Train every model on every fold's training pixels and score it on the held-out ones.

    Parameters
    ----------
    region : Dataset
        A region with its labels and, for aligned models, the uphill offsets.  A small
        region computed in memory (``region.compute()``) trains fastest.
    models : sequence of str
        Model names (``"naive"``, ``"llr"``, ``"nn"``, ``"lann"``, ``"cnn"``, ``"lacnn"``).
    folds : SpatialFolds
        From :func:`xlandslide.spatial_folds` (their ``buffer`` applies).
    geometry : PatchGeometry, optional
        Patch core and halo (default core 64, halo: the largest ring radius of the region's
        offsets, at least 16 pixels).
    configs : TrainConfig or mapping of name -> TrainConfig, optional
        Training settings (default ``TrainConfig.paper(name)``); see
        :func:`xlandslide.train.presets.point_inventory` for point inventories.
    model_configs : mapping or mapping of name -> mapping, optional
        Model options (``hidden``, ``base_width``, ``dropout``...).
    aligned : sequence of str, optional
        Features read uphill by the aligned models (default: chosen per fold by its LLR).
    distances : sequence of float, optional
        Looking distances of the aligned models (default: all the region holds).
    validation : {"fold", None}
        ``"fold"``: early stopping and the best epoch on the next fold's pixels;
        ``None``: no held-out validation (the training pixels validate: the last epochs'
        best training loss), for comparison only.
    seeds : sequence of int, or mapping of name -> sequence of int
        One model per seed and fold; several give a seed ensemble (mean probability).  A
        mapping gives each model its own (e.g. one seed for the convex LLR).
    oversample : int
        Positive training patches repeated this many times (the paper's 5); 1 for a
        balanced point inventory, where nearly every patch holds a landslide point.
    warm_start : bool
        Models built with ``linear_skip=True`` start from the fold's LLR (trained first;
        ``fit(..., warm_start=llr)``): the untrained model is the LLR, and the early
        stopping on the validation fold keeps what the deep part adds only when it helps.
    chain : bool
        An aligned model whose base is among ``models`` (the CNN for the LACNN, the NN for
        the LANN) starts from the fold's base model (``fit(..., warm_start=cnn)``, aligned
        channels at zero): it replaces what the base knows only where the aligned features
        lower the validation loss.  ``False``: every model from scratch (the ablation).
    threshold, max_aligned
        The LLR rule choosing the aligned features.
    ece_bins : int or sequence
        Bins of the ECE (:func:`xlandslide.calibration`).
    progress : bool
        One line per model and fold on stderr (and the training's own lines).

    Returns
    -------
    CVResult
        ``table`` (per model and fold), ``summary()`` (mean ± sd), ``format()``,
        ``oof`` maps, ``models``, ``ensemble(name)``.
    """
    import pandas as pd

    from ..evaluate.calibration import calibration
    from ..evaluate.metrics import evaluate
    from ..grid import PatchGeometry, pixel_size, radius_pixels
    from ..models import MODELS, canonical_name, model_entry
    from ..patches.folds import SpatialFolds
    from ..patches.grid import mask_patches
    from ..predict import predict
    from ..region import offset_distances
    from ..train.ensemble import fit_ensemble
    from ..train.fit import fit
    from ..train.presets import DEFAULT_MODEL_CONFIG
    from ..train.quality import is_degenerate
    from ..train.select import rank_aligned

    if not isinstance(folds, SpatialFolds):
        raise ConfigError(
            f"folds must be SpatialFolds (xlandslide.spatial_folds(region, ...)), got "
            f"{type(folds).__name__}"
        )
    names = [canonical_name(m) for m in models]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"models must name distinct models, got {list(models)}")
    if validation not in ("fold", None):
        raise ConfigError(f"validation must be 'fold' or None, got {validation!r}")
    needs_aligned = any(model_entry(n).needs_offsets for n in names)
    if needs_aligned and distances is None:
        distances = offset_distances(region)
        if not distances:
            raise ConfigError(
                "aligned models need the region's uphill offsets: "
                "region = region.landslide.with_offsets((30, 100, 300))"
            )
    if geometry is None:
        halo = 16
        if distances:
            px = pixel_size(region)
            halo = max(halo, *(radius_pixels(d, px) for d in distances))
        geometry = PatchGeometry(core=64, halo=halo)
    seed_of = {
        n: [int(s) for s in (seeds.get(n, (0,)) if isinstance(seeds, Mapping) else seeds)]
        for n in names
    }
    k = folds.k
    rows, fold_models, fold_maps, chosen = [], {n: [] for n in names}, {n: [] for n in names}, {}
    curves: dict = {}
    label = region["label"]
    for f in range(k):
        test = _materialise(folds.test_mask(f, region), region)
        if validation == "fold":
            v = (f + 1) % k
            train = _materialise(folds.train_mask(f, region, exclude=[v]), region)
            val = _materialise(folds.test_mask(v, region), region)
        else:
            train = _materialise(folds.train_mask(f, region), region)
            val = train
        patches = mask_patches(
            region, geometry, train=train, val=val, test=test, oversample=oversample
        )
        common = {"patches": patches, "train_mask": train, "val_mask": val, "progress": progress}
        llr_model = None
        trained: dict = {}
        registry = list(MODELS)
        for name in sorted(names, key=registry.index):  # the LLR first, bases before
            t0 = time.perf_counter()
            kwargs = dict(common)
            opts = dict(_per_model(model_configs, name, {}) or {})
            defaults = DEFAULT_MODEL_CONFIG.get(name, {})
            base = model_entry(name).base
            if chain and base in trained and model_entry(name).backend == "torch":
                kwargs["warm_start"] = trained[base]
            elif (
                warm_start
                and {**defaults, **opts}.get("linear_skip")
                and not model_entry(name).linear
            ):
                if llr_model is None:
                    llr_model = _fold_llr(region, seed_of, configs, model_configs, common)
                kwargs["warm_start"] = llr_model
            if not model_entry(name).trained:
                model = fit(region, "naive", patches=patches, train_mask=train, progress=False)
            else:
                if model_entry(name).needs_offsets:
                    if aligned is None:
                        if llr_model is None:
                            llr_model = _fold_llr(region, seed_of, configs, model_configs, common)
                        chosen[f] = _choose(llr_model, threshold, max_aligned, rank_aligned)
                    else:
                        chosen[f] = tuple(aligned)
                    kwargs.update(aligned=chosen[f], distances=tuple(distances))
                model = fit_ensemble(
                    region,
                    name,
                    seeds=seed_of[name],
                    config=_config_for(configs, name),
                    model_config=opts,
                    **kwargs,
                )
                if model_entry(name).linear:
                    llr_model = model
            trained[name] = model
            seconds = time.perf_counter() - t0
            prob = predict(region, model)
            m = evaluate(prob, label, test, roc=True)
            ece = calibration(prob, label, test, bins=ece_bins)["ece"]
            rows.append(
                {
                    "model": name,
                    "fold": f,
                    **{key: m[key] for key in ("auc", "pr_auc", "nll", "brier")},
                    "ece": ece,
                    "n_pixels": m["n_pixels"],
                    "n_positive": m["n_positive"],
                    "auc_error_bound": m["auc_error_bound"],
                    "auc_se": hanley_mcneil_se(
                        m["auc"], m["n_positive"], m["n_pixels"] - m["n_positive"]
                    ),
                    "best_epoch": _best_epoch(model),
                    "kept": _kept(model),
                    "degenerate": is_degenerate(model),
                    "seconds": seconds,
                }
            )
            curves.setdefault(name, []).append((m["fpr"], m["tpr"]))
            fold_models[name].append(model)
            fold_maps[name].append(prob)
            _log(
                progress,
                f"fold {f + 1}/{k} {name}: AUC {m['auc']:.3f} "
                f"({m['n_pixels']} pixels, {seconds:.1f} s)",
            )
    ids = folds.fold_ids(region)
    oof = {}
    for name in names:
        out = xr.full_like(fold_maps[name][0], np.nan)
        for f, prob in enumerate(fold_maps[name]):
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
    table = pd.DataFrame(rows)
    order = {n: i for i, n in enumerate(names)}
    table = table.sort_values(
        ["model", "fold"], key=lambda c: c.map(order) if c.name == "model" else c
    ).reset_index(drop=True)
    settings = {
        "models": names,
        "method": folds.method,
        "k": k,
        "buffer": folds.buffer,
        "validation": validation,
        "seeds": seed_of,
        "oversample": oversample,
        "chain": chain,
        "geometry": {"core": geometry.core, "halo": geometry.halo},
    }
    curves = {n: curves[n] for n in names}
    return CVResult(table, fold_models, fold_maps, oof, chosen, folds, settings, curves)


def _fold_llr(region, seed_of, configs, model_configs, common):
    """The fold's LLR (for the aligned features and warm starts) when none is asked for."""
    from ..train.ensemble import fit_ensemble

    return fit_ensemble(
        region,
        "llr",
        seeds=seed_of.get("llr", [0])[:1],
        config=_config_for(configs, "llr"),
        model_config=dict(_per_model(model_configs, "llr", {}) or {}),
        **common,
    )


def _choose(llr, threshold, max_aligned, rank_aligned):
    members = getattr(llr, "members", [llr])
    w = np.mean([m.module.linear_weights() for m in members], axis=0)
    return rank_aligned(w, members[0].spec.feature_names, threshold, max_aligned)


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


def compare(results: Mapping[str, CVResult], metric: str = "auc"):
    """Side by side: ``mean`` and ``sd`` of ``metric`` per model for each named CV result.

    ``compare({"spatial": cv_kmeans, "random": cv_random})`` shows what the random split
    overstates (the last column, ``random - spatial`` when both names are there).
    """
    import pandas as pd

    parts = {}
    for label, res in results.items():
        s = res.summary()
        parts[(label, "mean")] = s[f"{metric}_mean"]
        parts[(label, "sd")] = s[f"{metric}_sd"]
    out = pd.DataFrame(parts)
    if {"spatial", "random"} <= set(results):
        out[("random - spatial", "mean")] = out[("random", "mean")] - out[("spatial", "mean")]
    return out


__all__ = ["METRICS", "CVResult", "compare", "cross_validate", "hanley_mcneil_se"]
