"""Map decorations: axes in the CRS's units with the CRS named, readable ticks, a scale bar,
a north arrow, and the colour scale of probabilities (a percentile or log stretch, the base
rate marked on the colour bar).

The scale bar is matplotlib-scalebar's ``ScaleBar`` (the ``plot`` extra) when it is
installed, else matplotlib's ``AnchoredSizeBar`` with a round length (1, 2 or 5 x 10^k
metres); both carry ``gid="scale-bar"``.  The north arrow is an annotation with
``gid="north-arrow"`` pointing up the map: grid north of a projected CRS (the few tenths of
a degree of meridian convergence of a UTM zone are not drawn).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ._base import crs_name

#: Probability stretches of :func:`probability_norm`.
STRETCHES = ("percentile", "log", "linear")
#: Metres per degree of latitude (mean Earth radius 6371 km).
METRES_PER_DEGREE = math.pi * 6_371_000.0 / 180.0


def _crs(a):
    try:
        import rioxarray  # noqa: F401

        return a.rio.crs
    except Exception:  # no grid mapping
        return None


def axis_units(a) -> dict:
    """How to label the axes of map ``a``: names, unit, display scale, metres per unit.

    Returns a dict with ``x``/``y`` (axis names: Easting/Northing, Longitude/Latitude or
    x/y), ``unit`` (shown), ``scale`` (map units per shown unit: 1000 for km), ``crs`` (its
    name or None) and ``metres`` (metres per map unit, None when unknown).
    """
    crs = _crs(a)
    name = crs_name(a)
    if crs is not None and crs.is_geographic:
        lat = float(np.mean(a["y"].values)) if "y" in a.coords else 0.0
        metres = METRES_PER_DEGREE * math.cos(math.radians(lat))
        return {
            "x": "Longitude",
            "y": "Latitude",
            "unit": "°",
            "scale": 1.0,
            "crs": name,
            "metres": metres,
        }
    unit, metres = "map units", None
    if crs is not None:
        linear = str(getattr(crs, "linear_units", "") or "").lower()
        factor = getattr(crs, "linear_units_factor", None)
        if linear in ("metre", "meter", "m", "metres", "meters"):
            unit, metres = "m", 1.0
        elif factor:
            unit, metres = factor[0], float(factor[1])
    elif "x" in a.coords and a["x"].attrs.get("units") in ("m", "metre", "meter"):
        unit, metres = "m", 1.0
    scale = 1.0
    if unit == "m" and "x" in a.coords and a.sizes.get("x", 0) > 1:
        x = a["x"].values
        span = abs(float(x[-1] - x[0])) * a.sizes["x"] / (a.sizes["x"] - 1)
        if span >= 2000:
            unit, scale = "km", 1000.0
    names = ("Easting", "Northing") if crs is not None else ("x", "y")
    return {
        "x": names[0],
        "y": names[1],
        "unit": unit,
        "scale": scale,
        "crs": name,
        "metres": metres,
    }


def exact_decimals(values, most: int = 6) -> int:
    """The fewest decimals that write every one of ``values`` exactly (at most ``most``):
    ticks at 700, 702.5, 705 km need one, so that 702.5 is not printed as "702".

    >>> exact_decimals([700.0, 702.5, 705.0]), exact_decimals([5100.0, 5102.0])
    (1, 0)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    for d in range(most + 1):
        if np.all(np.abs(np.round(v, d) - v) <= 1e-9 * np.maximum(1.0, np.abs(v))):
            return d
    return most


def _tick_formatter(scale: float):
    from matplotlib.ticker import Formatter

    class MapFormatter(Formatter):
        """Map coordinates divided by ``scale``, with as many decimals as the tick step
        needs and thousands separated: ``379.5`` km, ``5,100,250`` m (no offset, no
        exponent)."""

        ticks = np.array([])

        def set_locs(self, locs):
            self.ticks = np.asarray(locs, dtype=float)

        def __call__(self, value, pos=None):
            return f"{value / scale:,.{exact_decimals(self.ticks / scale)}f}"

    return MapFormatter()


def map_axes(ax, a, *, title: str | None = None, scale_bar: bool = True, north: bool = True):
    """Decorate the map axes ``ax`` showing ``a``: axis labels in the CRS's units with the
    CRS named (``"Easting (km), EPSG:32717"``), four readable ticks per axis, a title, a
    scale bar (lower left) and a north arrow (upper right)."""
    from matplotlib.ticker import MaxNLocator

    u = axis_units(a)
    suffix = f", {u['crs']}" if u["crs"] else (", no CRS" if u["unit"] == "map units" else "")
    ax.set_xlabel(f"{u['x']} ({u['unit']}){suffix}", fontsize=8)
    ax.set_ylabel(f"{u['y']} ({u['unit']}){suffix}", fontsize=8)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
        axis.set_major_formatter(_tick_formatter(u["scale"]))
    ax.tick_params(labelsize=7)
    ax.tick_params(axis="y", labelrotation=90)
    if title is not None:
        ax.set_title(title, fontsize=10)
    if scale_bar and u["metres"] is not None:
        add_scale_bar(ax, u["metres"])
    if north:
        add_north_arrow(ax)
    return ax


def nice_length(limit: float) -> float:
    """The largest 1, 2 or 5 x 10^k not above ``limit`` (``limit`` > 0)."""
    if not limit > 0 or not math.isfinite(limit):
        raise ConfigError(f"a scale bar needs a positive length, got {limit!r}")
    k = math.floor(math.log10(limit))
    for m in (5, 2, 1):
        if m * 10**k <= limit * (1 + 1e-12):
            return float(m * 10**k)
    return float(10**k)  # pragma: no cover  (1 x 10^k <= limit always)


def _length_label(metres: float) -> str:
    return f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"


def add_scale_bar(ax, metres_per_unit: float = 1.0, *, fraction: float = 0.25):
    """A scale bar of a round length (at most ``fraction`` of the axes' width), lower left.

    matplotlib-scalebar's ``ScaleBar`` when installed, else an ``AnchoredSizeBar`` of
    :func:`nice_length`; the artist is returned, its gid ``"scale-bar"``.
    """
    try:
        from matplotlib_scalebar.scalebar import ScaleBar
    except ImportError:
        ScaleBar = None
    if ScaleBar is not None:
        bar = ScaleBar(
            metres_per_unit,
            units="m",
            location="lower left",
            length_fraction=fraction,
            box_alpha=0.7,
            font_properties={"size": 7},
            scale_loc="top",
        )
    else:
        from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

        x0, x1 = ax.get_xlim()
        metres = nice_length(abs(x1 - x0) * metres_per_unit * fraction)
        bar = AnchoredSizeBar(
            ax.transData,
            metres / metres_per_unit,
            _length_label(metres),
            "lower left",
            pad=0.4,
            borderpad=0.6,
            sep=3,
            frameon=True,
            size_vertical=0,
            fontproperties={"size": 7},
        )
        bar.patch.set_alpha(0.7)
    bar.set_gid("scale-bar")
    ax.add_artist(bar)
    return bar


def add_north_arrow(ax, *, x: float = 0.93, y: float = 0.96, length: float = 0.11):
    """An arrow and "N" pointing up the map in the upper right of ``ax`` (gid
    ``"north-arrow"``); returns the annotation."""
    note = ax.annotate(
        "N",
        xy=(x, y),
        xytext=(x, y - length),
        xycoords="axes fraction",
        ha="center",
        va="top",
        fontsize=9,
        fontweight="bold",
        arrowprops={
            "facecolor": "black",
            "edgecolor": "white",
            "width": 3,
            "headwidth": 9,
            "headlength": 7,
            "linewidth": 0.6,
        },
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7, "lw": 0},
    )
    note.set_gid("north-arrow")
    return note


# --------------------------------------------------------------------------- colour scale


def probability_norm(values, stretch: str = "percentile", percentiles=(2.0, 98.0)):
    """The colour scale of probabilities ``values`` (what is drawn; NaN ignored).

    ``"percentile"``: linear between the ``percentiles`` (default the 2nd and 98th), so a
    map of rare landslides is not one colour; ``"log"``: logarithmic between them (the
    lower clipped to the smallest positive value); ``"linear"``: 0 to the maximum.
    """
    from matplotlib.colors import LogNorm, Normalize

    if stretch not in STRETCHES:
        raise ConfigError(f"stretch must be one of {STRETCHES}, got {stretch!r}")
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Normalize(0.0, 1.0)
    if stretch == "linear":
        return Normalize(0.0, float(v.max()) or 1.0)
    lo_p, hi_p = percentiles
    if not 0 <= lo_p < hi_p <= 100:
        raise ConfigError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
    if stretch == "log":
        v = v[v > 0]
        if v.size == 0:
            return Normalize(0.0, 1.0)
    lo, hi = (float(q) for q in np.percentile(v, [lo_p, hi_p]))
    if hi <= lo:  # a flat map: a small range around its value
        lo, hi = (lo / 2, lo * 2) if stretch == "log" else (max(lo - 1e-3, 0.0), hi + 1e-3)
    return LogNorm(lo, hi) if stretch == "log" else Normalize(lo, hi)


def base_rate(label, mask=None) -> float | None:
    """The share of landslide pixels among the labelled ones (``mask`` True), one pass;
    None without labels."""
    import dask

    if label is None:
        return None
    known = label >= 0
    if mask is not None:
        known = known & mask
    slides = (label == 1) & known
    n_slides, n_known = dask.compute(slides.sum().data, known.sum().data)
    return float(n_slides) / float(n_known) if n_known else None


def probability_colorbar(fig, image, ax, *, base=None, label="landslide probability (%)"):
    """A colour bar of probabilities in %, with the base rate ``base`` marked by a cyan
    line (gid ``"base-rate"``) and given in the label; returns the colour bar."""
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    norm = image.norm
    extend = "both" if norm.vmin > 0 else "max"
    cbar = fig.colorbar(image, ax=ax, shrink=0.8, extend=extend)
    if isinstance(norm, LogNorm):  # decades: 0.01 %, 0.1 %, 1 % (not 0.0 % for 0.01 %)
        cbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{100 * v:.3g}%"))
    else:
        cbar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=None))
    cbar.ax.tick_params(labelsize=7)
    if base is not None and math.isfinite(base):
        shown = min(max(base, norm.vmin), norm.vmax)
        line = cbar.ax.axhline(shown, color="cyan", lw=2.5)
        line.set_gid("base-rate")
        off = "" if shown == base else ", off the scale"
        label = f"{label}\ncyan line: base rate {100 * base:.3g} %{off}"
    cbar.set_label(label, fontsize=8)
    return cbar


__all__ = [
    "STRETCHES",
    "add_north_arrow",
    "add_scale_bar",
    "axis_units",
    "base_rate",
    "map_axes",
    "nice_length",
    "probability_colorbar",
    "probability_norm",
]
