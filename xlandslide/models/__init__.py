"""The models of the paper and their registry (torch only; nothing here knows xarray).

Every model maps ``features`` (B, F, H, W) float with NaN outside the region and
``offsets`` (B, D, 2, H, W) int8 or ``None`` to LOGITS (B, H, W); its first step is
NaN -> 0 (see :mod:`xlandslide.models.layers`).  Any H, W works.

======  ===========================================  ========  ============
name    what                                         aligned   convolutions
======  ===========================================  ========  ============
llr     logistic regression per pixel (1x1 conv)     no        no
nn      per-pixel MLP (1x1 convs + ReLU)             no        no
lann    aligned gather + per-pixel MLP               yes       no
cnn     U-Net                                        no        yes
lacnn   aligned gather + U-Net (the paper's model)   yes       yes
======  ===========================================  ========  ============

The Naive baseline (a constant) needs no network; see :func:`xlandslide.naive_nll`.

Examples
--------
>>> from xlandslide.models import build_model
>>> net = build_model("lacnn", 4, feature_names=["a", "b", "c", "d"],
...                   aligned_names=["a", "c"], n_distances=3, base_width=4)
>>> net.in_channels
10
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import XLandslideWarning
from .lacnn import CNN, LACNN
from .layers import AlignedGather, LandslideNet, nan_to_zero
from .pixel import LANN, LLR, NN
from .unet import UNet

#: The paper's number of aligned features (|LLR weight| >= 0.2 selected 22 in Veneto).
PAPER_N_ALIGNED = 22

_ALIGNED = frozenset({"lann", "lacnn"})


def _feature_index(feature_names, aligned_names, n_features: int) -> list[int]:
    if feature_names is None:
        from ..catalog import FEATURE_NAMES

        if n_features != len(FEATURE_NAMES):
            raise ValueError(
                "aligned models need `feature_names` to locate `aligned_names` "
                f"(got n_features={n_features}, not the catalog's {len(FEATURE_NAMES)})"
            )
        feature_names = FEATURE_NAMES
    feature_names = [str(n) for n in feature_names]
    if len(feature_names) != n_features:
        raise ValueError(
            f"feature_names has {len(feature_names)} names but n_features is {n_features}"
        )
    aligned_names = [str(n) for n in aligned_names]
    if not aligned_names:
        raise ValueError(
            "aligned models need at least one name in `aligned_names` "
            "(choose them with xlandslide.models.select_aligned_features)"
        )
    missing = [n for n in aligned_names if n not in feature_names]
    if missing:
        raise ValueError(f"aligned_names not among the feature names: {missing}")
    return [feature_names.index(n) for n in aligned_names]


def _check_distances(n_distances: int) -> int:
    if int(n_distances) < 1:
        raise ValueError(
            "aligned models need n_distances >= 1 (the number of looking distances, "
            f"e.g. 3 for the paper's 30, 100, 300 m), got {n_distances}"
        )
    return int(n_distances)


def _build_llr(n_features, *, feature_names=None, aligned_names=(), n_distances=0):
    return LLR(n_features)


def _build_nn(n_features, *, feature_names=None, aligned_names=(), n_distances=0, **config):
    return NN(n_features, **config)


def _build_cnn(n_features, *, feature_names=None, aligned_names=(), n_distances=0, **config):
    return CNN(n_features, **config)


def _build_lann(n_features, *, feature_names=None, aligned_names=(), n_distances=0, **config):
    index = _feature_index(feature_names, aligned_names, n_features)
    return LANN(n_features, index, _check_distances(n_distances), **config)


def _build_lacnn(n_features, *, feature_names=None, aligned_names=(), n_distances=0, **config):
    index = _feature_index(feature_names, aligned_names, n_features)
    return LACNN(n_features, index, _check_distances(n_distances), **config)


#: name -> builder ``(n_features, *, feature_names, aligned_names, n_distances, **config)``.
MODELS: dict[str, Callable[..., LandslideNet]] = {
    "llr": _build_llr,
    "nn": _build_nn,
    "lann": _build_lann,
    "cnn": _build_cnn,
    "lacnn": _build_lacnn,
}


def canonical_name(name: str) -> str:
    """Lower-case registry name of ``name``; ``ValueError`` listing the valid names if unknown."""
    key = str(name).strip().lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names are {sorted(MODELS)}")
    return key


def model_needs_offsets(name: str) -> bool:
    """Whether the model ``name`` reads aligned (uphill) features, i.e. needs offsets."""
    return canonical_name(name) in _ALIGNED


def build_model(
    name: str,
    n_features: int,
    *,
    feature_names: Sequence[str] | None = None,
    aligned_names: Sequence[str] = (),
    n_distances: int = 0,
    **config,
) -> LandslideNet:
    """Build the model ``name`` (case-insensitive) for ``n_features`` input channels.

    Parameters
    ----------
    name : str
        One of ``"llr"``, ``"nn"``, ``"lann"``, ``"cnn"``, ``"lacnn"``.
    n_features : int
        Input feature channels F.
    feature_names : sequence of str, optional
        Names of the F channels, to locate ``aligned_names`` (default: the catalog's 94
        names when F = 94).
    aligned_names : sequence of str
        Features read at the uphill points (aligned models only; ignored by the others).
    n_distances : int
        Number of looking distances D (aligned models only; ignored by the others).
    **config
        Model options: ``hidden`` (nn, lann), ``base_width``, ``depth``, ``batch_norm``
        (cnn, lacnn), ``validity_channel`` (lann, lacnn).

    Returns
    -------
    LandslideNet
        ``forward(features, offsets=None) -> logits (B, H, W)``; ``.config`` holds the
        resolved options (plain types, for checkpoints).
    """
    key = canonical_name(name)
    if int(n_features) < 1:
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
    return MODELS[key](
        int(n_features),
        feature_names=feature_names,
        aligned_names=tuple(aligned_names),
        n_distances=n_distances,
        **config,
    )


def _weights_of(obj) -> np.ndarray:
    module = getattr(obj, "module", obj)  # a LandslideModel holds its module
    if isinstance(module, LLR):
        return module.linear_weights()
    if isinstance(module, LandslideNet):
        raise ValueError(
            "select_aligned_features needs the weights of an LLR model, got a "
            f"{type(module).__name__}"
        )
    return np.asarray(obj, dtype="float64").reshape(-1)


def select_aligned_features(
    llr_weights,
    names: Sequence[str],
    threshold: float = 0.2,
    max_features: int | None = None,
) -> tuple[str, ...]:
    """Choose the features read at the uphill points, by the paper's rule.

    A feature is chosen when the absolute value of its logistic-regression weight is at
    least ``threshold`` (0.2 in the paper, which selected 22 of 94 features in Veneto).

    Parameters
    ----------
    llr_weights : array-like (F,), LLR module or LandslideModel of an LLR
        The LLR weights, one per feature (on standardised / one-hot features).
    names : sequence of str
        The F feature names, in the order of the weights.
    threshold : float
        Minimum absolute weight.
    max_features : int, optional
        Keep at most this many (the largest absolute weights).

    Returns
    -------
    tuple of str
        The chosen names, in the order of ``names``.

    Notes
    -----
    When no weight reaches ``threshold``, the ``max_features`` largest (default 22, the
    paper's count, or all features if fewer) are taken instead and an
    :class:`~xlandslide.errors.XLandslideWarning` says so.  Ties are broken by feature order.

    Examples
    --------
    >>> select_aligned_features([0.5, -0.1, -0.3], ["slope", "a", "b"])
    ('slope', 'b')
    """
    w = _weights_of(llr_weights)
    names = [str(n) for n in names]
    if w.size != len(names):
        raise ValueError(f"{w.size} weights for {len(names)} feature names")
    if not np.all(np.isfinite(w)):
        raise ValueError("LLR weights must be finite; the regression diverged")
    if max_features is not None and int(max_features) < 1:
        raise ValueError(f"max_features must be a positive integer, got {max_features!r}")
    order = np.argsort(-np.abs(w), kind="stable")
    chosen = [int(i) for i in order if abs(w[i]) >= threshold]
    if not chosen:
        k = min(len(names), PAPER_N_ALIGNED if max_features is None else int(max_features))
        chosen = [int(i) for i in order[:k]]
        warnings.warn(
            f"no LLR weight reaches |w| >= {threshold}; using the {k} largest instead "
            f"(largest |w| = {float(np.abs(w).max()):.3g})",
            XLandslideWarning,
            stacklevel=2,
        )
    elif max_features is not None:
        chosen = chosen[: int(max_features)]
    return tuple(names[i] for i in sorted(chosen))


__all__ = [
    "CNN",
    "LACNN",
    "LANN",
    "LLR",
    "MODELS",
    "NN",
    "PAPER_N_ALIGNED",
    "AlignedGather",
    "LandslideNet",
    "UNet",
    "build_model",
    "canonical_name",
    "model_needs_offsets",
    "nan_to_zero",
    "select_aligned_features",
]
