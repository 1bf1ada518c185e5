"""Success- and prediction-rate curves (Chung & Fabbri 2003): % of landslides against % of
area, pixels ranked by decreasing susceptibility, and the area under the curve.

The ranking is that of the ROC curve with the whole area in place of the stable pixels, so
the streaming histogram of :mod:`xlandslide.evaluate.metrics` serves it: one pass, exact
(ties grouped) below ``exact_limit`` pixels, a rigorous error bound on the area above.
"""

from __future__ import annotations

import numpy as np

from ..errors import EvaluationError
from ._histogram import (
    BINS,
    EXACT_LIMIT,
    Stats,
    as_yx,
    class_histogram,
    exact_bins,
    reduce_blocks,
    unified,
)


def _rate_block(p, lab, m=None, a=None, *, bins, has_mask, has_area):
    p = np.asarray(p)
    lab = np.asarray(lab)
    valid = ~np.isnan(p)
    area = valid if not has_area else valid & np.asarray(a, dtype=bool)
    slide = area & (lab == 1)
    if has_mask:
        slide &= np.asarray(m, dtype=bool)
    v = np.concatenate([p[area], p[slide]])
    cls = np.r_[np.zeros(int(area.sum()), bool), np.ones(int(slide.sum()), bool)]
    return class_histogram(v, cls, bins)


def rate_curve(
    prob,
    label,
    mask=None,
    *,
    area=None,
    exact_limit: int = EXACT_LIMIT,
    bins: int = BINS,
) -> dict:
    """Success- or prediction-rate curve: % of landslides against % of area, high to low.

    Pixels are ranked by decreasing susceptibility; the curve gives, for every threshold,
    the fraction of the area above it (every valid pixel of ``prob``, within ``area`` when
    given) and the fraction of the landslide pixels (label 1, within ``mask``) above it.
    With the training labels as ``mask`` it is the *success rate*, with held-out labels
    the *prediction rate* (Chung & Fabbri 2003).

    Returns
    -------
    dict
        ``area_fraction`` and ``landslide_fraction`` (from 0 to 1), ``thresholds``
        (decreasing, the first inf), ``auc`` (area under the curve; 0.5 for a random map, 1
        when every landslide lies above all the rest) and ``auc_error_bound`` (0 when
        exact; the streaming histogram's bound otherwise, as for the ROC AUC),
        ``n_landslide``, ``n_area``.

    Notes
    -----
    The same ranking as the ROC curve with the whole area in place of the stable pixels:
    one pass; exact (ties grouped) when the map has at most ``exact_limit`` pixels.

    Examples
    --------
    >>> import numpy as np
    >>> curve = rate_curve(np.array([[0.9, 0.6, 0.4, 0.2]]), np.array([[1, 0, 1, 0]]))
    >>> curve["area_fraction"].tolist(), curve["landslide_fraction"].tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    >>> curve["auc"]  # trapezoids: 0.0625 + 0.125 + 0.1875 + 0.25
    0.625
    """
    import dask

    from .metrics import _auc, _curve

    prob = as_yx(prob, "prob")
    label = as_yx(label, "label")
    arrays = [prob, label]
    if mask is not None:
        arrays.append(as_yx(mask, "mask"))
    if area is not None:
        arrays.append(as_yx(area, "area"))
    flags = {"has_mask": mask is not None, "has_area": area is not None}
    if prob.size <= exact_limit:
        lazy = [a.data for a in arrays if a.chunks is not None]
        got = iter(dask.compute(*lazy))
        data = [next(got) if a.chunks is not None else a.values for a in arrays]
        it = iter(data[2:])
        p, lab = np.asarray(data[0]), np.asarray(data[1])
        m = next(it) if mask is not None else None
        a = next(it) if area is not None else None
        valid = ~np.isnan(p) & (True if a is None else np.asarray(a, bool))
        slide = valid & (lab == 1) & (True if m is None else np.asarray(m, bool))
        st = exact_bins(
            Stats(0.0, 0.0, 0, 0, 0),
            np.concatenate([p[valid], p[slide]]),
            np.r_[np.zeros(int(valid.sum())), np.ones(int(slide.sum()))],
        )
    else:
        data = unified(arrays)
        it = iter(data[2:])
        pm = [next(it) if mask is not None else None]
        pa = [next(it) if area is not None else None]
        blocks = [data[0], data[1]] + [x for x in (pm[0], pa[0]) if x is not None]

        def block(p, lab, *rest, bins, has_mask, has_area):
            rest = list(rest)
            m = rest.pop(0) if has_mask else None
            a = rest.pop(0) if has_area else None
            return _rate_block(p, lab, m, a, bins=bins, has_mask=has_mask, has_area=has_area)

        vec = reduce_blocks(block, blocks, 6 * bins, "xlandslide-rate", bins=bins, **flags)
        c = vec[:, :, : 2 * bins].sum(axis=(0, 1))
        lo = vec[:, :, 2 * bins : 4 * bins].min(axis=(0, 1))
        hi = vec[:, :, 4 * bins :].max(axis=(0, 1))
        st = Stats(0.0, 0.0, 0, 0, 0).set_histogram(np.concatenate(dask.compute(c, lo, hi)), bins)
    n_slide, n_area = int(st.pos.sum()), int(st.neg.sum())
    if n_slide == 0 or n_area == 0:
        raise EvaluationError(
            f"a rate curve needs landslide pixels and area, got {n_slide} landslide pixels "
            f"in {n_area} pixels of area; check the mask (training or held-out labels)"
        )
    x, y, thr = _curve(st, drop_intermediate=False)
    auc, bound = _auc(st)
    return {
        "area_fraction": x,
        "landslide_fraction": y,
        "thresholds": thr,
        "auc": auc,
        "auc_error_bound": bound,
        "n_landslide": n_slide,
        "n_area": n_area,
    }


__all__ = ["rate_curve"]
