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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import xarray as xr

from ..errors import ConfigError, EvaluationError
from ..evaluate.paired import delong
from ..grid import PAPER_DISTANCES, cv_geometry, pixel_size
from ..models import canonical_name, model_entry
from ..patches.folds import SpatialFolds
from ..patches.grid import mask_patches
from ..region import offset_distances
from ..train.defaults import CHAIN_ALIGNED
from ..train.ensemble import EnsembleModel
from ..train.quality import hanley_mcneil_se
from ._folds import _fold_masks, _out_of_fold, _Plan, _run_fold

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
        What was run (models, validation, seeds, geometry, configs; ``scheduler``: the
        address of the Dask scheduler whose workers trained the cluster models, or None).
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

    def paired(self, region, model: str, baseline: str = "llr", tile_size: float | None = None):
        """Per fold, ``model``'s AUC minus ``baseline``'s on the fold's held-out pixels, with
        the standard error of that difference (DeLong: the two share their pixels, so it is
        the noise of the gap; :func:`xlandslide.evaluate.paired.delong`).

        ``tile_size`` (metres): the error is the clustered one, with square tiles of that
        side as the independent units (a polygon inventory's neighbouring pixels are alike,
        so the pixel-level error is too small; choose tiles larger than a landslide).

        Returns a DataFrame: ``fold``, ``auc_<model>``, ``auc_<baseline>``, ``difference``,
        ``se``, ``z``, ``p``, ``n_pixels`` (and ``n_clusters`` with ``tile_size``).  Only the
        held-out pixels are read into memory.
        """
        import dask
        import dask.array as da
        import pandas as pd

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
            tiles = _tiles(a, region, tile_size)  # lazy ids: only the held-out ones computed
            label, pa, pb, ids = dask.compute(
                take[1][keep], a[keep], take[2][keep], None if tiles is None else tiles[keep]
            )
            r = delong(pa, pb, label, clusters=ids)
            rows.append(
                {
                    "fold": f,
                    f"auc_{model}": r["auc_a"],
                    f"auc_{baseline}": r["auc_b"],
                    **{k: r[k] for k in ("difference", "se", "z", "p")},
                    "n_pixels": r["n_positive"] + r["n_negative"],
                    **({"n_clusters": r["n_clusters"]} if "n_clusters" in r else {}),
                }
            )
        return pd.DataFrame(rows)

    def ensemble(self, name: str):
        """The fold models of ``name`` as one :class:`EnsembleModel` (all its members)."""
        members = []
        for m in self.models[name]:
            members.extend(getattr(m, "members", [m]))
        return EnsembleModel(members)


def _tiles(a, region, tile_size):
    """Lazy tile ids (:func:`~xlandslide.evaluate.paired.tile_ids`) on ``a``'s chunks, tiles
    of ``tile_size`` metres; None without a tile size."""
    if tile_size is None:
        return None
    import dask.array as da

    from ..evaluate.paired import tile_ids

    side = max(1, round(float(tile_size) / pixel_size(region)))
    row = da.arange(a.shape[0], chunks=a.chunks[0])[:, None]
    col = da.arange(a.shape[1], chunks=a.chunks[1])[None, :]
    return tile_ids(row, col, a.shape[1], side)


def _check_models(models, folds, validation) -> list[str]:
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
    return names


def _distances(region, names, distances):
    """The aligned models' distances: those given, else all the region holds."""
    if distances is not None or not any(model_entry(n).needs_offsets for n in names):
        return None if distances is None else tuple(distances)
    held = offset_distances(region)
    if not held:
        paper = tuple(int(d) for d in PAPER_DISTANCES)
        raise ConfigError(
            "aligned models need the region's uphill offsets: "
            f"region = region.landslide.with_offsets({paper})"
        )
    return tuple(held)


def _seeds(seeds, names) -> dict:
    return {
        n: [int(s) for s in (seeds.get(n, (0,)) if isinstance(seeds, Mapping) else seeds)]
        for n in names
    }


def _table(rows, names):
    import pandas as pd

    order = {n: i for i, n in enumerate(names)}
    return (
        pd.DataFrame(rows)
        .sort_values(["model", "fold"], key=lambda c: c.map(order) if c.name == "model" else c)
        .reset_index(drop=True)
    )


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
    chain: bool = CHAIN_ALIGNED,
    threshold: float = 0.2,
    max_aligned: int | None = None,
    ece_bins=10,
    progress: bool = False,
    client=None,
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
        Patch core and halo (default :func:`xlandslide.grid.cv_geometry`: core 64, halo the
        largest ring radius of the distances, at least 16 pixels).
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
        ``False`` (default, :data:`~xlandslide.train.defaults.CHAIN_ALIGNED`): an aligned
        model starts where its base does (the fold's LLR with ``warm_start``) and trains
        with the same budget, so the table's LACNN - CNN (LANN - NN) gap is the aligned
        gather's alone.  ``True``: an aligned model whose base is among ``models`` starts
        from the fold's base model (``fit(..., warm_start=cnn)``, aligned channels at zero)
        and trains its own budget on top, so its gap to the base mixes the gather with the
        extra training.
    threshold, max_aligned
        The LLR rule choosing the aligned features.
    ece_bins : int or sequence
        Bins of the ECE (:func:`xlandslide.calibration`).
    progress : bool
        One line per model and fold on stderr (and the training's own lines).
    client : dask.distributed.Client, optional
        A cluster: the models whose registry entry ``trains_on_cluster`` (``gbm``,
        ``lagbm``; :func:`xlandslide.models.cluster_models`) train on its workers
        (``fit(..., client=client)``, through ``lightgbm.dask``); the others train in this
        process as without it (the torch models, the fold's LLR).  The maps and metrics are
        dask computations: they run on the cluster when the client is dask's default
        scheduler (a ``Client`` is, unless made with ``set_as_default=False``), else on the
        local scheduler.  ``settings["scheduler"]`` records its scheduler's address (``None``
        without a client).

    Returns
    -------
    CVResult
        ``table`` (per model and fold), ``summary()`` (mean ± sd), ``format()``,
        ``oof`` maps, ``models``, ``ensemble(name)``.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(128, 128), seed=0)  # 13-16 slides a fold
    >>> folds = xlandslide.spatial_folds(region, "kmeans", k=3)
    >>> result = xlandslide.cross_validate(region, ["naive", "llr"], folds)
    >>> result.table[["model", "fold"]].values.tolist()  # a row per model and fold
    [['naive', 0], ['naive', 1], ['naive', 2], ['llr', 0], ['llr', 1], ['llr', 2]]
    >>> auc = result.summary()["auc_mean"]
    >>> float(auc["naive"]), bool(auc["llr"] > auc["naive"])  # the naive model ranks nothing
    (0.5, True)
    >>> result.oof["llr"].dims, len(result.models["llr"])  # the out-of-fold map, a model a fold
    (('y', 'x'), 3)
    """
    names = _check_models(models, folds, validation)
    distances = _distances(region, names, distances)
    if geometry is None:
        geometry = cv_geometry(distances or (), pixel_size(region) if distances else 1.0)
    plan = _Plan(
        names=names,
        seeds=_seeds(seeds, names),
        configs=configs,
        model_configs=model_configs,
        aligned=None if aligned is None else tuple(aligned),
        distances=distances,
        warm_start=warm_start,
        chain=chain,
        threshold=threshold,
        max_aligned=max_aligned,
        ece_bins=ece_bins,
        progress=progress,
        client=client,
    )
    out = {"rows": [], "aligned": {}, **{key: {n: [] for n in names} for key in _PER_MODEL}}
    for f, (train, val, test) in enumerate(_fold_masks(folds, region, validation)):
        patches = mask_patches(
            region, geometry, train=train, val=val, test=test, oversample=oversample
        )
        common = {"patches": patches, "train_mask": train, "val_mask": val, "progress": progress}
        _run_fold(region, plan, f, folds.k, common, test, out)
    settings = {
        "models": names,
        "method": folds.method,
        "k": folds.k,
        "buffer": folds.buffer,
        "validation": validation,
        "seeds": plan.seeds,
        "oversample": oversample,
        "chain": chain,
        "geometry": {"core": geometry.core, "halo": geometry.halo},
        "scheduler": None if client is None else client.scheduler.address,
    }
    oof = _out_of_fold(folds, region, names, out["maps"])
    table = _table(out["rows"], names)
    return CVResult(
        table, out["models"], out["maps"], oof, out["aligned"], folds, settings, out["curves"]
    )


_PER_MODEL = ("models", "maps", "curves")


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
