"""Settings of a training run: :class:`TrainConfig` (Table 1 of the paper as presets)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from ..errors import ConfigError
from .defaults import DEFAULT_SETTINGS, point_config


def _integer(name: str, value, low: int) -> int:
    if isinstance(value, bool) or (
        not isinstance(value, int) and not (isinstance(value, float) and value.is_integer())
    ):
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (defaults: the paper's LACNN row of Table 1).

    Parameters
    ----------
    optimizer : {"adam", "adamw", "sgd"}
        Optimizer.  ``"adam"`` and ``"sgd"`` apply ``weight_decay`` as an L2 term of the
        gradient (the paper's); ``"adamw"`` decouples it (Loshchilov & Hutter): with Adam's
        coupled penalty, a layer whose data gradient is small decays towards zero at the
        learning rate's pace, which is how deep U-Nets collapsed to a constant map.
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
    early_stopping : int, optional
        Stop after this many epochs without improvement of the validation loss (default:
        train every epoch; the best epoch's weights are returned either way).
    accept_margin : float, optional
        With a warm start (:func:`xlandslide.fit`'s ``warm_start``): the trained weights
        replace the starting ones only when their validation loss is lower by more than
        ``accept_margin`` standard errors of the paired per-pixel difference (both scored on
        the same validation pixels; :mod:`xlandslide.train.accept`).  ``None`` (default):
        any lower validation loss.  Without a warm start it has no effect.
    schedule : {"plateau", "cosine"}
        ``"plateau"`` (the paper's): the learning rate is multiplied by ``lr_factor`` after
        ``patience`` epochs without a better validation loss.  ``"cosine"``: a linear
        warm-up over the first ``warmup`` share of the training steps, then a cosine decay
        to zero at the last step (per batch).
    warmup : float
        Share of the training steps spent warming up (``"cosine"`` only), in [0, 1).
    clip_norm : float, optional
        Clip the gradient's global norm to this value before every step (None: no clipping).
    solver : {"auto", "lbfgs", "gradient"}
        How the LLR is fitted: ``"lbfgs"`` to convergence on all its training pixels
        (a penalised GLM: mean BCE + ``weight_decay`` / 2 ||w||^2, intercept unpenalised;
        :func:`xlandslide.train.glm.fit_glm`), ``"gradient"`` by the loop on patches, as the
        paper.  ``"auto"``: L-BFGS for the LLR, the loop for every network.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None`` picks CUDA when available.
    amp : bool
        Mixed precision on CUDA (bfloat16 where supported, else float16 with loss
        scaling); never used on the CPU.  The loss is computed in float32.

    Examples
    --------
    >>> import xlandslide
    >>> cfg = xlandslide.TrainConfig()  # Table 1's LACNN row
    >>> cfg.optimizer, cfg.lr, cfg.epochs, cfg.batch_size, cfg.schedule
    ('adam', 0.001, 30, 9, 'plateau')
    >>> cfg == xlandslide.TrainConfig.paper("lacnn")
    True
    >>> default = xlandslide.TrainConfig.default("lacnn")  # what fit uses without a config
    >>> {k: v for k, v in default.to_dict().items() if v != getattr(cfg, k)}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'optimizer': 'adamw', 'lr': 0.002, 'epochs': 20, 'batch_size': 4, 'weight_decay': 0.0001,
     'early_stopping': 5, 'schedule': 'cosine', 'warmup': 0.05, 'clip_norm': 1.0}
    >>> default.replace(epochs=3).epochs
    3
    >>> xlandslide.TrainConfig.from_dict(default.to_dict()) == default
    True
    >>> xlandslide.TrainConfig(lr=0)
    Traceback (most recent call last):
    ...
    xlandslide.errors.ConfigError: lr must be a positive number (for example 0.001), got 0.0
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
    early_stopping: int | None = None
    accept_margin: float | None = None
    device: str | None = None
    amp: bool = True
    schedule: str = "plateau"
    warmup: float = 0.0
    clip_norm: float | None = None
    solver: str = "auto"

    def __post_init__(self):
        opt = str(self.optimizer).lower()
        if opt not in ("adam", "adamw", "sgd"):
            raise ConfigError(f"optimizer must be 'adam', 'adamw' or 'sgd', got {self.optimizer!r}")
        object.__setattr__(self, "optimizer", opt)
        for name, allowed in (
            ("schedule", ("plateau", "cosine")),
            ("solver", ("auto", "lbfgs", "gradient")),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        w = self.warmup
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < 1:
            raise ConfigError(f"warmup must be a share of the steps in [0, 1), got {w!r}")
        object.__setattr__(self, "warmup", float(w))
        c = self.clip_norm
        if c is not None:
            if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c < math.inf:
                raise ConfigError(f"clip_norm must be None or a positive number, got {c!r}")
            object.__setattr__(self, "clip_norm", float(c))
        for name in ("lr", "weight_decay", "momentum", "lr_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ConfigError(f"{name} must be finite, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.lr <= 0:
            raise ConfigError(f"lr must be a positive number (for example 0.001), got {self.lr!r}")
        for name, low in (("epochs", 1), ("batch_size", 1), ("patience", 0), ("num_workers", 0)):
            object.__setattr__(self, name, _integer(name, getattr(self, name), low))
        object.__setattr__(self, "seed", _integer("seed", self.seed, 0))
        for name in ("max_batches_per_epoch", "early_stopping"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _integer(name, getattr(self, name), 1))
        if self.accept_margin is not None:
            m = self.accept_margin
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m):
                raise ConfigError(
                    f"accept_margin must be None or a finite number of standard errors "
                    f"(for example 2.0), got {m!r}"
                )
            if m < 0:
                raise ConfigError(f"accept_margin must be >= 0 standard errors, got {m!r}")
            object.__setattr__(self, "accept_margin", float(m))
        if self.weight_decay < 0 or self.momentum < 0:
            raise ConfigError(
                f"weight_decay and momentum must be >= 0, got {self.weight_decay!r} and "
                f"{self.momentum!r}"
            )
        if not 0 < self.lr_factor < 1:
            raise ConfigError(f"lr_factor must be in (0, 1), got {self.lr_factor!r}")
        if not isinstance(self.amp, bool):
            raise ConfigError(f"amp must be True or False, got {self.amp!r}")
        if self.device is not None:
            if type(self.device).__name__ == "device":  # a torch.device: keep it plain
                object.__setattr__(self, "device", str(self.device))
            if not isinstance(self.device, str) or not self.device:
                raise ConfigError(
                    f"device must be None (automatic) or a name such as 'cpu', 'cuda' or "
                    f"'cuda:1', got {self.device!r}"
                )

    @classmethod
    def paper(cls, name: str, **changes) -> TrainConfig:
        """Table 1 of the paper for model ``name`` (case-insensitive), with ``changes``.

        >>> cfg = TrainConfig.paper("CNN")
        >>> cfg.optimizer, cfg.lr, cfg.epochs, cfg.batch_size
        ('sgd', 0.125, 20, 12)
        """
        from ..models import model_entry

        entry = model_entry(name)
        if entry.paper is None:
            raise ConfigError(
                f"the {entry.name} model is not trained by gradient descent: it has no Table 1 "
                "row (fit needs no TrainConfig for it)"
            )
        opt, lr, epochs, batch = entry.paper
        row = {"optimizer": opt, "lr": lr, "epochs": epochs, "batch_size": batch}
        if entry.linear:  # the paper trains its LLR by gradient descent on patches
            row["solver"] = "gradient"
        return cls(**{**row, **changes})

    @classmethod
    def default(cls, name: str, **changes) -> TrainConfig:
        """The package's default settings for model ``name`` (what :func:`xlandslide.fit`
        uses when given no config), with ``changes``.

        The LLR is fitted exactly (L-BFGS); the networks use AdamW with a warm-up, a cosine
        decay, gradient clipping and early stopping on the validation loss
        (:data:`xlandslide.train.defaults.DEFAULT_SETTINGS`).  Table 1 of the paper is
        :meth:`paper`.

        >>> cfg = TrainConfig.default("lacnn")
        >>> cfg.optimizer, cfg.schedule, cfg.clip_norm
        ('adamw', 'cosine', 1.0)
        """
        from ..models import model_entry

        entry = model_entry(name)
        if entry.name not in DEFAULT_SETTINGS:
            raise ConfigError(
                f"the {entry.name} model is not trained by gradient descent: it has no "
                "training settings (fit needs no TrainConfig for it)"
            )
        return cls(**{**DEFAULT_SETTINGS[entry.name], **changes})

    def uses_lbfgs(self, name: str) -> bool:
        """Whether model ``name`` is fitted by L-BFGS under these settings (see ``solver``)."""
        from ..models import model_entry

        linear = model_entry(name).linear
        if self.solver == "lbfgs" and not linear:
            raise ConfigError(
                f"solver='lbfgs' fits linear models only (the LLR), not {name!r}; use "
                "solver='auto' or 'gradient'"
            )
        return linear and self.solver in ("auto", "lbfgs")

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict of the settings (round-trips through :meth:`from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainConfig:
        """Settings from :meth:`to_dict`'s output; unknown keys raise :class:`ConfigError`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown TrainConfig keys {unknown}; known keys are {sorted(known)}")
        return cls(**dict(data))

    @classmethod
    def from_options(cls, name: str, options) -> TrainConfig:
        """Settings of model ``name`` from a preset and the options a user gave.

        ``options``: a mapping or an object with attributes (the command line's parsed
        arguments): ``preset`` (``"default"``: :meth:`default`; ``"paper"``: :meth:`paper`;
        ``"points"``: :func:`xlandslide.train.presets.point_inventory`), ``seed``, and
        ``epochs``, ``lr``, ``batch_size``, ``max_batches_per_epoch``, ``early_stopping``,
        ``device``, ``accept_margin``, which replace the preset's when not ``None``.  A
        model fitted on a pixel table (not by torch: the learners) reads only the seed.

        >>> cfg = TrainConfig.from_options("cnn", {"preset": "paper", "epochs": 3, "lr": None})
        >>> cfg.optimizer, cfg.lr, cfg.epochs, cfg.seed
        ('sgd', 0.125, 3, 0)
        """
        from ..models import model_entry

        def get(key, default=None):
            if isinstance(options, Mapping):
                return options.get(key, default)
            return getattr(options, key, default)

        entry = model_entry(name)
        seed = get("seed", 0)
        seed = 0 if seed is None else seed
        if entry.backend != "torch":  # fitted on a pixel table: no training settings
            return cls.default(entry.name, seed=seed)
        preset = get("preset", "default") or "default"
        if preset == "points":
            config = cls(**point_config(entry.name))
        elif preset == "paper":
            config = cls.paper(entry.name)
        elif preset == "default":
            config = cls.default(entry.name)
        else:
            raise ConfigError(f"preset {preset!r}: use default, paper or points")
        fields = (
            "epochs",
            "lr",
            "batch_size",
            "max_batches_per_epoch",
            "early_stopping",
            "device",
            "accept_margin",
        )
        given = {k: get(k) for k in fields}
        return config.replace(seed=seed, **{k: v for k, v in given.items() if v is not None})


__all__ = ["TrainConfig"]
