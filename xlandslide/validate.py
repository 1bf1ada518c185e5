"""Checks of the region data model: :func:`validate_region` and :func:`check_fits`.

:func:`validate_region` checks a Dataset against the data model of :mod:`xlandslide.region`
(metadata by default, values on request); :func:`check_fits` checks that a model (its
:class:`~xlandslide.ModelSpec`) can be applied to a region.  Every error names the fix.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from . import grid
from .catalog import NODATA_CODE, FeatureLayout
from .errors import CheckpointMismatchError, GridError, LegacyStoreError, RegionError
from .region import (
    BUILD_HINT,
    LEGACY_HINT,
    OFFSET_VARS,
    as_dask,
    feature_layout,
    get_normalisation,
    offset_distances,
    region_crs,
    select_offsets,
)

# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
_VARS = {
    "dem": (("y", "x"), np.float32),
    "label": (("y", "x"), np.int8),
    "continuous": (("layer", "y", "x"), np.float32),
    "categorical": (("group", "y", "x"), np.uint8),
}


def validate_region(ds: xr.Dataset, *, check_values: bool = False) -> xr.Dataset:
    """Check that ``ds`` follows the region data model; return it unchanged.

    By default only metadata is read (names, dims, dtypes, coordinates, CRS, attrs).  With
    ``check_values=True`` one streaming pass also checks the values: labels in {-1, 0, 1},
    codes below their group's class count (or 255), uphill offsets on the ring of their
    distance (``round(distance / pixel)`` pixels, see :mod:`xlandslide.kernels.uphill`) or
    ``(0, 0)``.

    Raises
    ------
    LegacyStoreError
        A region of the one-hot layout of xlandslide 0.1 (the message says how to rebuild).
    RegionError
        Missing or mis-shaped variables, wrong dtypes, names that are not unique strings,
        class names missing, missing or malformed normalisation of a continuous layer, or
        (``check_values``) values outside the data model.
    GridError
        No or irregular y/x coordinates, non-square pixels, y not descending or x not
        ascending, no CRS.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(64, 64), seed=0)
    >>> xlandslide.validate_region(region, check_values=True) is region
    True
    >>> xlandslide.validate_region(region.drop_vars("label"))
    Traceback (most recent call last):
    ...
    xlandslide.errors.RegionError: ...
    """
    if not isinstance(ds, xr.Dataset):
        raise RegionError(f"a region is an xarray.Dataset, got {type(ds).__name__}; {BUILD_HINT}")
    if "features" in ds.data_vars and "continuous" not in ds.data_vars:
        raise LegacyStoreError(f"this region is not readable: {LEGACY_HINT}")
    for name in ("dem", "label"):
        if name not in ds.data_vars:
            raise RegionError(
                f"the region has no {name!r} variable (it has {sorted(ds.data_vars)}); a region "
                "needs dem (y, x) float32, label (y, x) int8, continuous (layer, y, x) float32 "
                f"and/or categorical (group, y, x) uint8; {BUILD_HINT}"
            )
    if "continuous" not in ds.data_vars and "categorical" not in ds.data_vars:
        raise RegionError(
            "the region has no input layers: neither 'continuous' (layer, y, x) nor "
            f"'categorical' (group, y, x); {BUILD_HINT}"
        )
    for name, (dims, dtype) in _VARS.items():
        if name not in ds.data_vars:
            continue
        var = ds[name]
        if var.dims != dims:
            raise RegionError(
                f"{name!r} has dims {var.dims}, expected {dims}; "
                f"use ds[{name!r}].transpose{dims} (and rename dims to y/x)"
            )
        if var.dtype != dtype:
            raise RegionError(
                f"{name!r} has dtype {var.dtype}, expected {np.dtype(dtype).name}; "
                f"cast it with ds[{name!r}].astype('{np.dtype(dtype).name}')"
            )
    layout = feature_layout(ds)
    if "categorical" in ds.data_vars:
        nodata = ds["categorical"].attrs.get("nodata", NODATA_CODE)
        if int(nodata) != NODATA_CODE:
            raise RegionError(
                f"'categorical' declares no-data code {nodata}; the data model reserves "
                f"{NODATA_CODE}: recode the layer"
            )
    _check_uphill(ds)
    _check_grid(ds)
    norm = get_normalisation(ds)
    for name in layout.continuous:
        entry = norm.get(name)
        if (
            entry is None
            or not math.isfinite(entry["mean"])
            or not (math.isfinite(entry["std"]) and entry["std"] > 0)
        ):
            raise RegionError(
                f"the continuous layer {name!r} needs attrs['normalisation'][{name!r}] = "
                f"{{'mean': float, 'std': float > 0}} (the statistics used to standardise it); "
                f"got {entry!r}"
            )
    if check_values:
        _check_values(ds, layout)
    return ds


def _check_grid(ds):
    grid.pixel_size(ds)  # GridError: missing, irregular or non-square
    y = np.asarray(ds["y"].values)
    x = np.asarray(ds["x"].values)
    if y[1] > y[0]:
        raise GridError(
            "'y' must be descending (north up); reverse it with ds.isel(y=slice(None, None, -1))"
        )
    if x[1] < x[0]:
        raise GridError("'x' must be ascending; reverse it with ds.isel(x=slice(None, None, -1))")
    if region_crs(ds) is None:
        raise GridError(
            "the region has no CRS; write one with ds.rio.write_crs('EPSG:....') "
            "(import rioxarray first)"
        )


def _check_uphill(ds):
    present = [n for n in OFFSET_VARS if n in ds.data_vars]
    if not present:
        return
    if len(present) == 1:
        raise RegionError(
            f"the region has {present[0]!r} but not its pair; store both uphill_dy and "
            "uphill_dx (region.landslide.with_offsets adds both)"
        )
    for name in OFFSET_VARS:
        var = ds[name]
        if var.dims != ("distance", "y", "x"):
            raise RegionError(
                f"{name!r} has dims {var.dims}, expected ('distance', 'y', 'x'); "
                "use the output of xlandslide.uphill_offsets"
            )
        if var.dtype != np.int8:
            raise RegionError(f"{name!r} has dtype {var.dtype}, expected int8")
    if "distance" not in ds.coords or ds["distance"].dtype.kind not in "fiu":
        raise RegionError(
            "uphill offsets need a numeric 'distance' coordinate (metres); "
            "use the output of xlandslide.uphill_offsets"
        )


def _check_values(ds, layout: FeatureLayout):
    """One streaming pass (a single ``dask.compute``) over label, codes and offsets."""
    import dask

    label = as_dask(ds["label"]).data
    sums = [((label != -1) & (label != 0) & (label != 1)).sum()]
    if layout.groups:
        cat = as_dask(ds["categorical"]).data
        for g, n in enumerate(layout.n_classes):
            sums.append(((cat[g] >= n) & (cat[g] != NODATA_CODE)).sum())
    distances = offset_distances(ds)
    radii = [grid.radius_pixels(d, grid.pixel_size(ds)) for d in distances]
    if distances:
        dy = as_dask(ds["uphill_dy"]).data.astype(np.int32)
        dx = as_dask(ds["uphill_dx"]).data.astype(np.int32)
        for k, r in enumerate(radii):
            n2 = dy[k] ** 2 + dx[k] ** 2
            on_ring = (n2 >= r * r - r + 1) & (n2 <= r * r + r)
            sums.append((~(on_ring | (n2 == 0))).sum())
    counts = dask.compute(*sums)
    if counts[0]:
        raise RegionError(
            f"{int(counts[0])} label pixels hold a value other than 1 (landslide), 0 (stable) "
            "or -1 (unknown); rebuild the label with xlandslide.labels_from_points / "
            "labels_from_polygons or recode it"
        )
    n_groups = len(layout.groups)
    for (g, classes), bad in zip(layout.groups, counts[1 : 1 + n_groups]):
        if bad:
            raise RegionError(
                f"{int(bad)} pixels of group {g!r} hold a code of no class (it has "
                f"{len(classes)} classes, codes 0..{len(classes) - 1}, and {NODATA_CODE} for "
                "no data); recode the layer or add its classes"
            )
    for d, r, bad in zip(distances, radii, counts[1 + n_groups :]):
        if bad:
            raise RegionError(
                f"{int(bad)} pixels hold uphill offsets for {d:g} m that are neither on the "
                f"ring of radius {r} pixels nor (0, 0); recompute them with "
                f"region.landslide.with_offsets({list(distances)})"
            )


# ---------------------------------------------------------------------------------------------
# Does a model fit this region?
# ---------------------------------------------------------------------------------------------
def check_fits(region: xr.Dataset, spec, *, require_offsets: bool = True) -> None:
    """Raise :class:`CheckpointMismatchError` unless the model described by ``spec`` fits.

    ``spec`` is a :class:`xlandslide.ModelSpec`.  Checks, in order: the feature layout
    (continuous layers, groups and classes, in order), the pixel size, the normalisation of
    every continuous layer, the halo against the looking distances, and (aligned models,
    when ``require_offsets``) that the region holds the offsets of the model's distances.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> llr = xlandslide.fit(region, "llr", patches=patches, progress=False)
    >>> xlandslide.check_fits(region, llr.spec)  # nothing: it fits
    >>> xlandslide.check_fits(region.isel(layer=[1, 0]), llr.spec)
    Traceback (most recent call last):
    ...
    xlandslide.errors.CheckpointMismatchError: the region's continuous layers ...
    """
    try:
        layout = feature_layout(region)
    except RegionError as err:
        raise CheckpointMismatchError(f"the region is not usable: {err}") from None
    want = spec.layout
    if layout.continuous != want.continuous:
        raise CheckpointMismatchError(
            f"the region's continuous layers {list(layout.continuous)} differ from the model's "
            f"{list(want.continuous)}; select them in the model's order "
            "(region.isel(layer=...)) or retrain the model on this region"
        )
    if layout.groups != want.groups:
        mine, theirs = dict(layout.groups), dict(want.groups)
        for g, classes in theirs.items():
            if g not in mine:
                raise CheckpointMismatchError(
                    f"the region lacks the categorical group {g!r} the model was trained on; "
                    "add it to the region or retrain the model on this region"
                )
            if mine[g] != classes:
                raise CheckpointMismatchError(
                    f"the classes of group {g!r} differ between the region ({len(mine[g])}) "
                    f"and the model ({len(classes)}); recode the region with the model's "
                    "classes (model.spec.layout.classes(group)) or retrain"
                )
        raise CheckpointMismatchError(
            f"the region's categorical groups {list(layout.group_names)} differ in order or "
            f"number from the model's {list(want.group_names)}; retrain or reorder them"
        )
    px = grid.pixel_size(region)
    if spec.pixel_size is not None and not math.isclose(px, spec.pixel_size, rel_tol=1e-6):
        raise CheckpointMismatchError(
            f"the region's pixel size is {px:g} but the model was trained at "
            f"{spec.pixel_size:g}; resample the region (rio.reproject(..., resolution=...)) "
            "or retrain the model on it"
        )
    norm = get_normalisation(region)
    for feat, stats in spec.normalisation.items():
        got = norm.get(feat)
        if got is None:
            raise CheckpointMismatchError(
                f"the region has no normalisation statistics for {feat!r} (attrs "
                "'normalisation'); standardise it with the model's statistics "
                "(model.spec.normalisation) and record them, or retrain"
            )
        for key in ("mean", "std"):
            if not math.isclose(got[key], stats[key], rel_tol=1e-6, abs_tol=1e-12):
                raise CheckpointMismatchError(
                    f"{feat!r} is standardised with {key} {got[key]:g} in the region but "
                    f"{stats[key]:g} in the model; restandardise the region with the model's "
                    "statistics (model.spec.normalisation) or retrain the model on it"
                )
    if spec.needs_offsets:
        grid.check_halo(spec.distances, px, spec.geometry.halo, what=f"the {spec.name} model")
        if require_offsets:
            try:
                select_offsets(region, spec.distances)
            except RegionError as err:
                raise CheckpointMismatchError(str(err)) from None


__all__ = ["check_fits", "validate_region"]
