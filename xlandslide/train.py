"""Training: settings (:class:`TrainConfig`), the masked loss, and :func:`fit`.

``fit(region, "lacnn")`` cuts the region into patches (core + halo), splits them 80/10/10,
oversamples the training patches that hold a landslide, and trains the model with the
paper's recipe (DESIGN §1): binary cross-entropy on the known core pixels only, Adam or SGD
with L2 weight decay 0.001, validation every epoch, learning rate reduced on a validation
plateau (patience 2), Table 1's learning rates, epochs and batch sizes.  It returns a
:class:`~xlandslide.checkpoint.LandslideModel` holding the best-validation weights and
everything needed to predict, and writes it to ``checkpoint`` when asked.

Runs on CUDA when available (mixed precision there, bfloat16 where supported), on the CPU
otherwise; the aligned features are gathered on the device from int8 offsets.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from .checkpoint import LandslideModel, load_model, region_normalisation
from .errors import RegionError
from .grid import PatchGeometry

__all__ = [
    "LandslideModel",
    "TrainConfig",
    "fit",
    "fit_datasets",
    "load_model",
    "masked_bce_with_logits",
]

#: Table 1 of the paper: optimizer, learning rate, epochs, batch size.
PAPER_TABLE1 = {
    "llr": ("adam", 0.125, 10, 15),
    "nn": ("adam", 0.125, 10, 13),
    "lann": ("adam", 0.016, 15, 10),
    "cnn": ("sgd", 0.125, 20, 12),
    "lacnn": ("adam", 0.001, 30, 9),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (defaults: the paper's LACNN row of Table 1).

    Parameters
    ----------
    optimizer : {"adam", "sgd"}
        Optimizer.
    lr : float
        Initial learning rate.
    epochs : int
        Passes over the (oversampled) training patches.
    batch_size : int
        Patches per step.
    weight_decay : float
        L2 penalty (the paper's 0.001), applied by the optimizer to every parameter.
    momentum : float
        SGD momentum (0: plain SGD, as the paper's table implies); ignored by Adam.
    patience : int
        Epochs without validation improvement before the learning rate is reduced
        (:class:`torch.optim.lr_scheduler.ReduceLROnPlateau`).
    lr_factor : float
        Factor applied to the learning rate on a plateau.
    seed : int
        Seeds the weights' initialisation, the patch order and the data-loader workers.
    num_workers : int
        :class:`torch.utils.data.DataLoader` worker processes (0: load in the main process).
    max_batches_per_epoch : int, optional
        Stop each training epoch after this many batches (quick runs); validation always
        sees every validation patch.
    oversample : int
        Times a training patch holding a landslide pixel is repeated (used when
        :func:`fit` makes the patches).
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` picks CUDA when available.
    amp : bool
        Mixed precision on CUDA (bfloat16 where supported, else float16 with loss
        scaling); never used on the CPU.  The loss is computed in float32.
    """

    optimizer: str = "adam"
    lr: float = 0.001
    epochs: int = 30
    batch_size: int = 9
    weight_decay: float = 1e-3
    momentum: float = 0.0
    patience: int = 2
    lr_factor: float = 0.1
    seed: int = 0
    num_workers: int = 0
    max_batches_per_epoch: int | None = None
    oversample: int = 5
    device: str | None = None
    amp: bool = True

    def __post_init__(self):
        opt = str(self.optimizer).lower()
        if opt not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        object.__setattr__(self, "optimizer", opt)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("epochs", "batch_size", "oversample"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("patience", "num_workers", "seed"):
            value = getattr(self, name)
            if int(value) != value or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.max_batches_per_epoch is not None and (
            int(self.max_batches_per_epoch) != self.max_batches_per_epoch
            or self.max_batches_per_epoch < 1
        ):
            raise ValueError(
                "max_batches_per_epoch must be None or a positive integer, "
                f"got {self.max_batches_per_epoch!r}"
            )
        if self.weight_decay < 0 or self.momentum < 0:
            raise ValueError("weight_decay and momentum must be non-negative")
        if not 0 < self.lr_factor < 1:
            raise ValueError(f"lr_factor must be in (0, 1), got {self.lr_factor!r}")

    @classmethod
    def paper(cls, name: str, **changes) -> TrainConfig:
        """Table 1 of the paper for model ``name`` (case-insensitive), with ``changes``.

        >>> cfg = TrainConfig.paper("CNN")
        >>> cfg.optimizer, cfg.lr, cfg.epochs, cfg.batch_size
        ('sgd', 0.125, 20, 12)
        """
        key = str(name).strip().lower()
        if key not in PAPER_TABLE1:
            raise ValueError(f"no Table 1 row for {name!r}; valid names are {sorted(PAPER_TABLE1)}")
        opt, lr, epochs, batch = PAPER_TABLE1[key]
        row = {"optimizer": opt, "lr": lr, "epochs": epochs, "batch_size": batch}
        return cls(**{**row, **changes})

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict of the settings (round-trips through :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainConfig:
        """Settings from :meth:`to_dict`'s output; unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; known keys are {sorted(known)}")
        return cls(**dict(data))


# ----------------------------------------------------------------------------- the loss


def _core(x, halo: int):
    if halo == 0:
        return x
    return x[..., halo:-halo, halo:-halo]


def _masked_bce_sum(logits, label, halo: int):
    """(sum of BCE over known core pixels, number of known core pixels), float32 tensors."""
    import torch
    import torch.nn.functional as F

    if logits.shape != label.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and label {tuple(label.shape)} differ in shape"
        )
    halo = int(halo)
    if halo < 0 or 2 * halo >= min(logits.shape[-2:]):
        raise ValueError(f"halo {halo} leaves no core in a {tuple(logits.shape[-2:])} patch")
    z = _core(logits, halo).float()
    y = _core(label, halo)
    known = y >= 0
    # Masked logits are replaced (not multiplied) so that NaN/inf there cannot leak into
    # the loss or its gradient.
    z = torch.where(known, z, torch.zeros((), dtype=z.dtype, device=z.device))
    target = known & (y > 0)
    loss = F.binary_cross_entropy_with_logits(z, target.to(z.dtype), reduction="none")
    loss = torch.where(known, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    return loss.sum(), known.sum().to(loss.dtype)


def masked_bce_with_logits(logits, label, halo: int):
    """Mean binary cross-entropy over the known pixels of the patches' cores.

    Parameters
    ----------
    logits : torch.Tensor
        (B, S, S) logits (any float dtype; computed in float32).
    label : torch.Tensor
        (B, S, S) integer labels: 1 landslide, 0 stable, -1 unknown.
    halo : int
        Pixels cropped on every side before the loss (only the core counts).

    Returns
    -------
    torch.Tensor
        Scalar: ``sum(BCE) / n_known`` over core pixels with ``label >= 0``; 0 (still
        differentiable, with zero gradient) when there is no known core pixel.

    Notes
    -----
    Uses :func:`torch.nn.functional.binary_cross_entropy_with_logits`, i.e. the stable
    ``max(z, 0) - z * y + log(1 + exp(-|z|))``.  Logits at unknown or halo pixels never
    reach the loss nor its gradient, even when they are NaN.
    """
    total, count = _masked_bce_sum(logits, label, halo)
    return total / count.clamp(min=1)


# ------------------------------------------------------------------------- the trainer


def _choose_device(device):
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was asked for but torch sees no CUDA device; use device='cpu' "
            "or None (automatic)"
        )
    return device


def _seed_worker(worker_id: int) -> None:  # DataLoader worker_init_fn (must be picklable)
    import random

    import torch

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # noqa: NPY002  (datasets may use the legacy global RNG)
    random.seed(seed)


def _loader(dataset, config: TrainConfig, *, shuffle: bool, device):
    import torch
    from torch.utils.data import DataLoader

    generator = torch.Generator()
    generator.manual_seed(int(config.seed))
    return DataLoader(
        dataset,
        batch_size=int(config.batch_size),
        shuffle=shuffle,
        num_workers=int(config.num_workers),
        worker_init_fn=_seed_worker if config.num_workers else None,
        generator=generator,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )


def _batch_to(batch, device, needs_offsets: bool):
    import torch

    features = torch.as_tensor(batch["features"])
    features = features.to(device, dtype=torch.float32, non_blocking=True)
    label = torch.as_tensor(batch["label"]).to(device, non_blocking=True)
    offsets = None
    if needs_offsets:
        if batch.get("offsets") is None:
            raise RegionError(
                "the model reads aligned features but the batches carry no 'offsets'; "
                "add uphill_dy/uphill_dx to the region (xlandslide.uphill_offsets)"
            )
        # int8 travels (2 bytes per pixel and distance); the gather casts on the device
        offsets = torch.as_tensor(batch["offsets"]).to(device, non_blocking=True)
    return features, offsets, label


def _amp_settings(config: TrainConfig, device):
    """(autocast dtype or None, GradScaler or None)."""
    import torch

    if not config.amp or device.type != "cuda":
        return None, None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


def _run_epoch(
    module,
    loader,
    device,
    *,
    halo,
    needs_offsets,
    optimizer=None,
    amp=(None, None),
    max_batches=None,
    desc="",
):
    """One pass; returns (mean loss over known core pixels, number of those pixels)."""
    import torch

    amp_dtype, scaler = amp
    training = optimizer is not None
    module.train(training)
    total = count = 0.0  # Python floats: exact enough, and no float64 needed on the device
    batches: Iterable = loader
    bar = _progress_bar(loader, desc, max_batches)
    if bar is not None:
        batches = bar
    if max_batches is not None:  # islice: no batch is loaded beyond the limit
        batches = itertools.islice(batches, int(max_batches))
    with torch.set_grad_enabled(training):
        for batch in batches:
            features, offsets, label = _batch_to(batch, device, needs_offsets)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = module(features, offsets)
            s, n = _masked_bce_sum(logits, label, halo)
            n_known = float(n.item())
            total += float(s.item())
            count += n_known
            if training:
                if n_known == 0:  # no known core pixel: nothing to learn from
                    continue
                loss = s / n
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
    if bar is not None:
        bar.close()
    return (total / count if count else math.nan), count


def _progress_bar(loader, desc, max_batches):
    if not desc:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    total = len(loader) if max_batches is None else min(len(loader), max_batches)
    return tqdm(loader, total=total, desc=desc, leave=False, file=sys.stderr)


def _make_optimizer(module, config: TrainConfig):
    import torch

    params = [p for p in module.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def fit_datasets(
    train,
    val,
    model: str = "lacnn",
    *,
    feature_names: Sequence[str],
    geometry: PatchGeometry,
    aligned_names: Sequence[str] = (),
    distances: Sequence[float] = (),
    pixel_size: float | None = None,
    normalisation: Mapping | None = None,
    config: TrainConfig | None = None,
    model_config: Mapping | None = None,
    progress: bool = True,
    checkpoint=None,
    callbacks: Sequence[Callable] | None = None,
    prior: float | None = None,
) -> LandslideModel:
    """Train model ``model`` on map-style datasets of patch dicts (the engine of :func:`fit`).

    ``train`` and ``val`` yield dicts with ``"features"`` (F, S, S) float32 (NaN outside
    the region), ``"label"`` (S, S) int8 (1/0/-1) and, for aligned models, ``"offsets"``
    (D, 2, S, S) int8, with ``S = geometry.size``.  ``val`` may be empty or ``None`` (then
    the plateau schedule and the best-weights choice follow the training loss).  ``prior``
    (the training positive ratio), when given, sets the output bias to ``logit(prior)``
    before training (:meth:`LandslideNet.init_prior`).  The other arguments are stored in
    the returned model; see :func:`fit` for the rest.
    """
    import torch

    from .models import build_model, canonical_name, model_needs_offsets

    name = canonical_name(model)
    config = config if config is not None else TrainConfig.paper(name)
    needs = model_needs_offsets(name)
    if needs and not distances:
        raise ValueError(f"the {name} model needs looking distances (metres), got none")
    aligned = tuple(aligned_names) if needs else ()
    distances = tuple(float(d) for d in distances) if needs else ()
    device = _choose_device(config.device)
    halo = int(geometry.halo)

    torch.manual_seed(int(config.seed))
    module = build_model(
        name,
        len(feature_names),
        feature_names=list(feature_names),
        aligned_names=aligned,
        n_distances=len(distances),
        **dict(model_config or {}),
    )
    if prior is not None:
        module.init_prior(float(prior))
    module = module.to(device)
    optimizer = _make_optimizer(module, config)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.lr_factor, patience=config.patience
    )
    amp = _amp_settings(config, device)
    if len(train) == 0:
        raise ValueError("the training set holds no patch; use more data or other fractions")
    train_loader = _loader(train, config, shuffle=True, device=device)
    has_val = val is not None and len(val) > 0
    val_loader = _loader(val, config, shuffle=False, device=device) if has_val else None

    history: dict = {"epoch": [], "train_loss": [], "val_loss": [], "lr": [], "seconds": []}
    best_score, best_state, best_epoch = math.inf, None, 0

    def snapshot() -> LandslideModel:
        return LandslideModel(
            module,
            name,
            feature_names=feature_names,
            aligned_names=aligned,
            distances=distances,
            geometry=geometry,
            pixel_size=pixel_size,
            normalisation=normalisation,
            train_config=config.to_dict(),
            history={**history, "best_epoch": best_epoch},
        )

    for epoch in range(1, int(config.epochs) + 1):
        t0 = time.perf_counter()
        lr = float(optimizer.param_groups[0]["lr"])
        desc = f"{name} epoch {epoch}/{config.epochs}" if progress else ""
        train_loss, _ = _run_epoch(
            module,
            train_loader,
            device,
            halo=halo,
            needs_offsets=needs,
            optimizer=optimizer,
            amp=amp,
            max_batches=config.max_batches_per_epoch,
            desc=desc,
        )
        val_loss = math.nan
        if val_loader is not None:
            val_loss, _ = _run_epoch(
                module,
                val_loader,
                device,
                halo=halo,
                needs_offsets=needs,
                amp=amp,
                desc=f"{name} validation" if progress else "",
            )
        score = val_loss if not math.isnan(val_loss) else train_loss
        if not math.isnan(score):
            scheduler.step(score)
        seconds = time.perf_counter() - t0
        for key, value in zip(
            ("epoch", "train_loss", "val_loss", "lr", "seconds"),
            (epoch, train_loss, val_loss, lr, seconds),
        ):
            history[key].append(value)
        improved = best_state is None or score < best_score
        if improved:
            best_score, best_epoch = score, epoch
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        if progress:
            print(
                f"[xlandslide] {name} epoch {epoch}/{config.epochs}: train {train_loss:.5f} "
                f"val {val_loss:.5f} lr {lr:.3g} ({seconds:.1f} s)" + (" *" if improved else ""),
                file=sys.stderr,
                flush=True,
            )
        if improved and checkpoint is not None:  # crash-safe: the best so far is on disk
            snapshot().save(checkpoint)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": lr,
            "seconds": seconds,
            "improved": improved,
        }
        if any(cb(record) is True for cb in list(callbacks or ())):
            break

    if best_state is not None:
        module.load_state_dict(best_state)
    result = snapshot()
    if checkpoint is not None:
        result.save(checkpoint)
    return result


# ------------------------------------------------------------------------- region level


def _region_distances(region) -> tuple[float, ...]:
    if "uphill_dy" in region and "uphill_dx" in region and "distance" in region.coords:
        return tuple(float(d) for d in region["distance"].values)
    return ()


def _with_offsets(region, distances):
    """Region holding uphill_dy/dx for exactly ``distances`` (computed lazily if absent)."""
    have = _region_distances(region)
    if distances is None:
        if not have:
            raise RegionError(
                "aligned models need uphill offsets: the region has no uphill_dy/uphill_dx; "
                "pass distances=(30, 100, 300) or add them with xlandslide.uphill_offsets"
            )
        distances = have
    distances = tuple(float(d) for d in distances)
    if not distances:
        raise ValueError("aligned models need at least one looking distance")
    if all(any(math.isclose(d, h) for h in have) for d in distances):
        pick = [next(i for i, h in enumerate(have) if math.isclose(d, h)) for d in distances]
        region = region.isel(distance=pick)
    else:
        from .features import uphill_offsets

        offs = uphill_offsets(region["dem"], distances=distances)
        region = region.drop_vars(["uphill_dy", "uphill_dx", "distance"], errors="ignore")
        region = region.assign(uphill_dy=offs["dy"], uphill_dx=offs["dx"])
    return region, distances


def _resolve_aligned(aligned_names, region, patches, config, feature_names, progress):
    from .models import select_aligned_features

    if aligned_names is None:
        # The paper's pipeline: an LLR on the same patches, then |w| >= 0.2.
        llr_config = TrainConfig.paper(
            "llr",
            seed=config.seed,
            device=config.device,
            num_workers=config.num_workers,
            max_batches_per_epoch=config.max_batches_per_epoch,
            oversample=config.oversample,
            amp=config.amp,
        )
        if progress:
            print(
                "[xlandslide] no aligned_names given: fitting an LLR to choose them "
                "(|weight| >= 0.2, as in the paper)",
                file=sys.stderr,
                flush=True,
            )
        aligned_names = fit(region, "llr", patches=patches, config=llr_config, progress=progress)
    if isinstance(aligned_names, LandslideModel):
        return select_aligned_features(aligned_names, feature_names)
    names = tuple(str(n) for n in aligned_names)
    missing = [n for n in names if n not in feature_names]
    if missing:
        raise ValueError(f"aligned_names not among the region's features: {missing}")
    return names


def fit(
    region,
    model: str = "lacnn",
    *,
    patches=None,
    config: TrainConfig | None = None,
    model_config: Mapping | None = None,
    aligned_names=None,
    distances: Sequence[float] | None = None,
    progress: bool = True,
    checkpoint=None,
    callbacks: Sequence[Callable] | None = None,
) -> LandslideModel:
    """Train a landslide model on a region, as in the paper.

    Parameters
    ----------
    region : xarray.Dataset
        A region (``features``, ``label``, ``dem``, optional ``uphill_dy``/``uphill_dx``);
        numpy- or dask-backed (patches are read lazily).
    model : str
        ``"llr"``, ``"nn"``, ``"lann"``, ``"cnn"`` or ``"lacnn"`` (case-insensitive).
    patches : PatchSet, optional
        Patches and split (:func:`xlandslide.make_patches`); default: made here with the
        default geometry (500 + 2 x 64), ``config.seed`` and ``config.oversample``.
    config : TrainConfig, optional
        Default: ``TrainConfig.paper(model)`` (Table 1).
    model_config : dict, optional
        Model options (``base_width``, ``depth``, ``batch_norm``, ``hidden``,
        ``validity_channel``; see :func:`xlandslide.models.build_model`).
    aligned_names : sequence of str or LandslideModel, optional
        Aligned models only: the features read at the uphill points, or a trained LLR whose
        weights choose them (:func:`~xlandslide.models.select_aligned_features`).  Default:
        fit an LLR first (Table 1 settings, this run's seed, device and batch limit) and
        apply the paper's rule.
    distances : sequence of float, optional
        Aligned models only: looking distances in metres.  Default: those of the region's
        uphill offsets.  Offsets missing from the region are computed lazily from ``dem``.
    progress : bool
        Print one line per epoch to stderr (and per-batch bars when tqdm is installed).
    checkpoint : path, optional
        Write the model there (atomically) whenever validation improves and at the end.
    callbacks : sequence of callables, optional
        Called after every epoch with a dict (epoch, train_loss, val_loss, lr, seconds,
        improved); one returning ``True`` stops training.

    Returns
    -------
    LandslideModel
        With the best-validation weights, on the training device, in eval mode; its
        ``history`` holds per-epoch ``train_loss``, ``val_loss``, ``lr``, ``seconds`` and
        ``best_epoch``.

    Notes
    -----
    Seeded: the same seed, data and device give the same weights (on the CPU exactly).
    ``torch.manual_seed`` is called, so the global torch RNG is reset to ``config.seed``.
    The loss counts only core pixels (``geometry.halo`` cropped on every side) whose label
    is known (``label >= 0``).

    Examples
    --------
    >>> model = xlandslide.fit(region, "lacnn", distances=(30, 100, 300))  # doctest: +SKIP
    >>> model.save("lacnn.pt")  # doctest: +SKIP
    """
    from .grid import pixel_size as grid_pixel_size
    from .models import canonical_name, model_needs_offsets

    name = canonical_name(model)
    config = config if config is not None else TrainConfig.paper(name)
    for var in ("features", "label"):
        if var not in region:
            raise RegionError(
                f"the region has no {var!r} variable; open or build it with "
                "xlandslide.open_region / xlandslide.synthetic_region"
            )
    feature_names = tuple(str(v) for v in region["feature"].values)
    px = grid_pixel_size(region)
    normalisation = region_normalisation(region)
    needs = model_needs_offsets(name)
    if needs:
        region, distances = _with_offsets(region, distances)
    else:
        region = region.drop_vars(["uphill_dy", "uphill_dx"], errors="ignore")
        distances = ()

    from .patches import PatchDataset, make_patches

    if patches is None:
        patches = make_patches(
            region, geometry=PatchGeometry(), seed=config.seed, oversample=config.oversample
        )
    aligned = ()
    if needs:
        aligned = _resolve_aligned(aligned_names, region, patches, config, feature_names, progress)
    train = PatchDataset(region, patches, "train", oversample=True)
    val = PatchDataset(region, patches, "val", oversample=False)
    from .evaluate import naive_ratio

    prior = naive_ratio(region["label"], patches.core_mask("train", like=region))
    return fit_datasets(
        train,
        val,
        name,
        feature_names=feature_names,
        geometry=patches.geometry,
        aligned_names=aligned,
        distances=distances,
        pixel_size=px,
        normalisation=normalisation,
        config=config,
        model_config=model_config,
        progress=progress,
        checkpoint=checkpoint,
        callbacks=callbacks,
        prior=prior,
    )
