"""Map figures: a susceptibility map beside the truth, all models in a zoomed window (the
paper's Figures 5-6), the zoning map with its classed legend, the uncertainty map."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ..errors import ConfigError, ShapeError
from ._base import _downsample, _extent, _figure_class, map_axes, reduction_factor


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
    for a in axes:
        map_axes(a, prob)
    if factor > 1:
        axes[0].set_title(f"susceptibility (shown at 1/{factor} resolution)")
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


def _check_map(a, name):
    if not isinstance(a, xr.DataArray) or set(a.dims) != {"y", "x"}:
        raise ShapeError(f"{name} must be a DataArray with dims ('y', 'x')")
    return a.transpose("y", "x")


def plot_zoning(
    classes: xr.DataArray,
    *,
    table=None,
    ax=None,
    title: str | None = None,
    max_pixels: int = 2_000_000,
):
    """The zoning map with a classed legend (class names and colours; area and landslides).

    Parameters
    ----------
    classes : DataArray (y, x) uint8
        From :func:`xlandslide.zoning` (255: no data, blank).
    table : DataFrame, optional
        :func:`xlandslide.zoning_table` of the map: the legend then gives each class's % of
        area and % of landslides.
    ax : Axes, optional
    title : str, optional
    max_pixels : int
        Larger maps are read strided (every k-th pixel: classes are not averaged).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from ..io.classed import class_colours
    from ._base import _single_axes

    classes = _check_map(classes, "classes")
    names = list(classes.attrs.get("class_names", ()))
    if not names:
        raise ConfigError("the class map has no class names; make it with xlandslide.zoning")
    factor = reduction_factor(classes.size, max_pixels)
    step = {"y": slice(None, None, factor), "x": slice(None, None, factor)}
    codes = np.asarray(classes.isel(step).values)
    colours = np.array(class_colours(len(names))) / 255.0
    fig, ax = _single_axes(ax)
    shown = np.ma.masked_greater_equal(codes.astype(float), len(names))
    ax.imshow(
        shown,
        cmap=ListedColormap(colours),
        vmin=-0.5,
        vmax=len(names) - 0.5,
        extent=_extent(classes),
        interpolation="nearest",
    )
    handles = []
    for i, name in enumerate(names):
        label = name
        if table is not None:
            row = table.iloc[i]
            label = f"{name}: {row['area_pct']:.1f} % area, {row['landslide_pct']:.1f} % slides"
        handles.append(Patch(facecolor=colours[i], edgecolor="0.3", label=label))
    ax.legend(
        handles=handles[::-1],
        loc="upper left",
        bbox_to_anchor=(1.02, 1),
        fontsize=8,
        title="susceptibility",
        title_fontsize=8,
        frameon=False,
    )
    map_axes(ax, classes)
    method = classes.attrs.get("method")
    ax.set_title(title or (f"susceptibility zones ({method})" if method else "susceptibility"))
    return fig


def plot_uncertainty(
    uncertainty: xr.Dataset,
    *,
    title: str | None = None,
    max_pixels: int = 1_000_000,
    cmap: str = "inferno",
):
    """Mean (left) and standard deviation (right) of an ensemble's maps.

    ``uncertainty``: :func:`xlandslide.uncertainty_map` (``mean`` and ``std``).  Large maps
    are coarsened lazily (mean) before drawing.
    """
    Figure = _figure_class()
    for v in ("mean", "std"):
        if v not in uncertainty:
            raise ConfigError("give xlandslide.uncertainty_map(...): a Dataset of mean and std")
    mean = _check_map(uncertainty["mean"], "mean")
    std = _check_map(uncertainty["std"], "std")
    factor = reduction_factor(mean.size, max_pixels)
    panels = [
        (_downsample(mean, factor, "mean"), "mean susceptibility", cmap),
        (_downsample(std, factor, "mean"), "standard deviation over the models", "viridis"),
    ]
    fig = Figure(figsize=(11, 5), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    extent = _extent(mean)
    for ax, (a, label, cm) in zip(axes, panels):
        finite = np.isfinite(a)
        top = float(np.nanmax(a)) if finite.any() else 1.0
        im = ax.imshow(
            a, cmap=cm, vmin=0.0, vmax=top or 1.0, extent=extent, interpolation="nearest"
        )
        fig.colorbar(im, ax=ax, shrink=0.8, label=label)
        map_axes(ax, mean)
        ax.set_title(label)
    n = uncertainty.attrs.get("n_members")
    fig.suptitle(title or (f"ensemble of {n} models" if n else "ensemble"))
    return fig
