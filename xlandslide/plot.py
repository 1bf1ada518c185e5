"""Figures: susceptibility maps beside the ground truth, ROC curves (matplotlib, optional).

matplotlib is imported inside the functions; without it they raise
:class:`~xlandslide.errors.MissingOptionalDependency`.  Figures are built with the
object-oriented API (``matplotlib.figure.Figure``, no pyplot state, no ``show``), so they
work with the Agg backend on headless machines; write them with :func:`save_figure`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import MissingOptionalDependency


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise MissingOptionalDependency(
            "plotting needs matplotlib, which is not installed: pip install matplotlib"
        ) from err
    return Figure


def _downsample(a: xr.DataArray, factor: int, how: str) -> np.ndarray:
    """``a`` reduced by ``factor`` on y and x without loading it whole.

    dask-backed: a lazy ``coarsen`` (mean for probabilities, max for labels) then compute;
    otherwise every ``factor``-th pixel (a strided read of a lazily indexed store).
    """
    if factor <= 1:
        return np.asarray(a.values)
    if a.chunks is not None:
        c = a.coarsen(y=factor, x=factor, boundary="pad")
        return np.asarray((c.mean() if how == "mean" else c.max()).values)
    return np.asarray(a.isel(y=slice(None, None, factor), x=slice(None, None, factor)).values)


def _extent(a: xr.DataArray):
    if "x" not in a.coords or "y" not in a.coords or a.sizes["x"] < 2 or a.sizes["y"] < 2:
        return None
    x = a["x"].values
    y = a["y"].values
    dx = (x[-1] - x[0]) / (x.size - 1)
    dy = (y[-1] - y[0]) / (y.size - 1)
    return (x[0] - dx / 2, x[-1] + dx / 2, y[-1] + dy / 2, y[0] - dy / 2)


def plot_susceptibility(
    prob: xr.DataArray,
    label: xr.DataArray,
    *,
    ax=None,
    title: str | None = None,
    max_pixels: int = 2_000_000,
    cmap: str = "inferno",
    vmax: float | None = None,
):
    """The probability map (left) beside the ground truth (right).

    Parameters
    ----------
    prob, label : DataArray (y, x)
        Probabilities and labels (1 landslide, 0 stable, -1 unknown, shown blank).
    ax : pair of Axes, optional
        Where to draw; a new two-panel figure otherwise.
    title : str, optional
        Figure title.
    max_pixels : int
        Maps larger than this are reduced by an integer factor before drawing — lazily:
        coarsened (mean of probabilities, max of labels) when dask-backed, strided when not —
        so a map larger than memory is never loaded whole.
    cmap, vmax
        Colour map and upper limit of the probability panel (default its maximum).

    Returns
    -------
    matplotlib.figure.Figure
    """
    Figure = _figure_class()
    from matplotlib.colors import ListedColormap

    for name, a in (("prob", prob), ("label", label)):
        if not isinstance(a, xr.DataArray) or set(a.dims) != {"y", "x"}:
            raise ValueError(f"{name} must be a DataArray with dims ('y', 'x')")
    prob = prob.transpose("y", "x")
    label = label.transpose("y", "x")
    if prob.shape != label.shape:
        raise ValueError(f"prob and label differ in shape: {prob.shape} vs {label.shape}")
    factor = max(1, math.ceil(math.sqrt(prob.size / max(int(max_pixels), 1))))
    p = _downsample(prob, factor, "mean").astype(np.float64)
    lab = _downsample(label, factor, "max").astype(np.float64)
    if ax is None:
        fig = Figure(figsize=(11, 5), layout="constrained")
        axes = fig.subplots(1, 2, sharex=True, sharey=True)
    else:
        axes = list(ax)
        if len(axes) != 2:
            raise ValueError(f"ax must be a pair of Axes, got {len(axes)}")
        fig = axes[0].figure
    extent = _extent(prob)
    top = vmax if vmax is not None else (np.nanmax(p) if np.isfinite(p).any() else 1.0)
    im = axes[0].imshow(
        p, cmap=cmap, vmin=0.0, vmax=top or 1.0, extent=extent, interpolation="nearest"
    )
    fig.colorbar(im, ax=axes[0], shrink=0.8, label="landslide probability")
    axes[0].set_title("susceptibility")
    truth = np.ma.masked_less(lab, 0)
    axes[1].imshow(
        truth,
        cmap=ListedColormap(["#d9d9d9", "#d7301f"]),
        vmin=0,
        vmax=1,
        extent=extent,
        interpolation="nearest",
    )
    axes[1].set_title("ground truth (red: landslide)")
    if factor > 1:
        axes[0].set_xlabel(f"shown at 1/{factor} resolution")
    if title:
        fig.suptitle(title)
    return fig


def _as_curve(value):
    """(fpr, tpr, auc or None) from a tuple or an :func:`~xlandslide.evaluate` dict."""
    if isinstance(value, dict):
        if "fpr" not in value or "tpr" not in value:
            raise ValueError("a result dict needs 'fpr' and 'tpr'; call evaluate(..., roc=True)")
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
    Figure = _figure_class()
    if ax is None:
        fig = Figure(figsize=(5.5, 5), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
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


def save_figure(fig, path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


__all__ = ["plot_roc", "plot_susceptibility", "save_figure"]
