"""Classed and ensemble maps: the zoning figure (classed map and landslide density per
class), the uncertainty figure (mean and standard deviation), the cross-validation figure
(per-fold ROC curves and the fold map)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ._base import _downsample, _extent, _figure_class, reduction_factor
from .decor import base_rate as _base_rate
from .decor import map_axes, probability_colorbar, probability_norm
from .maps import _yx


def _density_panel(ax, table, colours, names):
    """Horizontal bars of the landslide density of each class (% of its area), highest
    class on top, the frequency ratio written beside each bar and the mean density dashed."""
    density = 100 * table["density"].to_numpy(dtype=float)
    fr = table["frequency_ratio"].to_numpy(dtype=float)
    y = np.arange(len(names))
    ax.barh(y, np.nan_to_num(density), color=colours, edgecolor="0.3")
    ax.set_yticks(y, names, fontsize=8)
    pixels = table["pixels"].to_numpy(dtype=float).sum()
    if pixels > 0:
        mean = 100 * table["landslide_pixels"].to_numpy(dtype=float).sum() / pixels
        ax.axvline(mean, color="0.2", ls="--", lw=1, label=f"whole map: {mean:.3g} %")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    top = np.nanmax(density) if np.isfinite(density).any() else 1.0
    for yi, d, r in zip(y, density, fr):
        if np.isfinite(d) and np.isfinite(r):
            ax.text(d + 0.02 * top, yi, f"FR {r:.2f}", va="center", fontsize=7)
    ax.set_xlim(0, 1.25 * top if top > 0 else 1.0)
    ax.set_xlabel("landslide density (% of the class's area)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title("landslides per class", fontsize=10)


def plot_zoning(
    classes: xr.DataArray,
    *,
    table=None,
    ax=None,
    title: str | None = None,
    max_pixels: int = 2_000_000,
):
    """The zoning map with its class legend and, given ``table``, the landslide density of
    every class beside it.

    Parameters
    ----------
    classes : DataArray (y, x) uint8
        From :func:`xlandslide.zoning` (255: no data, blank).
    table : DataFrame, optional
        :func:`xlandslide.zoning_table` of the map: the legend gives each class's % of
        area and of landslides, and a bar panel its landslide density (with the frequency
        ratio and the whole map's density).
    ax : Axes, optional
        The map's axes (the density panel is then not drawn).
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

    classes = _yx(classes, "classes")
    names = list(classes.attrs.get("class_names", ()))
    if not names:
        raise ConfigError("the class map has no class names; make it with xlandslide.zoning")
    factor = reduction_factor(classes.size, max_pixels)
    step = {"y": slice(None, None, factor), "x": slice(None, None, factor)}
    codes = np.asarray(classes.isel(step).values)
    colours = np.array(class_colours(len(names))) / 255.0
    if ax is None:
        fig = _figure_class()(figsize=(11 if table is not None else 7, 5), layout="constrained")
        if table is not None:
            ax, bars = fig.subplots(1, 2, width_ratios=[2.2, 1])
        else:
            ax, bars = fig.subplots(), None
    else:
        fig, bars = ax.figure, None
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
        fontsize=7,
        title="susceptibility class",
        title_fontsize=8,
        frameon=False,
    )
    method = classes.attrs.get("method")
    map_axes(ax, classes, title=f"zones ({method} breaks)" if method else "zones")
    if bars is not None:
        _density_panel(bars, table, colours, names)
    fig.suptitle(title or "landslide susceptibility zoning")
    return fig


def _member_names(members) -> str | None:
    """The members' model names, each once with its count (``"3 x llr, nn"``), from the
    attrs of :func:`xlandslide.uncertainty_map` (a list of ``{"name", "weights_sha1"}``, or
    its JSON text as a GeoTIFF tag holds it) or a plain name."""
    import json
    from collections import Counter

    if isinstance(members, str):
        try:
            members = json.loads(members)
        except ValueError:
            return members
    if members is None or not isinstance(members, (list, tuple)):
        return None if members is None else str(members)
    names = Counter(m.get("name", "?") if isinstance(m, dict) else str(m) for m in members)
    return ", ".join(f"{k} x {name}" if k > 1 else name for name, k in names.items())


def plot_uncertainty(
    uncertainty: xr.Dataset,
    *,
    label: xr.DataArray | None = None,
    base_rate: float | None = None,
    title: str | None = None,
    max_pixels: int = 1_000_000,
    cmap: str = "inferno",
    percentiles=(2.0, 98.0),
):
    """Mean (left) and standard deviation (right) of an ensemble's maps, side by side.

    ``uncertainty``: :func:`xlandslide.uncertainty_map` (``mean`` and ``std``).  Both
    panels use a percentile stretch (2nd-98th by default); the mean's colour bar marks the
    base rate (given, or from ``label``).  Large maps are coarsened lazily (mean).  The
    title names the members (attrs ``members``, else ``model``) and their number.
    """
    for v in ("mean", "std"):
        if v not in uncertainty:
            raise ConfigError("give xlandslide.uncertainty_map(...): a Dataset of mean and std")
    mean = _yx(uncertainty["mean"], "mean")
    std = _yx(uncertainty["std"], "std")
    if base_rate is None and label is not None:
        base_rate = _base_rate(_yx(label, "label"))
    factor = reduction_factor(mean.size, max_pixels)
    fig = _figure_class()(figsize=(12, 5), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    extent = _extent(mean)
    shown = f" (1/{factor} resolution)" if factor > 1 else ""
    panels = [
        (mean, cmap, f"mean susceptibility{shown}", "mean landslide probability (%)", base_rate),
        (std, "viridis", f"standard deviation{shown}", "sd of the probability (% points)", None),
    ]
    for ax, (a, cm, name, unit, base) in zip(axes, panels):
        values = _downsample(a, factor, "mean").astype(np.float64)
        norm = probability_norm(values, "percentile", percentiles)
        im = ax.imshow(values, cmap=cm, norm=norm, extent=extent, interpolation="nearest")
        probability_colorbar(fig, im, ax, base=base, label=unit)
        map_axes(ax, mean, title=name)
    attrs = uncertainty.attrs
    n = attrs.get("n_members")
    members = _member_names(attrs.get("members") or attrs.get("model"))
    what = f"ensemble of {n} models" if n else "ensemble"
    fig.suptitle(title or (f"{what} ({members})" if members else what))
    return fig


#: Colours of up to 10 folds (matplotlib's tab10).
FOLD_CMAP = "tab10"


def plot_folds(folds, like=None, *, ax=None, title: str | None = None, max_pixels=1_000_000):
    """The fold map of :class:`~xlandslide.SpatialFolds`: every pixel coloured by its
    fold (blank: in no fold), landslide pixels of ``like``'s ``label`` in black.

    ``like``: the region (or a map on its grid) giving coordinates, CRS and labels.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ids = folds.fold_ids(like)
    if folds.crs and ids.rio.crs is None:
        ids = ids.rio.write_crs(folds.crs)
    factor = reduction_factor(ids.size, max_pixels)
    step = {"y": slice(None, None, factor), "x": slice(None, None, factor)}
    codes = np.asarray(ids.isel(step).values).astype(float)
    if ax is None:
        fig = _figure_class()(figsize=(6.5, 5), layout="constrained")
        ax = fig.subplots()
    fig = ax.figure
    from matplotlib import colormaps

    colours = [colormaps[FOLD_CMAP](i % 10) for i in range(folds.k)]
    extent = _extent(ids)
    ax.imshow(
        np.ma.masked_less(codes, 0),
        cmap=ListedColormap(colours),
        vmin=-0.5,
        vmax=folds.k - 0.5,
        alpha=0.75,
        extent=extent,
        interpolation="nearest",
    )
    handles = [Patch(facecolor=c, alpha=0.75, label=f"fold {i + 1}") for i, c in enumerate(colours)]
    label = like["label"] if isinstance(like, xr.Dataset) and "label" in like else None
    if label is not None:
        slides = _downsample((_yx(label, "label") == 1).astype(np.float32), factor, "mean") > 0
        ax.imshow(
            np.ma.masked_where(~slides, slides.astype(float)),
            cmap=ListedColormap(["k"]),
            extent=extent,
            interpolation="nearest",
        )
        handles.append(Patch(facecolor="k", label="landslide"))
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=7, frameon=False
    )
    buffer = f", buffer {folds.buffer:g} m" if folds.buffer else ""
    map_axes(ax, ids, title=title or f"{folds.method} folds (k = {folds.k}{buffer})")
    return fig


def plot_cv(result, like=None, *, model: str | None = None, title: str | None = None):
    """The cross-validation figure: the ROC curve of every fold (left) beside the fold map
    (right) of :func:`xlandslide.cross_validate`'s ``result``; ``like`` as in
    :func:`plot_folds`, ``model`` one of the result's models (default its first)."""
    from .curves import plot_cv_roc

    fig = _figure_class()(figsize=(12, 5.2), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.25])
    plot_cv_roc(result, model=model, ax=left)
    left.title.set_fontsize(9)
    plot_folds(result.folds, like, ax=right)
    fig.suptitle(title or "spatial cross-validation")
    return fig


__all__ = ["FOLD_CMAP", "plot_cv", "plot_folds", "plot_uncertainty", "plot_zoning"]
