"""Figures: susceptibility maps beside the ground truth, ROC and reliability curves (matplotlib).

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

from .errors import ConfigError, MissingOptionalDependency, ShapeError


def _figure_class():
    try:
        import matplotlib  # noqa: F401  (the package first: a stub of it fails here)
        from matplotlib.figure import Figure
    except ImportError as err:
        raise MissingOptionalDependency(
            "plotting needs matplotlib, which is not installed: "
            "pip install 'xlandslide[plot]' (or matplotlib)"
        ) from err
    return Figure


def _single_axes(ax):
    """``(figure, axes)``: a new 5.5 x 5 inch one-panel figure, or the given axes' own."""
    Figure = _figure_class()
    if ax is None:
        fig = Figure(figsize=(5.5, 5), layout="constrained")
        return fig, fig.subplots()
    return ax.figure, ax


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
            raise ShapeError(
                f"{name} must be a DataArray with dims ('y', 'x'), got "
                f"{getattr(a, 'dims', type(a).__name__)}"
            )
    prob = prob.transpose("y", "x")
    label = label.transpose("y", "x")
    if prob.shape != label.shape:
        raise ShapeError(
            f"prob and label differ in shape: {prob.shape} vs {label.shape}; put them on one "
            "grid (the map of region.landslide.predict is on the region's)"
        )
    factor = max(1, math.ceil(math.sqrt(prob.size / max(int(max_pixels), 1))))
    p = _downsample(prob, factor, "mean").astype(np.float64)
    lab = _downsample(label, factor, "max").astype(np.float64)
    if ax is None:
        fig = Figure(figsize=(11, 5), layout="constrained")
        axes = fig.subplots(1, 2, sharex=True, sharey=True)
    else:
        axes = list(ax)
        if len(axes) != 2:
            raise ConfigError(f"ax must be a pair of Axes, got {len(axes)}")
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


def plot_model_maps(
    maps: dict,
    label: xr.DataArray,
    *,
    window: dict | None = None,
    max_pixels: int = 1_000_000,
    cmap: str = "inferno",
):
    """Every model's map over the whole region and in a zoomed window, beside the truth.

    The layout of the paper's Figures 5 and 6: one row per model and a last row for the
    ground truth; the left column shows the whole region (the window outlined), the right
    column the window at full resolution.  All probability panels share one colour scale.

    Parameters
    ----------
    maps : dict
        ``name -> probability DataArray (y, x)``, all on the grid of ``label``.
    label : DataArray (y, x)
        1 landslide, 0 stable, -1 unknown (blank).
    window : dict, optional
        ``{"y": slice, "x": slice}`` in pixels (``isel``), default the central quarter.
    max_pixels : int
        Whole-region panels larger than this are reduced lazily (see
        :func:`plot_susceptibility`); the window is read at full resolution.
    cmap : str
        Colour map of the probabilities.

    Returns
    -------
    matplotlib.figure.Figure
    """
    Figure = _figure_class()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle

    if not maps:
        raise ConfigError("maps is empty; give at least one name -> probability map")
    label = label.transpose("y", "x")
    for name, a in maps.items():
        if not isinstance(a, xr.DataArray) or set(a.dims) != {"y", "x"}:
            raise ShapeError(f"map {name!r} must be a DataArray with dims ('y', 'x')")
        if a.shape != label.shape:
            raise ShapeError(f"map {name!r} has shape {a.shape}, the label {label.shape}")
    ny, nx = label.shape
    if window is None:
        window = {"y": slice(ny // 4, ny - ny // 4), "x": slice(nx // 4, nx - nx // 4)}
    wy = range(ny)[window.get("y", slice(None))]
    wx = range(nx)[window.get("x", slice(None))]
    if len(wy) == 0 or len(wx) == 0:
        raise ConfigError(
            f"the window {window} holds no pixel of the {ny} x {nx} grid; give pixel slices "
            "inside it, e.g. {'y': slice(0, 100), 'x': slice(0, 100)}"
        )
    win = {"y": slice(wy.start, wy.stop), "x": slice(wx.start, wx.stop)}
    factor = max(1, math.ceil(math.sqrt(label.size / max(int(max_pixels), 1))))
    whole = {k: _downsample(v.transpose("y", "x"), factor, "mean") for k, v in maps.items()}
    zoom = {k: np.asarray(v.transpose("y", "x").isel(win).values) for k, v in maps.items()}
    tops = [np.nanmax(a) for a in (*whole.values(), *zoom.values()) if np.isfinite(a).any()]
    top = max(tops) if tops else 1.0
    truth = (
        np.ma.masked_less(_downsample(label, factor, "max").astype(float), 0),
        np.ma.masked_less(np.asarray(label.isel(win).values, dtype=float), 0),
    )
    truth_kw = {"cmap": ListedColormap(["#d9d9d9", "#d7301f"]), "vmin": 0, "vmax": 1}
    prob_kw = {"cmap": cmap, "vmin": 0.0, "vmax": top or 1.0}
    panels = [(name, (whole[name], zoom[name]), prob_kw) for name in maps]
    panels.append(("ground truth", truth, truth_kw))
    fig = Figure(figsize=(9, 4 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 2, squeeze=False)
    extent = _extent(label)
    zoom_extent = _extent(label.isel(win))
    for r, (name, (full, part), kw) in enumerate(panels):
        im = axes[r, 0].imshow(full, extent=extent, interpolation="nearest", **kw)
        axes[r, 1].imshow(part, extent=zoom_extent, interpolation="nearest", **kw)
        axes[r, 0].set_title(f"{name}: whole region")
        axes[r, 1].set_title(f"{name}: window")
        for ax in axes[r]:  # map coordinates in full, no "+5.1e6" offsets
            ax.ticklabel_format(useOffset=False, style="plain")
            ax.tick_params(labelsize=7)
        if zoom_extent is not None:
            x0, x1, y0, y1 = zoom_extent
            axes[r, 0].add_patch(
                Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="cyan", lw=1.2)
            )
        if r == len(panels) - 2:  # the last probability row: one colour bar for all of them
            fig.colorbar(im, ax=axes[:-1, :], shrink=0.6, label="landslide probability")
    return fig


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


def plot_calibration(results: dict, *, ax=None, title: str | None = None, log: bool = True):
    """Reliability diagram: observed landslide frequency against mean predicted probability.

    Parameters
    ----------
    results : dict
        ``name -> calibration(...)`` results (:func:`xlandslide.calibration`).
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
        ax.plot(pred, freq, marker="o", label=f"{name} (ECE = {r['ece']:.4f})")
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


def save_figure(fig, path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


__all__ = [
    "plot_calibration",
    "plot_model_maps",
    "plot_roc",
    "plot_susceptibility",
    "save_figure",
]
