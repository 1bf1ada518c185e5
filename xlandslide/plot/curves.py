"""Curve and bar figures: ROC curves (all models, or per fold), reliability diagram,
success / prediction-rate curves, GAM partial effects; calibration with quantile bins."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ._base import _figure_class, _single_axes


def _as_curve(value):
    """(fpr, tpr, auc or None) from a tuple or an :func:`~xlandslide.evaluate` dict."""
    if isinstance(value, dict):
        if "fpr" not in value or "tpr" not in value:
            raise ConfigError("a result dict needs 'fpr' and 'tpr'; call evaluate(..., roc=True)")
        return np.asarray(value["fpr"]), np.asarray(value["tpr"]), value.get("auc")
    fpr, tpr = value[0], value[1]
    return np.asarray(fpr), np.asarray(tpr), None


def plot_roc(curves: dict, *, naive: bool = True, ax=None, title: str | None = None):
    """ROC curves of several models on one plot, their AUC in the legend.

    Parameters
    ----------
    curves : dict
        ``name -> (fpr, tpr[, thresholds])`` (as from :func:`xlandslide.roc_curve`) or
        ``name -> evaluate(..., roc=True)`` results.  The AUC shown is the result's ``auc``
        when given, else the trapezoid area under the points.
    naive : bool
        Draw the diagonal of the Naive (constant) model, AUC 0.5.
    ax : Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _single_axes(ax)
    for name, value in curves.items():
        fpr, tpr, auc = _as_curve(value)
        if auc is None or not np.isfinite(auc):
            auc = float(np.trapezoid(tpr, fpr))
        ax.plot(fpr, tpr, label=f"{name} (AUC = {auc:.3f})")
    if naive:
        ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", label="Naive (AUC = 0.500)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title)
    return fig


def quantile_edges(prob, label, mask=None, *, n_bins: int = 10) -> np.ndarray:
    """Bin edges from 0 to 1 that split the evaluated pixels into ``n_bins`` bins of equal
    counts (within one pixel where no two probabilities tie).

    Evaluated pixels: labelled, ``mask`` True, probability not NaN (as in
    :func:`xlandslide.calibration`).  The inner edges are the probabilities of rank
    ``round(i * N / n_bins)`` (exact up to 5e7 pixels, one histogram pass above, see
    :func:`xlandslide.evaluate.zoning.zoning_breaks`); repeated edges (ties) are merged, so
    fewer bins can come back.
    """
    from ..evaluate._histogram import prepare
    from ..evaluate.zoning import zoning_breaks

    n = int(n_bins)
    if n != n_bins or n < 2:
        raise ConfigError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    prob, label, mask = prepare(prob, label, mask)
    evaluated = label >= 0
    if mask is not None:
        evaluated = evaluated & mask
    inner = zoning_breaks(prob, "quantile", n, mask=evaluated)
    edges = np.unique(np.clip(np.concatenate([[0.0], inner, [1.0]]), 0.0, 1.0))
    return edges if edges[0] == 0.0 else np.concatenate([[0.0], edges])


def quantile_calibration(prob, label, mask=None, *, n_bins: int = 10) -> dict:
    """:func:`xlandslide.calibration` on :func:`quantile_edges`: ``n_bins`` points of equal
    counts, so a map of rare landslides is not one point in the first uniform bin."""
    from ..evaluate.calibration import calibration

    return calibration(prob, label, mask, bins=quantile_edges(prob, label, mask, n_bins=n_bins))


def plot_calibration(results: dict, *, ax=None, title: str | None = None, log: bool = True):
    """Reliability diagram: observed landslide frequency against mean predicted probability.

    Parameters
    ----------
    results : dict
        ``name -> calibration(...)`` results: :func:`quantile_calibration` (bins of equal
        counts, recommended) or :func:`xlandslide.calibration`.
    ax : Axes, optional
    title : str, optional
    log : bool
        Logarithmic axes (default): susceptibilities crowd near 0, where a linear plot
        shows nothing.  Bins with an observed frequency of 0 are then drawn at the bottom.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = _single_axes(ax)
    lows = []
    for name, r in results.items():
        pred = np.asarray(r["mean_predicted"], dtype=np.float64)
        freq = np.asarray(r["observed_frequency"], dtype=np.float64)
        ok = np.isfinite(pred) & np.isfinite(freq)
        pred, freq = pred[ok], freq[ok]
        if log:
            positive = np.concatenate([pred[pred > 0], freq[freq > 0]])
            lows.append(positive.min() if positive.size else 1e-3)
        ax.plot(pred, freq, marker="o", ms=4, label=f"{name} (ECE = {r['ece']:.4f})")
    lo = 0.0
    if log:
        lo = 10 ** math.floor(math.log10(min(lows))) if lows else 1e-3
        ax.set_xscale("log")
        ax.set_yscale("log")
        for line in ax.get_lines():  # zero frequencies at the bottom edge
            y = np.asarray(line.get_ydata(), dtype=np.float64)
            line.set_ydata(np.where(y > 0, y, lo))
    ax.plot([lo, 1], [lo, 1], linestyle="--", color="0.5", label="perfect calibration")
    ax.set_xlim(lo, 1)
    ax.set_ylim(lo, 1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed landslide frequency")
    ax.legend(loc="upper left")
    if title:
        ax.set_title(title)
    return fig


def plot_cv_roc(result, *, model: str | None = None, ax=None, title: str | None = None):
    """ROC curve of every fold of a cross-validation (and their AUCs in the legend).

    ``result``: :func:`xlandslide.cross_validate`'s result; ``model`` selects one of its
    models (default its first).  One line per fold, the diagonal of a random map.
    """
    fig, ax = _single_axes(ax)
    names = list(result.curves)
    name = names[0] if model is None else model
    if name not in result.curves:
        raise ConfigError(f"no model {name!r} in this result; it holds {names}")
    t = result.table[result.table.model == name]
    for f, (fpr, tpr) in enumerate(result.curves[name]):
        auc = float(t[t.fold == f]["auc"].iloc[0])
        ax.plot(fpr, tpr, lw=1.2, label=f"fold {f + 1} (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.5", label="random (AUC = 0.500)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    method = result.settings.get("method", "")
    ax.set_title(title or f"{name}: ROC on the held-out pixels of each {method} fold")
    return fig


def plot_rate_curves(curves: dict, *, ax=None, title: str | None = None):
    """Success- and prediction-rate curves: % of landslides against % of area.

    ``curves``: ``label -> xlandslide.rate_curve(...)`` (e.g. ``{"success (training
    labels)": ..., "prediction (held-out labels)": ...}``); the area under each curve is in
    the legend.
    """
    fig, ax = _single_axes(ax)
    for label, c in curves.items():
        ax.plot(
            100 * np.asarray(c["area_fraction"]),
            100 * np.asarray(c["landslide_fraction"]),
            label=f"{label} (AUC = {c['auc']:.3f})",
        )
    ax.plot([0, 100], [0, 100], linestyle="--", color="0.5", label="random (AUC = 0.500)")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_aspect("equal")
    ax.set_xlabel("area ranked by susceptibility, high to low (%)")
    ax.set_ylabel("landslide pixels (%)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "success and prediction rates")
    return fig


def plot_partial_effects(effects, *, title: str | None = None):
    """The GAM's partial effects: one panel per continuous layer, its spline term's
    contribution to the logit (centred on the training pixels) against the layer's value.

    ``effects``: the ``"effects"`` table of :func:`xlandslide.evaluate.importance.
    model_tables` (columns ``layer``, ``x``, ``effect``).
    """
    Figure = _figure_class()
    layers = list(dict.fromkeys(effects["layer"]))
    if not layers:
        raise ConfigError("no partial effect to draw: the table is empty")
    n = len(layers)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.6 * cols, 3.0 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, layer in zip(axes, layers):
        part = effects[effects["layer"] == layer]
        ax.plot(part["x"], part["effect"])
        ax.axhline(0.0, color="0.6", linewidth=0.8)
        ax.set_xlabel(f"{layer} (standardised)")
        ax.set_ylabel("effect on the logit")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title or "GAM partial effects")
    return fig
