"""Susceptibility zoning: classes of a probability map, their table, success / prediction rates.

What hazard agencies deliver (Chung & Fabbri 2003; Guzzetti et al. 2006; DESIGN §5):

- :func:`zoning`: a lazy uint8 class map (0 = very low ... n - 1 = very high, 255 = no
  data) from ``"quantile"`` (equal areas), ``"natural_breaks"`` (Fisher-Jenks),
  ``"equal_interval"`` or user breaks;
- :func:`zoning_table`: per class area, landslides, density and frequency ratio;
- :func:`~xlandslide.evaluate.rates.rate_curve`: success and prediction rates.

Breaks in one streaming pass
----------------------------
Every method reads the map once.  Quantiles and the equal-interval range come from the
histogram of :mod:`xlandslide.evaluate.metrics` (2**16 bins uniform in a log-odds-like
scale, each with its smallest and largest value): a quantile break is the smallest value of
the bin where the cumulative area crosses the target (or of the next bin, whichever leaves
the area nearer it), so each class's area is exact up to the pixels of one bin — exact when
the map has at most ``exact_limit`` valid pixels, where the values are sorted instead.
Natural breaks are Fisher-Jenks (``jenkspy``, the optional ``zoning`` extra) on a uniform
sample of ``sample`` valid pixels (10,000 by default; all of them when fewer): the pixels
with the smallest values of a hash of their position and ``seed``, so the sample does not
depend on the chunks.

Class ``c`` holds ``breaks[c - 1] <= p < breaks[c]`` (``breaks`` are the ``n - 1`` inner
thresholds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import ConfigError, DegenerateMapWarning, EvaluationError
from ..region import map_like
from ._breaks import _equal, _histogram_pass, _jenks, _values
from ._histogram import BINS, EXACT_LIMIT, as_yx, reduce_blocks, unified

ZONING_METHODS = ("quantile", "natural_breaks", "equal_interval")
#: Class names by number of classes (others: "class 1", "class 2", ...).
CLASS_NAMES = {
    2: ("low", "high"),
    3: ("low", "moderate", "high"),
    4: ("low", "moderate", "high", "very high"),
    5: ("very low", "low", "moderate", "high", "very high"),
}
#: No-data code of a class map.
NODATA_CLASS = 255
#: Sample size of the natural breaks.
JENKS_SAMPLE = 10_000


def class_names(n: int) -> tuple[str, ...]:
    """The names of ``n`` susceptibility classes, lowest first."""
    return CLASS_NAMES.get(int(n), tuple(f"class {i + 1}" for i in range(int(n))))


def _valid(prob, mask):
    prob = as_yx(prob, "prob")
    if prob.dtype.kind != "f":
        raise EvaluationError(f"prob must hold probabilities (floats), got dtype {prob.dtype}")
    if mask is not None:
        from ..grid import check_same_grid

        mask = as_yx(mask, "mask")
        check_same_grid(prob, mask, "prob and mask")
        mask = mask.astype(bool)
    return prob, mask


# --------------------------------------------------------------------------- breaks


def zoning_breaks(
    prob,
    method: str = "quantile",
    n_classes: int = 5,
    *,
    mask=None,
    sample: int = JENKS_SAMPLE,
    seed: int = 0,
    exact_limit: int = EXACT_LIMIT,
    bins: int = BINS,
) -> np.ndarray:
    """The ``n_classes - 1`` inner breaks of a map by ``method`` (one pass; module notes).

    ``mask`` restricts the pixels that set the breaks (e.g. the region's inside).

    Examples
    --------
    >>> import numpy as np
    >>> prob = (np.arange(100) + 0.5).reshape(1, 100) / 100  # 0.005, 0.015, ..., 0.995
    >>> zoning_breaks(prob, "quantile", 4).tolist()  # 25 pixels in each class
    [0.255, 0.505, 0.755]
    >>> zoning_breaks(prob, "equal_interval", 5).round(2).tolist()
    [0.2, 0.4, 0.6, 0.8]
    """
    import dask

    if method not in ZONING_METHODS:
        raise ConfigError(f"unknown zoning method {method!r}; use one of {ZONING_METHODS}")
    n = int(n_classes)
    if n != n_classes or n < 2 or n > 254:
        raise ConfigError(f"n_classes must be an integer in 2 .. 254, got {n_classes!r}")
    prob, mask = _valid(prob, mask)
    if prob.size <= exact_limit:
        arrays = [prob] + ([mask] if mask is not None else [])
        lazy = [a.data for a in arrays if a.chunks is not None]
        got = iter(dask.compute(*lazy))
        data = [next(got) if a.chunks is not None else a.values for a in arrays]
        v = np.sort(_values(*data).astype(np.float64))
        if v.size == 0:
            raise EvaluationError("the map holds no valid (non-NaN) pixel to zone")
        if method == "quantile":
            idx = [min(v.size - 1, round(c * v.size / n)) for c in range(1, n)]
            return np.array([v[i] for i in idx])
        if method == "equal_interval":
            return _equal(v[0], v[-1], n)
        values = v
        if v.size > sample:
            from .._hash import pixel_hash

            flat = np.arange(v.size)  # a seeded uniform sample of the sorted values
            values = v[np.sort(np.argsort(pixel_hash(flat, seed))[:sample])]
        return _jenks(values, n)
    st, values = _histogram_pass(
        prob, mask, bins, sample if method == "natural_breaks" else 0, seed
    )
    if st.n == 0:
        raise EvaluationError("the map holds no valid (non-NaN) pixel to zone")
    full = st.neg > 0
    if method == "equal_interval":
        return _equal(float(st.lo_neg[full].min()), float(st.hi_neg[full].max()), n)
    if method == "natural_breaks":
        return _jenks(values, n)
    cum = np.cumsum(st.neg)
    before = cum - st.neg
    out = []
    for c in range(1, n):
        target = c * st.n / n
        b = int(np.searchsorted(cum, target, side="left"))  # the bin crossing the target
        b = min(b, len(cum) - 1)
        nxt = next((j for j in range(b + 1, len(cum)) if st.neg[j] > 0), None)
        lower = abs(before[b] - target)
        upper = abs(cum[b] - target) if nxt is not None else math.inf
        out.append(float(st.lo_neg[b] if lower <= upper else st.lo_neg[nxt]))
    return np.array(out)


#: Breaks whose logits span less than this are not classes (:func:`warn_if_flat`).
MIN_BREAK_SPREAD = 0.01


def warn_if_flat(breaks, what: str = "the map's breaks") -> bool:
    """Warn (:class:`~xlandslide.errors.DegenerateMapWarning`) when probability ``breaks``
    span less than :data:`MIN_BREAK_SPREAD` in logits (the odds of the lowest and highest
    class differ by under 1 %: classes that differ in the sixth decimal are not classes).

    Returns whether it warned.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     warn_if_flat([0.003553, 0.0035531, 0.0035535])
    True
    >>> warn_if_flat([0.001, 0.01, 0.1])
    False
    """
    import warnings

    b = np.clip(np.asarray(breaks, dtype=np.float64).ravel(), 1e-12, 1 - 1e-12)
    if b.size == 0:
        return False
    z = np.log(b / (1 - b))
    span = float(z.max() - z.min())
    if span >= MIN_BREAK_SPREAD:
        return False
    warnings.warn(
        f"{what} span {span:.2g} in logits ({b.min():.6g} to {b.max():.6g}): the map is "
        "nearly constant and its classes mean nothing; check the model (its "
        "history['quality']) before using the map",
        DegenerateMapWarning,
        stacklevel=3,
    )
    return True


# --------------------------------------------------------------------------- class map


def _classify_block(p, m=None, *, breaks):
    p = np.asarray(p)
    out = np.searchsorted(breaks, p, side="right").astype(np.uint8)
    bad = np.isnan(p)
    if m is not None:
        bad |= ~np.asarray(m, dtype=bool)
    out[bad] = NODATA_CLASS
    return out


def zoning(
    prob,
    method: str = "quantile",
    n_classes: int = 5,
    breaks: Sequence[float] | None = None,
    *,
    mask=None,
    sample: int = JENKS_SAMPLE,
    seed: int = 0,
    exact_limit: int = EXACT_LIMIT,
) -> xr.DataArray:
    """Susceptibility classes of a probability map: a lazy uint8 class map.

    Parameters
    ----------
    prob : DataArray (y, x)
        Probabilities (NaN: no data).
    method : {"quantile", "natural_breaks", "equal_interval"}
        How the breaks are chosen (module notes); ignored when ``breaks`` is given.
    n_classes : int
        Number of classes (default 5: very low, low, moderate, high, very high).
    breaks : sequence of float, optional
        The ``n - 1`` increasing inner thresholds in [0, 1], instead of a method.
    mask : DataArray (y, x) of bool, optional
        Pixels to zone (others are no data, 255) — and that set the breaks.
    sample, seed, exact_limit
        See the module notes.

    Returns
    -------
    DataArray
        uint8 (y, x), dask-backed, ``attrs``: ``breaks``, ``class_names``, ``method``,
        ``flag_values``, ``flag_meanings``, ``_FillValue``-style ``nodata`` 255.  Computing
        the breaks reads the map once; the classes are computed when asked.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> dem = region["dem"]
    >>> prob = (dem - dem.min()) / (dem.max() - dem.min())  # any map of probabilities
    >>> zones = xlandslide.zoning(prob, "quantile", 5)
    >>> zones.dtype.name, zones.attrs["class_names"]
    ('uint8', ['very low', 'low', 'moderate', 'high', 'very high'])
    >>> table = xlandslide.zoning_table(zones, region["label"])
    >>> len(table), round(float(table["area_pct"].sum()))
    (5, 100)
    """
    import dask.array as da

    prob, mask = _valid(prob, mask)
    if breaks is None:
        b = zoning_breaks(
            prob, method, n_classes, mask=mask, sample=sample, seed=seed, exact_limit=exact_limit
        )
        warn_if_flat(b, f"the {method} breaks of the map")
    else:
        b = np.asarray(breaks, dtype=np.float64).ravel()
        if b.size < 1 or not np.all(np.isfinite(b)) or np.any(np.diff(b) <= 0):
            raise ConfigError(
                f"breaks must be increasing finite thresholds (n_classes - 1 of them), got "
                f"{list(np.atleast_1d(breaks))}"
            )
        if np.any((b < 0) | (b > 1)):
            raise ConfigError(
                f"breaks split probabilities, so each lies in [0, 1]; got {b.tolist()}: give "
                "thresholds such as 0.1 0.3 (or a method instead of breaks)"
            )
        method = "user"
    n = b.size + 1
    names = class_names(n)
    arrays = [prob] + ([mask] if mask is not None else [])
    data = (
        unified(arrays)
        if any(a.chunks is not None for a in arrays)
        else [da.from_array(np.asarray(a.values), chunks=2048) for a in arrays]
    )
    classes = da.map_blocks(
        _classify_block, *data, breaks=b, dtype=np.uint8, meta=np.array((), np.uint8)
    )
    return map_like(
        prob,
        classes,
        "susceptibility_class",
        {
            "long_name": "landslide susceptibility class",
            "method": method,
            "breaks": [float(x) for x in b],
            "class_names": list(names),
            "flag_values": list(range(n)),
            "flag_meanings": " ".join(x.replace(" ", "_") for x in names),
            "nodata": NODATA_CLASS,
        },
    )


# --------------------------------------------------------------------------- table


def _table_block(cls, lab, m=None, *, n):
    cls = np.asarray(cls)
    lab = np.asarray(lab)
    ok = cls < n
    if m is not None:
        ok_l = ok & np.asarray(m, dtype=bool)
    else:
        ok_l = ok
    c = cls[ok].astype(np.int64)
    slide = cls[ok_l & (lab == 1)].astype(np.int64)
    known = cls[ok_l & (lab >= 0)].astype(np.int64)
    return np.concatenate(
        [
            np.bincount(c, minlength=n),
            np.bincount(slide, minlength=n),
            np.bincount(known, minlength=n),
        ]
    ).astype(np.float64)


def zoning_table(classes: xr.DataArray, label, mask=None):
    """Area, landslides, density and frequency ratio per class of a class map.

    Parameters
    ----------
    classes : DataArray (y, x) uint8
        From :func:`zoning` (255: no data).
    label : DataArray (y, x)
        1 landslide, 0 stable, -1 unknown.
    mask : DataArray (y, x) of bool, optional
        Which labels count (e.g. the held-out pixels of a fold); areas count every classed
        pixel.

    Returns
    -------
    pandas.DataFrame
        One row per class: ``class``, ``name``, ``lower``, ``upper`` (breaks), ``pixels``,
        ``area_km2``, ``area_pct``, ``landslide_pixels``, ``landslide_pct`` (of all the
        landslide pixels counted), ``density`` (landslide pixels / class pixels — the
        landslide area fraction of the class for a polygon inventory), ``density_km2``
        (landslide pixels per km², for points) and ``frequency_ratio``
        (``landslide_pct / area_pct``; 1 = as many landslides as area).  One pass.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> llr = xlandslide.fit(region, "llr", patches=patches, progress=False)
    >>> zones = xlandslide.zoning(region.landslide.predict(llr), "quantile", 4)
    >>> table = xlandslide.zoning_table(zones, region["label"])
    >>> table["name"].tolist()
    ['low', 'moderate', 'high', 'very high']
    >>> bool(table["frequency_ratio"].is_monotonic_increasing)  # a model that ranks
    True
    """
    import dask
    import pandas as pd

    from ..grid import check_same_grid, pixel_size

    classes = as_yx(classes, "classes")
    label = as_yx(label, "label")
    check_same_grid(classes, label, "classes and label")
    n = len(classes.attrs.get("class_names", ())) or int(
        dask.compute(classes.where(classes < NODATA_CLASS).max().data)[0] + 1
    )
    arrays = [classes, label] + ([as_yx(mask, "mask")] if mask is not None else [])
    data = unified(arrays)
    vec = reduce_blocks(_table_block, data, 3 * n, "xlandslide-zoning-table", n=n)
    (sums,) = dask.compute(vec.sum(axis=(0, 1)))
    pixels, slides, known = sums[:n], sums[n : 2 * n], sums[2 * n :]
    try:
        km2 = pixel_size(classes) ** 2 / 1e6
    except Exception:  # no coordinates: areas in pixels only
        km2 = math.nan
    breaks = list(classes.attrs.get("breaks", [math.nan] * (n - 1)))
    names = classes.attrs.get("class_names", class_names(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        area_pct = 100 * pixels / pixels.sum()
        slide_pct = 100 * slides / slides.sum() if slides.sum() else np.full(n, np.nan)
        table = pd.DataFrame(
            {
                "class": np.arange(n),
                "name": list(names),
                "lower": [-math.inf if i == 0 else breaks[i - 1] for i in range(n)],
                "upper": [math.inf if i == n - 1 else breaks[i] for i in range(n)],
                "pixels": pixels.astype(np.int64),
                "area_km2": pixels * km2,
                "area_pct": area_pct,
                "labelled_pixels": known.astype(np.int64),
                "landslide_pixels": slides.astype(np.int64),
                "landslide_pct": slide_pct,
                "density": np.where(pixels > 0, slides / pixels, np.nan),
                "density_km2": np.where(pixels > 0, slides / (pixels * km2), np.nan),
                "frequency_ratio": np.where(area_pct > 0, slide_pct / area_pct, np.nan),
            }
        )
    return table


__all__ = [
    "CLASS_NAMES",
    "JENKS_SAMPLE",
    "NODATA_CLASS",
    "ZONING_METHODS",
    "class_names",
    "zoning",
    "zoning_breaks",
    "zoning_table",
]
