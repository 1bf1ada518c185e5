"""Choosing the aligned features: the paper's rule on the weights of an LLR.

The paper reads at the uphill points the features whose logistic-regression weight has an
absolute value of at least 0.2 (22 of 94 in Veneto).  :func:`select_aligned_features` is that
step, explicit and public: it trains an LLR on the region's training patches (or takes one)
and applies :func:`rank_aligned` to its weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, XLandslideWarning

#: The paper's number of aligned features (|LLR weight| >= 0.2 selected 22 in Veneto).
PAPER_N_ALIGNED = 22


class AlignedSelection(NamedTuple):
    """What :func:`select_aligned_features` chose, and from what."""

    #: The chosen feature names, in the order of the model's features.
    names: tuple[str, ...]
    #: Every feature's LLR weight (on standardised / one-hot features).
    weights: Mapping[str, float]
    #: The LLR whose weights chose them.
    llr: object


def rank_aligned(
    weights, names: Sequence[str], threshold: float = 0.2, max_features: int | None = None
) -> tuple[str, ...]:
    """The paper's rule: the features whose absolute weight is at least ``threshold``.

    Parameters
    ----------
    weights : array-like (F,)
        LLR weights, one per feature.
    names : sequence of str
        The F feature names, in the order of the weights.
    threshold : float
        Minimum absolute weight (the paper: 0.2).
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
    >>> rank_aligned([0.5, -0.1, -0.3], ["slope", "a", "b"])
    ('slope', 'b')
    """
    w = np.asarray(weights, dtype="float64").reshape(-1)
    names = [str(n) for n in names]
    if w.size != len(names):
        raise ConfigError(f"{w.size} weights for {len(names)} feature names")
    if not np.all(np.isfinite(w)):
        raise ConfigError("LLR weights must be finite; the regression diverged (lower its lr)")
    if max_features is not None and int(max_features) < 1:
        raise ConfigError(f"max_features must be a positive integer, got {max_features!r}")
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


def select_aligned_features(
    region,
    patches,
    *,
    llr=None,
    threshold: float = 0.2,
    max_features: int | None = None,
    config=None,
    progress: bool = True,
    **fit_kwargs,
) -> AlignedSelection:
    """Choose the features read at the uphill points, as the paper does.

    Parameters
    ----------
    region, patches
        As for :func:`xlandslide.fit`.
    llr : LandslideModel, optional
        An LLR already trained on this region; default: train one here
        (``fit(region, "llr", patches=patches, config=config, **fit_kwargs)``).
    threshold, max_features
        See :func:`rank_aligned`.
    config : TrainConfig, optional
        Settings of the LLR (default Table 1's LLR row).

    Returns
    -------
    AlignedSelection
        ``names`` (pass them to ``fit(..., aligned=names)``), ``weights`` by feature and
        the ``llr``.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> sel = xlandslide.select_aligned_features(region, patches, progress=False)
    >>> features = sel.llr.spec.feature_names  # 2 layers + the one-hot classes of 4 groups
    >>> len(features), len(sel.weights), set(sel.names) <= set(features)
    (94, 94, True)
    >>> [n for n in sel.names if n in region.layer]  # the continuous layers chosen
    ['slope', 'dem']
    >>> all(abs(sel.weights[n]) >= 0.2 for n in sel.names), len(sel.names)
    (True, 14)
    >>> xlandslide.select_aligned_features(region, patches, llr=sel.llr, max_features=3).names
    ('slope', 'lithology_alluvium', 'land_cover_agricultural_areas')
    """
    from ..models import find_entry
    from .fit import fit

    if llr is None:
        llr = fit(region, "llr", patches=patches, config=config, progress=progress, **fit_kwargs)
    module = getattr(llr, "module", None)
    entry = find_entry(getattr(llr, "name", None))
    if entry is None or not entry.linear or not hasattr(module, "linear_weights"):
        raise ConfigError(f"llr must be an LLR LandslideModel, got {llr!r}")
    names = llr.spec.feature_names
    w = module.linear_weights()
    chosen = rank_aligned(w, names, threshold=threshold, max_features=max_features)
    return AlignedSelection(chosen, {n: float(v) for n, v in zip(names, w)}, llr)


__all__ = ["AlignedSelection", "rank_aligned", "select_aligned_features"]
