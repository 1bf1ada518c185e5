"""What an ingest found: the classes present per group, the source codes behind them, the
patches the region gives; warnings where the region would mislead a model.

:func:`~xlandslide.build_region` records it in ``attrs["xlandslide_build"]`` (computed in its
one statistics pass: per group a count of every class over the valid pixels and, for a
raster source, of every source code); :func:`summary_lines` says it in words, as
``xlandslide ingest`` prints it.  An :class:`~xlandslide.errors.IngestWarning` is issued for

- a group with one class present (every pixel the same class: a preset that maps every
  source code present to one class, say CORINE 3xx to forest): the group tells a model
  nothing, and a linear model's weight for the class is the intercept's;
- a region that leaves fewer than :data:`~xlandslide.grid.MIN_PATCHES_PER_SPLIT` patches in
  the smallest split of a random 80 / 10 / 10 split, even with the smallest default core
  (:func:`~xlandslide.grid.geometry_for`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..catalog import NODATA_CODE
from ..errors import IngestWarning
from ..grid import CORE_CHOICES, MIN_PATCHES_PER_SPLIT, geometry_for
from .layers import SourceCodes

#: The fractions whose smallest split the patch check looks at (the default random split).
FRACTIONS = (0.8, 0.1, 0.1)


def code_counts(raw, valid, *, keys):
    """Per-block counts (shape (len(keys) + 1,)) of the valid pixels holding each of the
    source codes ``keys`` (sorted floats); the last: any other code."""
    x = raw[valid & ~np.isnan(raw)]
    out = np.zeros(keys.size + 1, np.float64)
    if keys.size:
        idx = np.clip(np.searchsorted(keys, x), 0, keys.size - 1)
        hit = keys[idx] == x
        out[:-1] = np.bincount(idx[hit], minlength=keys.size)
        out[-1] = (~hit).sum()
    else:
        out[-1] = x.size
    return out


def _code_text(value) -> str:
    v = float(value)
    return str(int(v)) if v.is_integer() else repr(v)


def _source_codes(mapping, source, counts) -> tuple[dict, list]:
    """``({class: [source codes present]}, [codes present that no class took])``."""
    classes = mapping.classes
    by_class, lost = {}, []
    if isinstance(source, SourceCodes):
        pairs = [
            (_code_text(k), int(v)) for k, v, n in zip(source.keys, source.values, counts) if n
        ]
        if counts is not None and counts[-1]:  # codes the table lacks: the fallback's
            pairs.append(
                ("(other codes)", NODATA_CODE if source.fallback is None else source.fallback)
            )
    else:
        pairs = sorted(dict(source).items())
    for code, k in pairs:
        if k == NODATA_CODE or k >= len(classes):
            lost.append(code)
        else:
            by_class.setdefault(classes[k], []).append(code)
    return by_class, lost


def group_summary(groups, hists, n_valid: int, code_hists) -> dict:
    """The ``classes``, ``source_codes`` and ``unmapped_codes`` records of the groups
    (``groups``: (name, codes, mapping, source); ``hists``: per group its class counts
    and, last, the valid pixels without a class; ``code_hists``: per raster group its
    source code counts)."""
    classes, sources, lost = {}, {}, {}
    raster = iter(code_hists)
    for (group, _, mapping, source), hist in zip(groups, hists):
        present = {
            name: {"pixels": int(n), "share": float(n) / n_valid if n_valid else math.nan}
            for name, n in zip(mapping.classes, hist[:-1])
            if n
        }
        classes[group] = present
        counts = next(raster) if isinstance(source, SourceCodes) else None
        sources[group], lost[group] = _source_codes(mapping, source, counts)
        for name in list(sources[group]):
            if name not in present:  # polygons on the grid that cover no valid pixel
                sources[group].pop(name)
    return {"classes": classes, "source_codes": sources, "unmapped_codes": lost}


def patch_summary(shape) -> dict:
    """The default patch geometry of a region of ``shape`` and the patches it gives."""
    geometry, _ = geometry_for(shape, fractions=FRACTIONS)
    ny, nx = shape
    n = -(-ny // geometry.core) * -(-nx // geometry.core)
    return {
        "core": geometry.core,
        "patches": int(n),
        "smallest_split": round(n * min(FRACTIONS), 2),
    }


def warn_summary(build: dict) -> None:
    """The :class:`~xlandslide.errors.IngestWarning` s of a build record (module notes)."""
    for group, present in build.get("classes", {}).items():
        if len(present) == 1:
            (name,) = present
            codes = build.get("source_codes", {}).get(group, {}).get(name, [])
            behind = f" (source codes {', '.join(codes[:8])}{'...' if len(codes) > 8 else ''})"
            warnings.warn(
                f"categorical group {group!r} has one class present, {name!r}"
                f"{behind if codes else ''}, on every valid pixel: it tells a model nothing "
                "(and a linear model reports it as a top feature). Map its codes to finer "
                "classes (your own codes= instead of the preset), or leave the group out",
                IngestWarning,
                stacklevel=3,
            )
    patches = build.get("patches")
    if patches and patches["patches"] * min(FRACTIONS) < MIN_PATCHES_PER_SPLIT:
        warnings.warn(
            f"the region gives {patches['patches']} patches of core {patches['core']} (the "
            f"smallest default core, {CORE_CHOICES[-1]}), {patches['smallest_split']} in the "
            f"smallest split of {list(FRACTIONS)}: fewer than {MIN_PATCHES_PER_SPLIT}, so a "
            "validation or test split is nearly empty. Ingest a larger region, or evaluate "
            "with spatial folds on pixels",
            IngestWarning,
            stacklevel=3,
        )


def summary_lines(build: dict) -> list[str]:
    """The build record of a region (``attrs["xlandslide_build"]``) in words, a line each:
    per group the classes present with their share of the valid pixels, the source codes
    behind a class holding several and the codes no class took; the patches."""
    lines = []
    for group, present in build.get("classes", {}).items():
        shares = ", ".join(f"{k} {v['share']:.1%}" for k, v in present.items())
        lines.append(f"group {group}: {len(present)} classes present: {shares}")
        for name, codes in build.get("source_codes", {}).get(group, {}).items():
            if len(codes) > 1:
                lines.append(f"  {name} <- source codes {', '.join(codes)}")
        lost = build.get("unmapped_codes", {}).get(group)
        if lost:
            lines.append(f"  source codes without a class (no data): {', '.join(lost)}")
        gaps = build.get("unclassed_pixels", {}).get(group)
        if gaps:
            lines.append(f"  {gaps} valid pixels without a class")
    patches = build.get("patches")
    if patches:
        lines.append(
            f"{patches['patches']} patches of core {patches['core']} "
            f"({patches['smallest_split']} in a {min(FRACTIONS):.0%} split)"
        )
    return lines


__all__ = ["group_summary", "patch_summary", "summary_lines", "warn_summary"]
