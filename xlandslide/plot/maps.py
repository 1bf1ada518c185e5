"""Probability maps: a susceptibility map (beside the truth), every model's map over the
whole region and in a zoomed window (the paper's Figures 5-6), and the choice of a window
inside the region's valid data.

Every map panel is decorated by :func:`xlandslide.plot.decor.map_axes` (CRS and units on
the axes, title, scale bar, north arrow); probabilities use a percentile (or log) stretch
with the base rate marked on the colour bar (:mod:`xlandslide.plot.decor`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError, ShapeError
from ._base import _downsample, _extent, _figure_class, reduction_factor
from .decor import base_rate as _base_rate
from .decor import map_axes, probability_colorbar, probability_norm

#: Colours of the ground truth: stable (grey), landslide (red).
TRUTH_COLOURS = ("#d9d9d9", "#d7301f")


def _yx(a, name: str) -> xr.DataArray:
    if not isinstance(a, xr.DataArray) or set(a.dims) != {"y", "x"}:
        raise ShapeError(
            f"{name} must be a DataArray with dims ('y', 'x'), got "
            f"{getattr(a, 'dims', type(a).__name__)}"
        )
    return a.transpose("y", "x")


def _truth_kw() -> dict:
    from matplotlib.colors import ListedColormap

    return {"cmap": ListedColormap(list(TRUTH_COLOURS)), "vmin": 0, "vmax": 1}


def plot_susceptibility(
    prob: xr.DataArray,
    label: xr.DataArray | None = None,
    *,
    ax=None,
    title: str | None = None,
    max_pixels: int = 2_000_000,
    cmap: str = "inferno",
    stretch: str = "percentile",
    percentiles=(2.0, 98.0),
    base_rate: float | None = None,
):
    """The probability map, beside the ground truth when ``label`` is given.

    Parameters
    ----------
    prob : DataArray (y, x)
        Probabilities (NaN: no prediction, blank).
    label : DataArray (y, x), optional
        1 landslide, 0 stable, -1 unknown (blank): drawn in a second panel, and the base
        rate (landslide share of the labelled pixels) is computed from it.
    ax : Axes or pair of Axes, optional
        Where to draw (a pair with ``label``); a new figure otherwise.
    title : str, optional
        Figure title (default "landslide susceptibility").
    max_pixels : int
        Maps larger than this are reduced by an integer factor before drawing — lazily:
        coarsened (mean of probabilities, max of labels) when dask-backed, strided when not —
        so a map larger than memory is never loaded whole.
    cmap : str
        Colour map of the probabilities.
    stretch, percentiles
        Colour scale (:func:`~xlandslide.plot.decor.probability_norm`): linear between the
        2nd and 98th percentiles of the drawn values by default, or ``"log"``, ``"linear"``.
    base_rate : float, optional
        Marked on the colour bar (default: from ``label``; not marked without either).

    Returns
    -------
    matplotlib.figure.Figure
    """
    prob = _yx(prob, "prob")
    panels = 1 if label is None else 2
    if label is not None:
        label = _yx(label, "label")
        if prob.shape != label.shape:
            raise ShapeError(
                f"prob and label differ in shape: {prob.shape} vs {label.shape}; put them on "
                "one grid (the map of region.landslide.predict is on the region's)"
            )
    if ax is None:
        fig = _figure_class()(figsize=(5.5 * panels + 0.5, 5), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, panels, sharex=True, sharey=True))
    else:
        axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
        if len(axes) != panels:
            raise ConfigError(f"ax must be {panels} Axes (one per panel), got {len(axes)}")
        fig = axes[0].figure
    factor = reduction_factor(prob.size, max_pixels)
    p = _downsample(prob, factor, "mean").astype(np.float64)
    if base_rate is None and label is not None:
        base_rate = _base_rate(label)
    norm = probability_norm(p, stretch, percentiles)
    extent = _extent(prob)
    im = axes[0].imshow(p, cmap=cmap, norm=norm, extent=extent, interpolation="nearest")
    probability_colorbar(fig, im, axes[0], base=base_rate)
    shown = f" (1/{factor} resolution)" if factor > 1 else ""
    map_axes(axes[0], prob, title=f"susceptibility{shown}")
    if label is not None:
        lab = np.ma.masked_less(_downsample(label, factor, "max").astype(np.float64), 0)
        axes[1].imshow(lab, extent=extent, interpolation="nearest", **_truth_kw())
        map_axes(axes[1], prob, title="ground truth (red: landslide, blank: unknown)")
    fig.suptitle(title or "landslide susceptibility")
    return fig


def _window_sums(a: np.ndarray, s: int) -> np.ndarray:
    """Sums of ``a`` over every ``s`` x ``s`` window (summed-area table)."""
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    c[1:, 1:] = np.cumsum(np.cumsum(a, axis=0), axis=1)
    return c[s:, s:] - c[:-s, s:] - c[s:, :-s] + c[:-s, :-s]


def _cells(a: xr.DataArray, c: int, how: str) -> np.ndarray:
    """``a`` (float) reduced over ``c`` x ``c`` cells by ``how`` (lazily; NaN-padded)."""
    if c <= 1:
        return np.nan_to_num(np.asarray(a.values, dtype=np.float64))
    a = a if a.chunks is not None else a.chunk({"y": 1024, "x": 1024})
    cells = a.coarsen(y=c, x=c, boundary="pad")
    return np.nan_to_num(np.asarray((cells.max() if how == "max" else cells.sum()).values))


def inside_window(label, maps=(), *, size: int | None = None, max_pixels: int = 250_000):
    """A square pixel window inside the region's data, holding most landslides.

    The region's data are the pixels where every map of ``maps`` is finite (the models
    predict inside the region's boundary), or the labelled pixels (``label >= 0``) without
    maps.  The grid is cut into square cells of a tenth of the window's side (or more,
    to bring it to about ``max_pixels`` cells); a cell holding any data is inside, so
    small holes (a lake, scattered unknown labels) do not push the window away from the
    landslides, while the outside of the boundary does.  Among the windows of side
    ``size`` (default a third of the shorter side), on cell steps, covering the most
    inside cells (all of them where the region allows), the one with most landslide
    pixels is chosen; ties go to the one nearest the centre.  Two lazy reductions.

    Returns
    -------
    dict
        ``{"y": slice, "x": slice}`` of pixel indices (for ``isel``).
    """
    label = _yx(label, "label")
    ny, nx = label.shape
    side = min(int(size) if size else max(2, min(ny, nx) // 3), ny, nx)
    if side < 1:
        raise ConfigError(f"size must be a positive number of pixels, got {size!r}")
    maps = list(maps.values() if isinstance(maps, dict) else maps)
    valid = None if maps else label >= 0
    for m in maps:
        finite = np.isfinite(_yx(m, "map"))
        valid = finite if valid is None else valid & finite
    c = max(reduction_factor(label.size, max_pixels), side // 10, 1)
    ok = _cells(valid.astype(np.float32), c, "max")
    slides = _cells((label == 1).astype(np.float32), c, "sum")
    s = min(-(-side // c), ok.shape[0], ok.shape[1])  # cells covering the window
    share = _window_sums(ok, s) / (s * s)
    count = _window_sums(slides, s)
    score = np.where(share >= share.max() - 1e-9, count, -np.inf)
    i, j = np.mgrid[: share.shape[0], : share.shape[1]]
    centre = -np.hypot(i + s / 2 - ok.shape[0] / 2, j + s / 2 - ok.shape[1] / 2)
    top = score >= score.max() - 1e-9
    r, q = np.unravel_index(np.argmax(np.where(top, centre, -np.inf)), share.shape)
    y0, x0 = min(r * c, ny - side), min(q * c, nx - side)
    return {"y": slice(int(y0), int(y0 + side)), "x": slice(int(x0), int(x0 + side))}


def _check_window(window, ny, nx):
    wy = range(ny)[window.get("y", slice(None))]
    wx = range(nx)[window.get("x", slice(None))]
    if len(wy) == 0 or len(wx) == 0:
        raise ConfigError(
            f"the window {window} holds no pixel of the {ny} x {nx} grid; give pixel slices "
            "inside it, e.g. {'y': slice(0, 100), 'x': slice(0, 100)}"
        )
    return {"y": slice(wy.start, wy.stop), "x": slice(wx.start, wx.stop)}


def plot_model_maps(
    maps: dict,
    label: xr.DataArray,
    *,
    window: dict | None = None,
    max_pixels: int = 1_000_000,
    cmap: str = "inferno",
    stretch: str = "percentile",
    percentiles=(2.0, 98.0),
    base_rate: float | None = None,
    title: str | None = None,
):
    """Every model's map over the whole region and in a zoomed window, beside the truth.

    The layout of the paper's Figures 5 and 6: one row per model and a last row for the
    ground truth; the left column shows the whole region (the window outlined), the right
    column the window at full resolution.  All probability panels share one colour scale
    (``stretch`` of the pooled whole-region values, see :func:`plot_susceptibility`) with
    the base rate (default: from ``label``) marked.

    Parameters
    ----------
    maps : dict
        ``name -> probability DataArray (y, x)``, all on the grid of ``label``.
    label : DataArray (y, x)
        1 landslide, 0 stable, -1 unknown (blank).
    window : dict, optional
        ``{"y": slice, "x": slice}`` in pixels (``isel``); default :func:`inside_window`
        (inside the valid data, most landslides).
    max_pixels : int
        Whole-region panels larger than this are reduced lazily; the window is read at
        full resolution.
    cmap, stretch, percentiles, base_rate, title
        As in :func:`plot_susceptibility`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.patches import Rectangle

    if not maps:
        raise ConfigError("maps is empty; give at least one name -> probability map")
    label = _yx(label, "label")
    for name, a in maps.items():
        a = _yx(a, f"map {name!r}")
        if a.shape != label.shape:
            raise ShapeError(f"map {name!r} has shape {a.shape}, the label {label.shape}")
    ny, nx = label.shape
    win = _check_window(inside_window(label, maps) if window is None else window, ny, nx)
    factor = reduction_factor(label.size, max_pixels)
    whole = {k: _downsample(v.transpose("y", "x"), factor, "mean") for k, v in maps.items()}
    zoom = {k: np.asarray(v.transpose("y", "x").isel(win).values) for k, v in maps.items()}
    norm = probability_norm(
        np.concatenate([a.ravel() for a in whole.values()]), stretch, percentiles
    )
    truth = (
        np.ma.masked_less(_downsample(label, factor, "max").astype(float), 0),
        np.ma.masked_less(np.asarray(label.isel(win).values, dtype=float), 0),
    )
    if base_rate is None:
        base_rate = _base_rate(label)
    panels = [(name, (whole[name], zoom[name]), {"cmap": cmap, "norm": norm}) for name in maps]
    panels.append(("ground truth", truth, _truth_kw()))
    fig = _figure_class()(figsize=(10, 4.2 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 2, squeeze=False)
    extent, zoom_extent = _extent(label), _extent(label.isel(win))
    for r, (name, (full, part), kw) in enumerate(panels):
        im = axes[r, 0].imshow(full, extent=extent, interpolation="nearest", **kw)
        axes[r, 1].imshow(part, extent=zoom_extent, interpolation="nearest", **kw)
        map_axes(axes[r, 0], label, title=f"{name}: whole region")
        map_axes(axes[r, 1], label.isel(win), title=f"{name}: window")
        if zoom_extent is not None:
            x0, x1, y0, y1 = zoom_extent
            axes[r, 0].add_patch(
                Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="cyan", lw=1.2)
            )
        if r == len(panels) - 2:  # the last probability row: one colour bar for all of them
            probability_colorbar(fig, im, axes[:-1, :], base=base_rate)
    if title:
        fig.suptitle(title)
    return fig


__all__ = ["TRUTH_COLOURS", "inside_window", "plot_model_maps", "plot_susceptibility"]
