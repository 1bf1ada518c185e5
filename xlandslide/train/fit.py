""":func:`fit`: train one model on a region and its patches — nothing behind the caller's back.

``fit`` trains exactly the model it is asked for on what it is given: the region (with its
uphill offsets already there for aligned models), the patches and their split, the aligned
feature names.  Choosing those names with an LLR is the explicit step
:func:`xlandslide.select_aligned_features`; adding offsets is
``region.landslide.with_offsets``; the façades (the accessor's ``fit``, the command line,
the demo) chain those steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import xarray as xr

from ..errors import ConfigError, GridMismatchError, PatchError
from ..grid import PAPER_DISTANCES, PatchGeometry, check_halo, pixel_size
from ..io.identity import region_identity
from ..model import LandslideModel, spec_for_region
from ..patches import PatchDataset, PatchSet
from ..patches.dataset import CACHE_BYTES
from ..region import offset_distances, positive_ratio, select_offsets
from ..validate import validate_region
from .config import TrainConfig
from .loop import train_module
from .presets import DEFAULT_MODEL_CONFIG


def suggest_geometry(shape, halo: int, n: int = 10) -> PatchGeometry:
    """The largest core (a power of two up to 512, or 500) whose grid has ``n`` patches."""
    ny, nx = shape
    for core in (500, 256, 128, 64, 32, 16):
        if -(-ny // core) * -(-nx // core) >= n:
            return PatchGeometry(core=core, halo=halo)
    return PatchGeometry(core=8, halo=halo)


def _check_patches(region, patches) -> None:
    if not isinstance(patches, PatchSet):
        raise ConfigError(
            f"patches must be a PatchSet (xlandslide.make_patches(region, geometry)), got "
            f"{type(patches).__name__}"
        )
    shape = (region.sizes["y"], region.sizes["x"])
    if patches.shape != shape:
        raise GridMismatchError(
            f"the patches were made for a region of shape {patches.shape}, not {shape}; "
            "make them with xlandslide.make_patches(region, ...)"
        )
    counts = patches.counts()
    if counts["train"]["patches"] == 0 or counts["val"]["patches"] == 0:
        g = patches.geometry
        better = suggest_geometry(shape, g.halo)
        raise PatchError(
            f"a {shape[0]} x {shape[1]} region cut in patches of core {g.core} gives "
            f"{counts['train']['patches']} train / {counts['val']['patches']} val / "
            f"{counts['test']['patches']} test patches: training needs at least one of each "
            f"of train and val. Use a smaller core, e.g. make_patches(region, "
            f"PatchGeometry(core={better.core}, halo={better.halo}))"
        )


def fit(
    region: xr.Dataset,
    model: str = "lacnn",
    *,
    patches: PatchSet,
    aligned: Sequence[str] | None = None,
    distances: Sequence[float] | None = None,
    config: TrainConfig | None = None,
    model_config: Mapping | None = None,
    train_mask: xr.DataArray | None = None,
    val_mask: xr.DataArray | None = None,
    progress: bool = True,
    checkpoint=None,
    save_every: int | None = None,
    resume=None,
    callbacks: Sequence[Callable] | None = None,
    cache_bytes: int = CACHE_BYTES,
    warm_start=None,
    client=None,
) -> LandslideModel:
    """Train one landslide model on a region, as in the paper.

    Parameters
    ----------
    region : xarray.Dataset
        A region (:mod:`xlandslide.region`); numpy-, store- or dask-backed.  Aligned models
        need its uphill offsets (``region.landslide.with_offsets(distances)``).
    model : str
        ``"naive"``, ``"llr"``, ``"nn"``, ``"lann"``, ``"cnn"`` or ``"lacnn"``.
    patches : PatchSet
        Patches and split (:func:`xlandslide.make_patches`); training uses the ``train``
        patches (positive ones oversampled), validation the ``val`` ones.
    aligned : sequence of str, optional
        Aligned models only (and required by them): the features read at the uphill points,
        e.g. ``xlandslide.select_aligned_features(region, patches).names``.
    distances : sequence of float, optional
        Aligned models only: looking distances in metres (default: every distance whose
        offsets the region holds).  Their ring radii must fit in ``patches.geometry.halo``.
    config : TrainConfig, optional
        Default ``TrainConfig.default(model)`` (the LLR fitted exactly by L-BFGS; the
        networks with AdamW, warm-up and cosine decay, gradient clipping, early stopping);
        Table 1 of the paper is ``TrainConfig.paper(model)``.  Unused by ``"naive"``.
    model_config : mapping, optional
        Model options (``base_width``, ``depth``, ``batch_norm``, ``hidden``,
        ``validity_channel``; see :func:`xlandslide.models.build_model`).
    train_mask, val_mask : DataArray (y, x) of bool, optional
        Pixels whose labels count in training / validation (elsewhere they read as unknown):
        spatial folds pass the training pixels and spatially separate validation pixels.
    progress : bool
        One line per epoch on stderr, and progress bars.
    checkpoint : path, optional
        Write the best model so far and the training state there (atomically) after every
        epoch (and every ``save_every`` batches); :func:`xlandslide.load_model` reads it.
    save_every : int, optional
        Also write the checkpoint every this many training batches (for resuming mid-epoch).
    resume : path, optional
        Continue the run whose checkpoint is there (when the file exists) — to the same
        weights as an uninterrupted run; see :mod:`xlandslide.train.loop`.
    callbacks : sequence of callables, optional
        Called after every epoch with a dict (epoch, train_loss, val_loss, lr, seconds,
        improved); one returning ``True`` stops training.
    cache_bytes : int
        Budget of the in-memory patch cache (default 1 GiB): every patch is read (or
        computed, for a lazy region) once per run, not once per epoch.
    warm_start : LandslideModel or EnsembleModel, optional
        A model to start from, trained on the same layout.  The model's *base* (the CNN for
        the LACNN, the NN for the LANN; built with the same options) or the same model: its
        weights are copied and the aligned channels start at zero, so the untrained model
        predicts exactly what the base does, and an epoch replaces it only by a lower
        validation loss (the LACNN starts from what the CNN knows).  An LLR: a model built
        with ``linear_skip=True`` starts from its weights and bias
        (:meth:`~xlandslide.models.layers.LandslideNet.warm_start_linear`), so the
        untrained model is that LLR (an ensemble: the mean of its members' weights); the
        start is scored on the validation pixels as epoch 0,
        so training keeps it unless an epoch does better there — by more than
        ``config.accept_margin`` paired standard errors when that is set (the
        point-inventory preset: 2; :mod:`xlandslide.train.accept`).  Not recorded in the
        spec: a resumed run restores its own weights.

    client : dask.distributed.Client, optional
        The models whose registry entry ``trains_on_cluster`` (``gbm`` and ``lagbm``,
        :func:`xlandslide.models.cluster_models`) train on the cluster's workers with
        LightGBM's own Dask interface (``lightgbm.dask``), from the same pixel sample as a
        local fit; other models refuse a client.

    Returns
    -------
    LandslideModel
        The best-validation weights, in eval mode, with its :class:`~xlandslide.ModelSpec`
        and ``history`` (per-epoch ``train_loss``, ``val_loss``, ``lr``, ``seconds``,
        ``best_epoch``).  ``"naive"`` is the training positive ratio (no epochs).

    Raises
    ------
    ConfigError
        An unknown model, a ``config`` that is not a TrainConfig, bad model options, an
        aligned model without ``aligned`` names (or a region without offsets), or aligned
        names given to a model that reads none.
    PatchError
        No training or no validation patch (the message names a geometry that has them), or
        no known pixel in the training cores.
    StoreExistsError
        ``checkpoint`` names a directory or a file that is not an xlandslide checkpoint
        (checked before training).
    RegionError
        An aligned model on a region lacking the offsets of ``distances``.
    HaloError
        A looking distance whose ring does not fit in the patches' halo.

    Notes
    -----
    Seeded: the same seed, data and device give the same weights (on the CPU exactly).
    The loss counts only core pixels whose label is known (``label >= 0``).

    Examples
    --------
    >>> import xlandslide as xl  # doctest: +SKIP
    >>> patches = xl.make_patches(region, xl.PatchGeometry(128, 64))  # doctest: +SKIP
    >>> sel = xl.select_aligned_features(region, patches)  # doctest: +SKIP
    >>> model = xl.fit(region, "lacnn", patches=patches, aligned=sel.names)  # doctest: +SKIP
    """
    from ..checkpoint import check_replaceable, save_model  # torch
    from ..models import canonical_name, cluster_models, model_entry  # torch

    name = canonical_name(model)
    entry = model_entry(name)
    if client is not None and not entry.trains_on_cluster:
        raise ConfigError(
            f"the {name} model does not train on a Dask cluster (the models that do: "
            f"{', '.join(cluster_models())}): leave client=None"
        )
    _check_inputs(region, patches, train_mask, val_mask)
    if checkpoint is not None:
        check_replaceable(checkpoint)
    options = {**DEFAULT_MODEL_CONFIG.get(name, {}), **dict(model_config or {})}
    fields: dict = {"geometry": patches.geometry, "model_config": options}
    if entry.needs_offsets:
        region, distances = _aligned_region(name, region, patches, aligned, distances)
        fields.update(aligned=tuple(aligned), distances=tuple(distances))
    elif aligned or distances:
        raise ConfigError(
            f"the {name} model reads no aligned features; leave aligned and distances empty "
            "(the aligned models are 'lann' and 'lacnn')"
        )
    config = _config_of(name, entry, config)
    if config is not None:
        fields["train_config"] = config.to_dict()
    spec = spec_for_region(name, region, **fields)
    mask, prior = _training_pixels(region, patches, train_mask)
    if not entry.trained or config.uses_lbfgs(name) or entry.backend == "learner":
        result = _fit_closed(
            region, spec, entry, config, patches, mask, val_mask, prior, progress, client
        )
        if checkpoint is not None:
            save_model(result, checkpoint)
        return result
    init = None if warm_start is None else _warm_start_init(warm_start, spec)
    read = {"offsets": entry.needs_offsets, "cache_bytes": cache_bytes}
    train = PatchDataset(region, patches, "train", label_mask=train_mask, **read)
    val = PatchDataset(region, patches, "val", oversample=False, label_mask=val_mask, **read)
    return train_module(
        spec,
        train,
        val,
        config=config,
        progress=progress,
        checkpoint=checkpoint,
        save_every=save_every,
        resume=resume,
        callbacks=callbacks,
        prior=prior,
        init=init,
        validate_start=init is not None,
        data=region_identity(region),
    )


def _check_inputs(region, patches, train_mask, val_mask) -> None:
    validate_region(region)
    _check_patches(region, patches)
    for what, m in (("train_mask", train_mask), ("val_mask", val_mask)):
        if m is not None and (m.sizes.get("y"), m.sizes.get("x")) != patches.shape:
            raise GridMismatchError(
                f"{what} has (y, x) sizes ({m.sizes.get('y')}, {m.sizes.get('x')}), not the "
                f"region's {patches.shape}; give a (y, x) boolean DataArray on the region's grid"
            )


def _aligned_region(name, region, patches, aligned, distances):
    """The region with the offsets of an aligned model's distances (default: all it
    holds), checked against the patches' halo; and the distances."""
    if not aligned:
        raise ConfigError(
            f"the {name} model reads aligned features: pass aligned=[...feature names...], "
            "for example xlandslide.select_aligned_features(region, patches).names"
        )
    if distances is None:
        distances = offset_distances(region)
    if not distances:
        paper = tuple(int(d) for d in PAPER_DISTANCES)
        raise ConfigError(
            f"the {name} model needs looking distances and the region holds no uphill "
            f"offsets: add them with region.landslide.with_offsets({paper})"
        )
    check_halo(distances, pixel_size(region), patches.geometry.halo, what="fit")
    return select_offsets(region, distances), distances


def _config_of(name, entry, config):
    """The training config (default ``TrainConfig.default(name)``); None for a model that
    is not trained."""
    if not entry.trained:
        if config is not None:
            raise ConfigError(f"the {name} model is not trained: pass no config")
        return None
    config = config if config is not None else TrainConfig.default(name)
    if not isinstance(config, TrainConfig):
        raise ConfigError(
            f"config must be a TrainConfig (e.g. TrainConfig.paper({name!r}, epochs=5)), "
            f"got {type(config).__name__}"
        )
    return config


def _training_pixels(region, patches, train_mask):
    """The training cores' pixels (within ``train_mask``) and their landslide ratio."""
    mask = patches.core_mask("train", like=region)
    if train_mask is not None:
        mask = mask & train_mask.astype(bool)
    prior = positive_ratio(region["label"], mask)
    if math.isnan(prior):
        raise PatchError(
            "the cores of the training patches hold no known pixel (label 0 or 1)"
            + (" inside train_mask" if train_mask is not None else "")
            + "; use another split or mask"
        )
    return mask, prior


def _fit_closed(region, spec, entry, config, patches, mask, val_mask, prior, progress, client):
    """A model not trained by the epoch loop: the untrained prior, the L-BFGS fit of a
    convex model, a non-torch learner."""
    if not entry.trained:
        module = spec.build_module()
        module.init_prior(prior)
        return LandslideModel(module, spec, history={"train_ratio": prior})
    from .exact import fit_exact, fit_learner  # torch

    vmask = None
    if patches.counts()["val"]["patches"]:
        vmask = patches.core_mask("val", like=region)
        if val_mask is not None:
            vmask = vmask & val_mask.astype(bool)
    common = {"train_mask": mask, "val_mask": vmask, "prior": prior, "progress": progress}
    if entry.backend == "learner":
        return fit_learner(region, spec, config, client=client, **common)
    return fit_exact(region, spec, config, **common)


def _warm_start_init(model, spec):
    """``init(module)`` for a warm start (see ``fit``): from an LLR into the linear path, or
    from the model's base (the CNN for the LACNN, the NN for the LANN) or the same model."""
    from ..models import model_entry

    members = getattr(model, "members", [model])
    source = getattr(members[0], "name", None)
    if members[0].spec.layout != spec.layout:
        raise ConfigError(
            f"warm_start: the {source} model reads another layout than this model; train it "
            "on the same region"
        )
    if _is_linear(members[0]):
        return _linear_init(members, spec)
    if source in (spec.name, model_entry(spec.name).base):
        return _copy_init(members[0], spec)
    base = model_entry(spec.name).base
    raise ConfigError(
        f"warm_start for the {spec.name} model must be an LLR"
        + (f", a {base} model" if base else "")
        + f" or a {spec.name} model, got {source!r}"
    )


def _is_linear(model) -> bool:
    """Whether ``model`` is the registry's linear model (the LLR), by its entry's facts."""
    from ..models import find_entry

    entry = find_entry(getattr(model, "name", None))
    return entry is not None and entry.linear


def _linear_init(members, spec):
    import numpy as np

    if not all(_is_linear(m) for m in members):
        raise ConfigError("warm_start: an ensemble of LLRs must hold LLRs only")
    if not spec.model_config.get("linear_skip"):
        raise ConfigError(
            f"warm_start needs a linear path: model_config={{'linear_skip': True, ...}} "
            f"for the {spec.name} model"
        )
    w = np.mean([m.module.linear_weights() for m in members], axis=0)
    b = float(np.mean([float(m.module.body.bias.detach()) for m in members]))

    def init(module):
        module.warm_start_linear(w, b)

    return init


def _copy_init(source, spec):
    """Copy ``source``'s weights; input channels the source lacks (the aligned ones) start at
    zero, so the untrained model predicts exactly what the source does."""
    import torch

    state = {k: v.detach().cpu() for k, v in source.module.state_dict().items()}

    def init(module):
        target = module.state_dict()
        missing = sorted(set(target) ^ set(state))
        if missing:
            raise ConfigError(
                f"warm_start: the {source.name} model's layers differ from this "
                f"{spec.name} model's ({missing[:4]}); build both with the same options "
                "(base_width, depth, norm, hidden, linear_skip)"
            )
        with torch.no_grad():
            for key, value in target.items():
                src = state[key]
                if src.shape == value.shape:
                    value.copy_(src)
                elif (
                    src.dim() == value.dim() >= 2
                    and src.shape[0] == value.shape[0]
                    and (src.shape[2:] == value.shape[2:] and src.shape[1] < value.shape[1])
                ):
                    value.zero_()
                    value[:, : src.shape[1]] = src
                else:
                    raise ConfigError(
                        f"warm_start: layer {key} has shape {tuple(src.shape)} in the "
                        f"{source.name} model and {tuple(value.shape)} here; build both with "
                        "the same options"
                    )

    return init


__all__ = ["fit", "suggest_geometry"]
