"""Uphill offsets and aligned features: lazy, chunking-independent, numpy or dask.

The paper's aligned ("uphill") features read, for every pixel and looking distance ``d``,
a few features at the highest pixel on a circle of radius ``d`` around it.  They are
built in two steps:

1. :func:`uphill_offsets` computes, per pixel and distance, only the offset ``(dy, dx)``
   of that uphill point as int8 — 2 bytes per pixel and distance.
2. :func:`aligned_features` gathers features at those offsets where they are needed
   (or a model gathers them on the device; materialising every aligned channel costs
   4 bytes per pixel, feature and distance).

The ring, its order and the tie rule are defined in :mod:`xlandslide.kernels.uphill`:
the ring of radius ``r = round(d / pixel)`` is every integer offset with
``round(hypot(dy, dx)) == r``, visited row-major (``dy`` then ``dx`` ascending); NaN and
off-array elevations are skipped; ties keep the first offset in that order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ._dispatch import apply_stencil, is_dask
from .errors import (
    ConfigError,
    GridError,
    HaloError,
    InputTypeError,
    NameNotFoundError,
    RegionError,
)
from .grid import HALO, check_halo, check_same_grid, pixel_size, radius_pixels

#: Human-readable definition of the ring, stored in the attrs of the offsets.
RING_DEFINITION = (
    "integer offsets (dy, dx) with round(hypot(dy, dx)) == radius_pixels, "
    "radius_pixels = round(distance / pixel_size), visited in row-major order "
    "(dy ascending, then dx ascending); NaN and off-grid elevations are skipped; "
    "ties keep the first offset in that order; (0, 0) = no valid elevation on the ring"
)

#: Largest offset an int8 holds.
_INT8_MAX = int(np.iinfo(np.int8).max)


def format_distance(distance: float) -> str:
    """A distance as written in aligned feature names: ``100.0 -> "100"``, ``12.5 -> "12.5"``."""
    d = float(distance)
    return str(int(d)) if d.is_integer() else repr(d)


def aligned_feature_names(names: Sequence[str], distances: Sequence[float]) -> list[str]:
    """Names of aligned features, distance-major: ``[f"{n}@{d}m" for d in distances for n]``.

    Examples
    --------
    >>> aligned_feature_names(["slope", "dem"], [30.0, 100.0])
    ['slope@30m', 'dem@30m', 'slope@100m', 'dem@100m']
    """
    return [f"{n}@{format_distance(d)}m" for d in distances for n in names]


def uphill_offsets(dem: xr.DataArray, distances=(30, 100, 300), *, halo: int = HALO) -> xr.Dataset:
    """Offset from every pixel to the highest pixel on a ring at each looking distance.

    Parameters
    ----------
    dem : xarray.DataArray
        Elevations with dims ``(y, x)`` and regularly spaced, square pixels (``y``/``x``
        coordinates in map units).  NaN marks missing data (open GeoTIFFs with
        ``rioxarray.open_rasterio(path, masked=True)``).  Numpy- or dask-backed; integer
        DEMs are cast to float.
    distances : sequence of float
        Looking distances in map units (metres), default the paper's ``(30, 100, 300)``.
    halo : int
        Largest radius allowed, in pixels (the package's halo, 64); the overlap depth of
        the dask path.  Use the halo of the patches the offsets will serve.

    Returns
    -------
    xarray.Dataset
        ``dy`` and ``dx``: int8 ``(distance, y, x)``, the row and column offset of the
        uphill point (``dy > 0`` is down the array, ``dx > 0`` right); ``(0, 0)`` where the
        ring holds no valid elevation.  Coordinate ``distance`` (float64, metres), the
        DEM's ``y``/``x`` and CRS (``spatial_ref``).  Attributes ``radius_pixels``,
        ``pixel_size``, ``ring`` (the definition) and ``halo``.  Lazy (dask-backed) when
        ``dem`` is.

    Raises
    ------
    GridError
        ``dem`` is not ``(y, x)``, lacks coordinates, or its pixels are not square and
        regular.
    HaloError
        A distance gives a radius below 1 pixel or above ``halo``
        (:func:`xlandslide.grid.check_halo`, the same check as in ``fit`` and ``predict``).

    Notes
    -----
    The radius is ``round(distance / pixel_size)``; the ring, its order and the tie rule
    are those of :func:`xlandslide.ring_offsets` (see :mod:`xlandslide.kernels.uphill`).
    A dask DEM is processed block by block with an overlap (``map_overlap`` depth) of
    ``halo`` pixels, which covers every allowed radius, NaN beyond the DEM's edges: the
    result is identical to the numpy result for any chunking.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)  # 10 m pixels
    >>> offs = xlandslide.uphill_offsets(region["dem"], (30, 100))
    >>> offs["dy"].dims, offs["dy"].dtype.name, offs.attrs["radius_pixels"]
    (('distance', 'y', 'x'), 'int8', [3, 10])
    >>> r = offs.attrs["radius_pixels"][1]  # every offset lies on its ring
    >>> d = (offs["dy"].sel(distance=100.0) ** 2 + offs["dx"].sel(distance=100.0) ** 2) ** 0.5
    >>> bool(((d.round() == r) | (d == 0)).all())
    True
    """
    from .kernels.uphill import offsets_block

    dem = _check_dem(dem)
    pixel = pixel_size(dem)
    distances = _check_distances(distances)
    check_halo(distances, pixel, halo, what="uphill_offsets")
    radii = [radius_pixels(d, pixel) for d in distances]
    if max(radii) > _INT8_MAX:
        raise HaloError(
            f"a radius of {max(radii)} pixels does not fit the int8 offsets (at most "
            f"{_INT8_MAX}); use shorter distances or a coarser grid"
        )
    data = dem.data
    if data.dtype.kind != "f" or data.dtype.itemsize < 4:
        data = data.astype(np.result_type(data.dtype, np.float32))
    out = apply_stencil(
        offsets_block,
        data,
        depth=halo,  # the map_overlap depth: the halo, which covers every radius
        dtype=np.int8,
        leading=(2, len(radii)),
        name="xlandslide-uphill-offsets",
        radii=tuple(radii),
        threads=1 if is_dask(data) else None,
    )
    var_attrs = {
        "units": "pixels",
        "radius_pixels": list(radii),
        "ring": RING_DEFINITION,
    }
    dims = ("distance", "y", "x")
    ds = xr.Dataset(
        {
            "dy": (
                dims,
                out[0],
                {"long_name": "row offset to the uphill point (positive = down)", **var_attrs},
            ),
            "dx": (
                dims,
                out[1],
                {"long_name": "column offset to the uphill point (positive = right)", **var_attrs},
            ),
        },
        coords={
            "distance": (
                "distance",
                np.asarray(distances, dtype="float64"),
                {"units": "m", "long_name": "looking distance"},
            ),
            **_grid_coords(dem),
        },
        attrs={
            "radius_pixels": list(radii),
            "pixel_size": pixel,
            "ring": RING_DEFINITION,
            "halo": int(halo),
        },
    )
    return _with_grid_mapping(ds, dem, ("dy", "dx"))


def aligned_features(
    features: xr.DataArray, offsets: xr.Dataset, names: str | Sequence[str]
) -> xr.DataArray:
    """Features ``names`` read at the uphill point of every pixel, for every distance.

    Parameters
    ----------
    features : xarray.DataArray
        ``(feature, y, x)`` with a ``feature`` coordinate of names (a region's one-hot
        view, ``region.landslide.features()``).  Numpy- or dask-backed.
    offsets : xarray.Dataset
        Uphill offsets from :func:`uphill_offsets` (``dy``/``dx``, or a region's
        ``uphill_dy``/``uphill_dx``), on the same grid as ``features``.
    names : str or sequence of str
        Features to read (for example the paper's 22 with ``|weight| >= 0.2``).

    Returns
    -------
    xarray.DataArray
        ``aligned_features``: float32 ``(feature, y, x)`` with feature names such as
        ``slope@100m``, distance-major (``for d in distances: for n in names``).  NaN where
        the offset is ``(0, 0)`` (no valid elevation on the ring).  Lazy when either input
        is dask-backed.

    Raises
    ------
    KeyError
        A name is not in ``features.feature``.
    GridMismatchError
        ``features`` and ``offsets`` are not on the same grid (size, coordinates, CRS).
    RegionError
        Wrong dimensions or dtypes.

    Notes
    -----
    The gather reaches as far as the largest ring, ``round(max(distance) / pixel)`` pixels
    (the offsets of :func:`uphill_offsets` lie on their ring), which is the overlap depth of
    the dask path: the result is the same for any chunking.  Offsets that do not follow
    that contract (farther than their ring) are refused by
    ``validate_region(region, check_values=True)``.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)  # 10 m pixels
    >>> features = xlandslide.onehot_features(region)
    >>> offs = xlandslide.uphill_offsets(region["dem"], (30, 100))
    >>> al = xlandslide.aligned_features(features, offs, ["slope", "dem"])  # lazy
    >>> al.feature.values.tolist(), al.shape
    (['slope@30m', 'dem@30m', 'slope@100m', 'dem@100m'], (4, 96, 96))

    Each value is the feature at the pixel its offset points to:

    >>> at = offs.sel(distance=100.0).isel(y=50, x=50)
    >>> dy, dx = int(at["dy"]), int(at["dx"])
    >>> bool(al.sel(feature="dem@100m")[50, 50] == features.sel(feature="dem")[50 + dy, 50 + dx])
    True
    """
    from .kernels.uphill import aligned_block

    features = _check_features(features)
    dy, dx = _offset_vars(offsets)
    names = _check_names(names, features)
    check_same_grid(features, dy, "features and offsets")
    distances = [float(d) for d in dy["distance"].values]
    # the gather reaches as far as the largest ring: offsets of distance d lie on the ring of
    # radius round(d / pixel), so that is the overlap depth (uphill_offsets allows up to its
    # ``halo``, which may exceed the package HALO)
    pixel = pixel_size(features)
    reach = max(radius_pixels(d, pixel) for d in distances)
    data = features.sel(feature=names).data
    if data.dtype != np.float32:
        data = data.astype(np.float32)
    lazy = any(is_dask(a) for a in (data, dy.data, dx.data))
    out = apply_stencil(
        aligned_block,
        data,
        dy.data,
        dx.data,
        depth=reach,
        dtype=np.float32,
        leading=(len(distances) * len(names),),
        name="xlandslide-aligned-features",
        threads=1 if lazy else None,
    )
    result = xr.DataArray(
        out,
        dims=("feature", "y", "x"),
        coords={"feature": aligned_feature_names(names, distances), **_grid_coords(features)},
        name="aligned_features",
        attrs={
            "long_name": "features read at the uphill point",
            "source_features": list(names),
            "distances": distances,
        },
    )
    return _with_grid_mapping(result, features)


# ---------------------------------------------------------------- input checks and helpers


def _check_dem(dem) -> xr.DataArray:
    if not isinstance(dem, xr.DataArray):
        raise InputTypeError(
            f"dem must be an xarray.DataArray with dims ('y', 'x') and coordinates, got "
            f"{type(dem).__name__}; wrap an array with xr.DataArray(a, dims=('y', 'x'), "
            "coords={'y': ..., 'x': ...}) or open a GeoTIFF with rioxarray.open_rasterio"
        )
    if set(dem.dims) != {"y", "x"}:
        hint = ""
        extra = [d for d in dem.dims if d not in ("y", "x")]
        if extra:
            hint = f"; select one layer first, e.g. dem.isel({extra[0]}=0) or dem.sel(band=...)"
        raise GridError(f"dem must have dims ('y', 'x'), got {dem.dims}{hint}")
    dem = dem.transpose("y", "x")
    if dem.dtype.kind not in "iuf":
        raise RegionError(
            f"dem must hold numbers (elevations in metres), got dtype {dem.dtype}; "
            "convert it with dem.astype('float32')"
        )
    return dem


def _check_distances(distances) -> list[float]:
    if np.ndim(distances) == 0:
        distances = [distances]
    out = [float(d) for d in distances]
    if not out:
        raise ConfigError("distances is empty; give at least one looking distance in metres")
    bad = [d for d in out if not math.isfinite(d) or d <= 0]
    if bad:
        raise ConfigError(f"distances must be positive and finite (metres), got {bad}")
    if len(set(out)) != len(out):
        raise ConfigError(f"distances must be unique, got {out}")
    return out


def _check_features(features) -> xr.DataArray:
    if not isinstance(features, xr.DataArray):
        raise InputTypeError(
            f"features must be an xarray.DataArray (feature, y, x), got "
            f"{type(features).__name__}; pass a region's ds['features']"
        )
    if set(features.dims) != {"feature", "y", "x"}:
        raise RegionError(
            f"features must have dims ('feature', 'y', 'x'), got {features.dims}; "
            "stack single layers with xr.concat(layers, dim='feature')"
        )
    if "feature" not in features.coords:
        raise RegionError(
            "features has no 'feature' coordinate; name the layers with "
            "features.assign_coords(feature=[...names...])"
        )
    if features.dtype.kind not in "iuf":
        raise RegionError(f"features must hold numbers, got dtype {features.dtype}")
    return features.transpose("feature", "y", "x")


def _offset_vars(offsets) -> tuple[xr.DataArray, xr.DataArray]:
    if not isinstance(offsets, xr.Dataset):
        raise InputTypeError(
            f"offsets must be the xarray.Dataset returned by uphill_offsets, got "
            f"{type(offsets).__name__}"
        )
    for ky, kx in (("dy", "dx"), ("uphill_dy", "uphill_dx")):
        if ky in offsets and kx in offsets:
            dy, dx = offsets[ky], offsets[kx]
            break
    else:
        raise RegionError(
            "offsets needs variables 'dy' and 'dx' (or a region's 'uphill_dy' and "
            f"'uphill_dx'), got {list(offsets.data_vars)}; compute them with uphill_offsets"
        )
    for v in (dy, dx):
        if set(v.dims) != {"distance", "y", "x"}:
            raise RegionError(
                f"offset {v.name!r} must have dims ('distance', 'y', 'x'), got {v.dims}"
            )
        if v.dtype.kind not in "iu":
            raise RegionError(f"offset {v.name!r} must be integer (int8), got {v.dtype}")
    if "distance" not in dy.coords:
        raise RegionError("offsets have no 'distance' coordinate (metres)")
    if dy.sizes["distance"] == 0:
        raise RegionError("offsets hold no distance")
    dy = dy.transpose("distance", "y", "x")
    dx = dx.transpose("distance", "y", "x")
    if dy.data.dtype != np.int8:
        dy = dy.astype(np.int8)
    if dx.data.dtype != np.int8:
        dx = dx.astype(np.int8)
    return dy, dx


def _check_names(names, features: xr.DataArray) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = [str(n) for n in names]
    if not names:
        raise ConfigError("names is empty; give at least one feature name to align")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"names must be unique, got duplicates {dup}")
    have = {str(n) for n in features["feature"].values}
    missing = [n for n in names if n not in have]
    if missing:
        raise NameNotFoundError(
            f"features {missing} not found in the 'feature' coordinate "
            f"({len(have)} names); pick names from features.feature.values"
        )
    return names


def _grid_mapping_name(obj) -> str:
    return obj.encoding.get("grid_mapping", obj.attrs.get("grid_mapping", "spatial_ref"))


def _grid_coords(obj: xr.DataArray) -> dict:
    """Coordinates to carry to a result on the same grid: y, x, 2-D (y, x) ones, the CRS."""
    gm = _grid_mapping_name(obj)
    keep = {}
    for name, coord in obj.coords.items():
        if not set(coord.dims) <= {"y", "x"}:
            continue
        if name in ("y", "x") or coord.ndim == 2 or name == gm:
            keep[name] = coord.variable
    return keep


def _with_grid_mapping(obj, source: xr.DataArray, variables=None):
    """Point ``obj`` (or its ``variables``) at the source's grid-mapping coordinate."""
    gm = _grid_mapping_name(source)
    if gm not in obj.coords:
        return obj
    targets = [obj.variable] if variables is None else [obj.variables[v] for v in variables]
    for t in targets:
        t.encoding["grid_mapping"] = gm
    return obj
