"""Importance bars of the inputs present in the region: LLR weights or permutation
importance, the classes absent from the region left out, bars coloured by group and
hatched when negative, with a legend for both."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ._base import _figure_class

#: Colour of the continuous layers' bars; the groups take matplotlib's tab10 after it.
CONTINUOUS_COLOUR = "#7f7f7f"
#: Hatch of the negative bars.
NEGATIVE_HATCH = "////"


def class_presence(region):
    """Pixels of every class of every categorical group of ``region`` (one lazy pass).

    Returns
    -------
    pandas.DataFrame
        ``feature`` (the one-hot name ``f"{group}_{class}"``), ``group``, ``class`` and
        ``pixels``; a class absent from the region has 0 pixels.
    """
    import dask
    import pandas as pd

    from ..evaluate._histogram import reduce_blocks, unified
    from ..region import feature_layout

    layout = feature_layout(region)
    rows = {"feature": [], "group": [], "class": []}
    tasks = []
    for g, classes in layout.groups:
        codes = region["categorical"].sel(group=g).transpose("y", "x")
        vec = reduce_blocks(_class_counts, unified([codes]), 256, f"xlandslide-presence-{g}")
        tasks.append(vec.sum(axis=(0, 1)))
        for c in classes:
            rows["feature"].append(f"{g}_{c}")
            rows["group"].append(g)
            rows["class"].append(c)
    counts = dask.compute(*tasks)
    pixels = [
        int(n[i]) for n, (_, classes) in zip(counts, layout.groups) for i in range(len(classes))
    ]
    return pd.DataFrame({**rows, "pixels": pixels})


def _class_counts(codes):
    return np.bincount(np.asarray(codes, dtype=np.int64).ravel(), minlength=256)[:256].astype(float)


def _rows(table, value):
    """(names, values, xlabel) of an importance or weights table."""
    if "importance" in table.columns:
        names, vals = table["name"].tolist(), table["importance"].to_numpy(dtype=float)
        xlabel = value or "importance: drop of the held-out score when shuffled"
    elif "weight" in table.columns:
        names, vals = table["feature"].tolist(), table["weight"].to_numpy(dtype=float)
        xlabel = value or "LLR weight (standardised layers, 0/1 class indicators)"
    else:
        raise ConfigError("give permutation_importance(...) or llr_weights(...) tables")
    return names, vals, xlabel


def _presence(presence):
    """``feature -> (group, pixels)`` from a :func:`class_presence` table or a region."""
    if presence is None:
        return {}
    if hasattr(presence, "data_vars"):  # a region
        presence = class_presence(presence)
    if hasattr(presence, "columns"):
        if not {"feature", "pixels"} <= set(presence.columns):
            raise ConfigError("presence needs the columns feature and pixels (class_presence)")
        groups = presence["group"] if "group" in presence.columns else [None] * len(presence)
        return {f: (g, int(n)) for f, g, n in zip(presence["feature"], groups, presence["pixels"])}
    return {str(f): (None, int(n)) for f, n in dict(presence).items()}


def plot_importance(
    table,
    *,
    presence=None,
    ax=None,
    title: str | None = None,
    value: str | None = None,
    max_bars: int = 30,
):
    """Horizontal bars of an importance table (largest on top, error bars: the sd), of
    the inputs present in the region only.

    Parameters
    ----------
    table : DataFrame
        :func:`xlandslide.permutation_importance` (``name``, ``kind``, ``importance``,
        ``sd``) or :func:`xlandslide.llr_weights` (``feature``, ``weight``, ``sd``).
    presence : DataFrame, Dataset or mapping, optional
        Which classes the region holds: :func:`class_presence`'s table, the region itself
        (counted in one pass), or ``{one-hot name: pixels}``.  Rows of classes with 0
        pixels are not drawn (the title says how many); rows not listed are kept.
    ax : Axes, optional
    title : str, optional
    value : str, optional
        The x axis label.
    max_bars : int
        At most this many bars, the first rows of the table (it is sorted by importance).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    A bar's colour is its group (grey: a continuous layer; a permutation table's group
    rows take their group's colour), a hatched bar is negative; the legend gives both.
    """
    from matplotlib import colormaps
    from matplotlib.patches import Patch

    names, vals, xlabel = _rows(table, value)
    sd = table["sd"].to_numpy(dtype=float) if "sd" in table.columns else np.zeros(len(names))
    kinds = table["kind"].tolist() if "kind" in table.columns else ["feature"] * len(names)
    present = _presence(presence)
    keep = [i for i, n in enumerate(names) if present.get(n, (None, 1))[1] > 0]
    absent = len(names) - len(keep)
    keep = keep[: int(max_bars)]
    group_of = [
        present.get(names[i], (None, 0))[0] or (names[i] if kinds[i] == "group" else None)
        for i in keep
    ]
    groups = list(dict.fromkeys(g for g in group_of if g is not None))
    palette = {g: colormaps["tab10"](k % 10) for k, g in enumerate(groups)}
    if ax is None:
        fig = _figure_class()(figsize=(7, 1.2 + 0.28 * max(len(keep), 3)), layout="constrained")
        ax = fig.subplots()
    fig = ax.figure
    y = np.arange(len(keep))[::-1]
    v = vals[keep]
    bars = ax.barh(
        y,
        v,
        xerr=sd[keep],
        color=[palette.get(g, CONTINUOUS_COLOUR) for g in group_of],
        edgecolor="0.25",
        capsize=2,
        error_kw={"lw": 0.8},
    )
    for bar, x in zip(bars, v):
        if x < 0:
            bar.set_hatch(NEGATIVE_HATCH)
    ax.set_yticks(y, [names[i] for i in keep], fontsize=7)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel(xlabel, fontsize=8)
    handles = (
        [Patch(facecolor=CONTINUOUS_COLOUR, label="continuous layer")] if None in group_of else []
    )
    handles += [Patch(facecolor=palette[g], label=f"group: {g}") for g in groups]
    handles += [
        Patch(facecolor="white", edgecolor="0.25", label="positive"),
        Patch(facecolor="white", edgecolor="0.25", hatch=NEGATIVE_HATCH, label="negative"),
    ]
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=7, frameon=False
    )
    notes = (
        [f"{absent} class{'es' if absent != 1 else ''} absent from the region not shown"]
        if absent
        else []
    )
    if len(names) - absent > len(keep):
        notes.append(f"the top {len(keep)} of {len(names) - absent}")
    head = title or "importance"
    ax.set_title(head + (f"\n({'; '.join(notes)})" if notes else ""), fontsize=10)
    return fig


__all__ = ["CONTINUOUS_COLOUR", "NEGATIVE_HATCH", "class_presence", "plot_importance"]
