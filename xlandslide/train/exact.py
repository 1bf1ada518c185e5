"""The LLR fitted to convergence (L-BFGS) from pixel tables, as a :class:`LandslideModel`.

:func:`xlandslide.fit` calls :func:`fit_exact` for the LLR under the default settings
(``TrainConfig.solver`` ``"auto"`` or ``"lbfgs"``): the training pixels of the patches'
cores (and of ``train_mask``) become a :class:`~xlandslide.learners.PixelTable`, the
penalised GLM of :mod:`xlandslide.train.glm` is fitted on them with ``l2 =
config.weight_decay``, and its weights are set in the LLR's 1x1 convolution, so that the
model saves, loads and predicts as any other.  The validation pixels, when given, only
score it (the Naive comparison of :mod:`xlandslide.train.quality`).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from ..learners import build_learner
from ..model import LandslideModel
from .glm import bce, fit_glm, glm_logits
from .quality import QualityAccumulator, warn_if_degenerate
from .table import MAX_PIXELS, pixel_table


def set_llr_weights(module, weights, bias: float) -> None:
    """Write a GLM's weights (F,) and bias into an LLR module."""
    import torch

    with torch.no_grad():
        w = torch.as_tensor(np.asarray(weights), dtype=module.body.weight.dtype)
        module.body.weight.copy_(w.view_as(module.body.weight))
        module.body.bias.fill_(float(bias))


def fit_exact(
    region, spec, config, *, train_mask, val_mask=None, prior: float, progress: bool = True
) -> LandslideModel:
    """Fit the LLR of ``spec`` by L-BFGS on the pixels of ``train_mask`` (see module notes)."""
    t0 = time.perf_counter()
    table = pixel_table(region, train_mask, max_pixels=MAX_PIXELS, seed=int(config.seed))
    fit = fit_glm(table, l2=float(config.weight_decay))
    module = spec.build_module()
    set_llr_weights(module, fit.weights, fit.bias)
    z = glm_logits(table, fit.weights, fit.bias)
    s = table.weights()
    train_loss = float(np.sum(s * bce(z, table.label)) / s.sum())
    history = {
        "solver": "lbfgs",
        "l2": float(config.weight_decay),
        "iterations": fit.iterations,
        "converged": fit.converged,
        "n_pixels": table.n,
        "sampled": table.weight is not None,
        "train_loss": [train_loss],
        "val_loss": [float("nan")],
        "epoch": [1],
        "seconds": [time.perf_counter() - t0],
        "best_epoch": 1,
    }
    acc = QualityAccumulator(prior, seed=int(config.seed))
    if val_mask is not None:
        val = pixel_table(region, val_mask, max_pixels=MAX_PIXELS, seed=int(config.seed))
        zv = glm_logits(val, fit.weights, fit.bias)
        acc.add(zv, val.label)
        history["val_loss"] = [float(np.mean(bce(zv, val.label)))]
    history["quality"] = acc.result()
    if progress:
        print(
            f"[xlandslide] llr: L-BFGS on {table.n} pixels, {fit.iterations} iterations "
            f"({'converged' if fit.converged else fit.message}), train {train_loss:.5f} val "
            f"{history['val_loss'][0]:.5f} ({history['seconds'][0]:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    module.eval()
    warn_if_degenerate("llr", history["quality"], stacklevel=4)
    return LandslideModel(module, spec, history=history)


def _aligned_columns(region, spec):
    """The aligned features of ``spec`` as extra continuous columns (NaN -> 0, as the
    module's gather gives them), or None."""
    if not spec.needs_offsets:
        return None
    return region.landslide.aligned_features(list(spec.aligned)).fillna(0.0)


def _fit_on_cluster(region, module, mask, seed, extra, client):
    """The gbm learner trained by ``lightgbm.dask`` on ``client``'s workers from the
    distributed pixel table; the local table of the same pixels for the losses."""
    from ..errors import ConfigError
    from .table import distributed_pixel_table

    learner = build_learner(module.learner_name, **module.options)
    if not hasattr(learner, "fit_dask"):
        raise ConfigError(
            f"the {module.learner_name} learner does not train on a Dask cluster (gbm and "
            "lagbm do): leave client=None"
        )
    kw = {"max_pixels": MAX_PIXELS, "seed": seed, "extra": extra}
    table = distributed_pixel_table(region, mask, client=client, **kw)
    learner.fit_dask(gbm_dask_features(table), table.label, table.weight, table.layout, client)
    return learner


def gbm_dask_features(table):
    """The gbm learner's feature matrix (:func:`~xlandslide.learners.gbm.gbm_features`) of a
    :class:`~xlandslide.train.table.DistributedTable`, block by block on the workers."""
    import dask.array as da

    from ..learners.gbm import gbm_features

    n_classes = np.asarray(table.layout.n_classes, dtype=np.int64)
    cats = table.codes.map_blocks(
        lambda g: gbm_features(np.zeros((g.shape[0], 0)), g, n_classes), dtype=np.float64
    )
    x = da.concatenate([table.continuous.astype(np.float64), cats], axis=1)
    return x.rechunk({1: -1})


def fit_learner(
    region,
    spec,
    config,
    *,
    train_mask,
    val_mask=None,
    prior: float,
    progress: bool = True,
    client=None,
) -> LandslideModel:
    """Fit the learner of ``spec`` (fr, woe, gam, gbm and their aligned variants) on the
    pixels of ``train_mask`` and wrap it in its module (:mod:`xlandslide.models.learner`).

    ``client`` (a :class:`dask.distributed.Client`): the gbm learners train on its workers
    with LightGBM's Dask interface (:meth:`~xlandslide.learners.GBM.fit_dask`) from the
    same stratified, seeded, chunk-independent sample of pixels, left on the workers.
    """
    t0 = time.perf_counter()
    extra = _aligned_columns(region, spec)
    seed = int(config.seed)
    module = spec.build_module()
    if client is not None:
        learner = _fit_on_cluster(region, module, train_mask, seed, extra, client)
    table = pixel_table(region, train_mask, max_pixels=MAX_PIXELS, seed=seed, extra=extra)
    if client is None:
        learner = build_learner(module.learner_name, **module.options).fit(table)
    module.set_learner(learner)
    module.eval()
    z = learner.predict_logit(table.continuous, table.codes)
    s = table.weights()
    history = {
        "solver": module.learner_name,
        "n_pixels": table.n,
        "sampled": table.weight is not None,
        "train_loss": [float(np.sum(s * bce(z, table.label)) / s.sum())],
        "val_loss": [float("nan")],
        "epoch": [1],
        "best_epoch": 1,
    }
    acc = QualityAccumulator(prior, seed=seed)
    if val_mask is not None:
        val = pixel_table(region, val_mask, max_pixels=MAX_PIXELS, seed=seed, extra=extra)
        zv = learner.predict_logit(val.continuous, val.codes)
        acc.add(zv, val.label)
        history["val_loss"] = [float(np.mean(bce(zv, val.label)))]
    history["quality"] = acc.result()
    history["seconds"] = [time.perf_counter() - t0]
    if progress:
        print(
            f"[xlandslide] {spec.name}: fitted on {table.n} pixels, train "
            f"{history['train_loss'][0]:.5f} val {history['val_loss'][0]:.5f} "
            f"({history['seconds'][0]:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    warn_if_degenerate(spec.name, history["quality"], stacklevel=4)
    return LandslideModel(module, spec, history=history)


__all__ = ["fit_exact", "fit_learner", "gbm_dask_features", "set_llr_weights"]
