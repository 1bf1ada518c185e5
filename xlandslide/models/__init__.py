"""The models of the paper and their registry (torch only; nothing here knows xarray).

Every model maps ``continuous`` (B, C, H, W) float with NaN outside the region,
``categorical`` (B, G, H, W) uint8 class codes and ``offsets`` (B, D, 2, H, W) int8 or
``None`` to LOGITS (B, H, W); its first step expands the codes to one-hot and NaN to 0 (see
:mod:`xlandslide.models.layers`).  Any H, W works.

======  ===========================================  ========  ============  =================
name    what                                         aligned   convolutions  Table 1 (paper)
======  ===========================================  ========  ============  =================
naive   the training positive ratio everywhere       no        no            (not trained)
llr     logistic regression per pixel (1x1 conv)     no        no            Adam 0.125 10 15
nn      per-pixel MLP (1x1 convs + ReLU)             no        no            Adam 0.125 10 13
lann    aligned gather + per-pixel MLP               yes       no            Adam 0.016 15 10
cnn     U-Net                                        no        yes           SGD 0.125 20 12
lacnn   aligned gather + U-Net (the paper's model)   yes       yes           Adam 0.001 30 9
======  ===========================================  ========  ============  =================

Examples
--------
>>> from xlandslide.models import build_model
>>> net = build_model("lacnn", n_continuous=2, n_classes=(3,), aligned_index=[0, 3],
...                   n_distances=3, base_width=4)
>>> net.n_features, net.in_channels
(5, 11)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from .lacnn import CNN, LACNN
from .layers import AlignedGather, CodeExpand, LandslideNet, nan_to_zero
from .naive import Naive
from .pixel import LANN, LLR, NN
from .unet import UNet


@dataclass(frozen=True)
class ModelEntry:
    """A registry entry: how to build the model and what it needs.

    ``paper`` is the model's row of Table 1 of the paper (optimizer, learning rate,
    epochs, batch size), ``None`` for a model that is not trained by gradient descent.
    ``pixelwise`` models compute each pixel from that pixel alone (and, when aligned, its
    uphill points): they need no tiles at prediction time.  ``trained``: whether the
    model has weights to fit (the Naive model is the training positive ratio);
    ``linear``: a linear model of the features (the LLR: fitted exactly, its weights
    choose the aligned features and warm-start the networks' linear paths);
    ``base``: the model of the same body without the aligned gather (the LANN's is the
    NN, the LACNN's the CNN), whose weights an aligned model can start from
    (:func:`xlandslide.fit`'s ``warm_start``) and against which its gain is measured;
    ``backend``: ``"torch"`` (a network trained by the loop) or ``"learner"`` (a model of
    :mod:`xlandslide.learners` fitted on a pixel table, in a
    :class:`~xlandslide.models.learner.LearnerModule`);
    ``trains_on_cluster``: the model trains on a Dask cluster's workers when
    :func:`xlandslide.fit` (or :func:`xlandslide.cross_validate`) is given a ``client``
    (the gradient-boosted trees, through ``lightgbm.dask``); the others train in the
    calling process.
    """

    name: str
    builder: Callable[..., LandslideNet]
    needs_offsets: bool
    pixelwise: bool
    paper: tuple[str, float, int, int] | None
    description: str
    trained: bool = True
    linear: bool = False
    base: str | None = None
    backend: str = "torch"
    trains_on_cluster: bool = False


def _check_distances(n_distances: int) -> int:
    if isinstance(n_distances, bool) or int(n_distances) != n_distances or n_distances < 1:
        raise ConfigError(
            "aligned models need n_distances >= 1 (the number of looking distances, "
            f"e.g. 3 for the paper's 30, 100, 300 m), got {n_distances}"
        )
    return int(n_distances)


def _check_index(aligned_index, n_features: int) -> list[int]:
    index = [int(i) for i in aligned_index]
    if not index:
        raise ConfigError(
            "aligned models need at least one aligned feature; choose them with "
            "xlandslide.select_aligned_features(region, patches)"
        )
    bad = [i for i in index if not 0 <= i < n_features]
    if bad:
        raise ConfigError(f"aligned feature indices {bad} out of range for {n_features} features")
    return index


def _plain(cls):
    def build(n_continuous, n_classes, aligned_index=(), n_distances=0, **config):
        if len(aligned_index) or int(n_distances):
            raise ConfigError(
                f"the {cls.__name__} model reads no aligned features: pass no aligned_index "
                f"and n_distances=0 (got {list(aligned_index)} and {n_distances}); the "
                "aligned models are 'lann' and 'lacnn'"
            )
        return cls(n_continuous, n_classes, **config)

    return build


def _learner(learner: str, aligned: bool):
    def build(n_continuous, n_classes, aligned_index=(), n_distances=0, **config):
        from .learner import LearnerModule

        if aligned:
            index = _check_index(aligned_index, n_continuous + sum(n_classes))
            n = _check_distances(n_distances)
            return LearnerModule(learner, n_continuous, n_classes, index, n, **config)
        if len(aligned_index) or int(n_distances):
            raise ConfigError(
                f"the {learner} model reads no aligned features: pass no aligned_index and "
                f"n_distances=0; its aligned variant is 'la{learner}'"
            )
        return LearnerModule(learner, n_continuous, n_classes, **config)

    return build


def _aligned(cls):
    def build(n_continuous, n_classes, aligned_index=(), n_distances=0, **config):
        index = _check_index(aligned_index, n_continuous + sum(n_classes))
        return cls(n_continuous, n_classes, index, _check_distances(n_distances), **config)

    return build


#: name -> :class:`ModelEntry`, in the order of the paper's tables.
MODELS: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            "naive", _plain(Naive), False, True, None, "training positive ratio", trained=False
        ),
        ModelEntry(
            "llr",
            _plain(LLR),
            False,
            True,
            ("adam", 0.125, 10, 15),
            "logistic regression",
            linear=True,
        ),
        ModelEntry("nn", _plain(NN), False, True, ("adam", 0.125, 10, 13), "per-pixel MLP"),
        ModelEntry(
            "lann", _aligned(LANN), True, True, ("adam", 0.016, 15, 10), "aligned MLP", base="nn"
        ),
        ModelEntry("cnn", _plain(CNN), False, False, ("sgd", 0.125, 20, 12), "U-Net"),
        ModelEntry(
            "lacnn",
            _aligned(LACNN),
            True,
            False,
            ("adam", 0.001, 30, 9),
            "aligned U-Net",
            base="cnn",
        ),
        *(
            ModelEntry(
                ("la" if aligned else "") + learner,
                _learner(learner, aligned),
                aligned,
                True,
                None,
                ("aligned " if aligned else "") + what,
                base=learner if aligned else None,
                backend="learner",
                trains_on_cluster=cluster,
            )
            for learner, what, cluster in (
                ("fr", "frequency ratio", False),
                ("woe", "weights of evidence", False),
                ("gam", "spline GAM", False),
                ("gbm", "gradient-boosted trees (LightGBM)", True),
            )
            for aligned in (False, True)
        ),
    )
}


def canonical_name(name: str) -> str:
    """Lower-case registry name of ``name``; :class:`ConfigError` listing the names if unknown."""
    key = str(name).strip().lower()
    if key not in MODELS:
        raise ConfigError(f"unknown model {name!r}; valid names are {list(MODELS)}")
    return key


def model_entry(name: str) -> ModelEntry:
    """The registry entry of model ``name`` (case-insensitive)."""
    return MODELS[canonical_name(name)]


def find_entry(name) -> ModelEntry | None:
    """The registry entry of ``name`` (case-insensitive), ``None`` when it names no model.

    For asking what a model object is by the registry's facts rather than by its name:
    ``find_entry(getattr(model, "name", None))``.
    """
    return MODELS.get(str(name).strip().lower())


def cluster_models() -> tuple[str, ...]:
    """The names of the models that train on a Dask cluster (``trains_on_cluster``).

    >>> cluster_models()
    ('gbm', 'lagbm')
    """
    return tuple(name for name, e in MODELS.items() if e.trains_on_cluster)


def model_needs_offsets(name: str) -> bool:
    """Whether the model ``name`` reads aligned (uphill) features, i.e. needs offsets."""
    return model_entry(name).needs_offsets


def build_model(
    name: str,
    *,
    n_continuous: int,
    n_classes: Sequence[int] = (),
    aligned_index: Sequence[int] = (),
    n_distances: int = 0,
    **config,
) -> LandslideNet:
    """Build the model ``name`` (case-insensitive) for a feature layout.

    Parameters
    ----------
    name : str
        A key of :data:`MODELS`.
    n_continuous : int
        Number C of continuous layers.
    n_classes : sequence of int
        Classes of every categorical group.
    aligned_index : sequence of int
        Aligned models only: positions (among the ``C + sum(n_classes)`` features) of the
        features read at the uphill points.
    n_distances : int
        Aligned models only: number D of looking distances.
    **config
        Model options: ``hidden`` (nn, lann), ``base_width``, ``depth``, ``batch_norm``
        (cnn, lacnn), ``validity_channel`` (lann, lacnn), ``dropout`` (nn, lann, cnn,
        lacnn; default 0), ``linear_skip`` (nn, lann, cnn, lacnn: add a linear path, see
        :meth:`~xlandslide.models.layers.LandslideNet.add_linear_skip`).

    Returns
    -------
    LandslideNet
        ``forward(continuous, categorical, offsets) -> logits (B, H, W)``; ``.config``
        holds the resolved options (plain types, for checkpoints).
    """
    entry = model_entry(name)
    try:
        return entry.builder(
            int(n_continuous),
            tuple(int(n) for n in n_classes),
            aligned_index=tuple(aligned_index),
            n_distances=n_distances,
            **config,
        )
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"bad options for the {entry.name} model {config}: {err}; see "
            "xlandslide.models.build_model for the options of each model"
        ) from None


__all__ = [
    "CNN",
    "LACNN",
    "LANN",
    "LLR",
    "MODELS",
    "NN",
    "AlignedGather",
    "CodeExpand",
    "LandslideNet",
    "ModelEntry",
    "Naive",
    "UNet",
    "build_model",
    "canonical_name",
    "cluster_models",
    "find_entry",
    "model_entry",
    "model_needs_offsets",
    "nan_to_zero",
]
