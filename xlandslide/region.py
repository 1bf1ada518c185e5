"""The region data model: build, validate, normalisation, offsets lookup, the one-hot view.

A *region* is an :class:`xarray.Dataset` on a projected grid of square pixels holding

- ``dem``: float32 (y, x), metres, NaN outside the region;
- ``continuous``: float32 (layer, y, x), standardised continuous layers (slope, DEM,
  curvature, rainfall...) named by the ``layer`` coordinate, NaN outside the region; their
  statistics in ``attrs["normalisation"]`` = ``{layer: {"mean": float, "std": float}}``;
- ``categorical`` (optional): uint8 (group, y, x) class codes of the categorical groups
  (lithology, land cover...) named by the ``group`` coordinate; the class names of every
  group, in code order, in ``categorical.attrs["classes"]``; code
  :data:`~xlandslide.catalog.NODATA_CODE` (255) is "no class";
- ``label``: int8 (y, x): 1 landslide, 0 stable, -1 unknown (outside or unlabelled);
- optional ``uphill_dy`` / ``uphill_dx``: int8 (distance, y, x), the uphill offsets of
  :func:`xlandslide.uphill_offsets`, with a float ``distance`` coordinate in metres;
- coordinates ``y`` (descending) and ``x`` (ascending) and a CRS written with rioxarray.

That is 4 bytes a pixel per continuous layer and 1 per group: the paper's 94 features (2
continuous layers, 4 groups of 92 classes in all) take 12 bytes a pixel instead of 376 as
one-hot float32.  Models expand the codes to one-hot on the device;
:func:`onehot_features` gives the same one-hot view lazily, for users and for tests.

Every function here reads metadata only (:func:`onehot_features` is lazy); the checks of
the data model are in :mod:`xlandslide.validate`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from .catalog import NODATA_CODE, FeatureLayout
from .errors import LegacyStoreError, RegionError

#: Version of the region layout; stored as ``attrs["xlandslide_region"]``.
REGION_LAYOUT = 2

#: Variables that are not input features.
OFFSET_VARS = ("uphill_dy", "uphill_dx")

BUILD_HINT = (
    "build regions from your data with xlandslide.build_region (a DEM, continuous rasters, "
    "coded polygons or rasters with their class mappings, labels, a boundary) or "
    "`xlandslide ingest CONFIG.toml` (the same from a TOML file, see examples/ecuador.toml); "
    "a built-in one with xlandslide.synthetic_region; from arrays you already have with "
    "xlandslide.region.region_dataset; and store them with xlandslide.write_region"
)
LEGACY_HINT = (
    "it holds a one-hot 'features' (feature, y, x) variable: the layout of xlandslide 0.1. "
    "Rebuild it in the compact layout (continuous layers + categorical codes): "
    "`xlandslide synthetic STORE` for a synthetic region; for your own rasters "
    "xlandslide.region_from_dem(dem, label) or xlandslide.region.region_dataset(dem=..., "
    "label=..., layout=..., continuous=..., categorical=..., coords=...), then "
    "xlandslide.write_region(region, STORE)"
)


# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------
def region_dataset(
    *,
    dem,
    label,
    layout: FeatureLayout,
    continuous=None,
    categorical=None,
    coords: Mapping,
    normalisation: Mapping | None = None,
    attrs: Mapping | None = None,
) -> xr.Dataset:
    """A region Dataset from its arrays (numpy or dask) and its :class:`FeatureLayout`.

    ``dem`` (y, x) float32 metres, ``label`` (y, x) int8, ``continuous`` (layer, y, x)
    float32 (one layer per ``layout.continuous``), ``categorical`` (group, y, x) uint8 (one
    per ``layout.groups``); ``coords`` holds ``y`` and ``x``.  No CRS is written (callers add
    it with ``rio.write_crs``).  Nothing is computed.
    """
    data_vars = {
        "dem": (("y", "x"), dem, {"long_name": "elevation", "units": "m"}),
        "label": (
            ("y", "x"),
            label,
            {
                "long_name": "landslide label",
                "flag_values": [-1, 0, 1],
                "flag_meanings": "unknown stable landslide",
                "units": "1",
            },
        ),
    }
    extra = {}
    if layout.continuous:
        if continuous is None:
            raise RegionError(
                f"the layout names continuous layers {layout.continuous} but none came"
            )
        data_vars["continuous"] = (
            ("layer", "y", "x"),
            continuous,
            {"long_name": "continuous input layers (standardised)", "units": "1"},
        )
        extra["layer"] = np.array(layout.continuous, dtype=object)
    if layout.groups:
        if categorical is None:
            raise RegionError(f"the layout names groups {layout.group_names} but no codes came")
        data_vars["categorical"] = (
            ("group", "y", "x"),
            categorical,
            {
                "long_name": "categorical input layers (class codes)",
                "classes": {g: list(c) for g, c in layout.groups},
                "nodata": NODATA_CODE,
            },
        )
        extra["group"] = np.array(layout.group_names, dtype=object)
    all_attrs = dict(attrs or {})
    all_attrs["xlandslide_region"] = REGION_LAYOUT
    if normalisation is not None:
        all_attrs["normalisation"] = {
            str(k): {"mean": float(v["mean"]), "std": float(v["std"])}
            for k, v in normalisation.items()
        }
    return xr.Dataset(data_vars, coords={**dict(coords), **extra}, attrs=all_attrs)


# ---------------------------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------------------------
def feature_layout(ds: xr.Dataset) -> FeatureLayout:
    """The :class:`~xlandslide.catalog.FeatureLayout` of a region (metadata only).

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> layout = xlandslide.feature_layout(region)
    >>> layout.continuous, layout.group_names
    (('slope', 'dem'), ('lithology', 'land_cover', 'rock_family', 'rock_age'))
    >>> layout.n_classes, len(layout)  # 2 continuous + 44 + 5 + 5 + 38 classes
    ((44, 5, 5, 38), 94)
    >>> layout.names[:3]
    ('slope', 'dem', 'lithology_gneiss')
    """
    if "features" in ds.data_vars and "continuous" not in ds.data_vars:
        raise LegacyStoreError(f"this region is not readable: {LEGACY_HINT}")
    continuous = ()
    if "continuous" in ds.data_vars:
        continuous = tuple(_names(ds, "layer"))
    groups = ()
    if "categorical" in ds.data_vars:
        classes = ds["categorical"].attrs.get("classes")
        if isinstance(classes, str):
            classes = json.loads(classes)
        if not isinstance(classes, Mapping):
            raise RegionError(
                "'categorical' needs attrs['classes'] = {group: [class names in code order]}; "
                f"got {classes!r}; {BUILD_HINT}"
            )
        names = _names(ds, "group")
        missing = [g for g in names if g not in classes]
        if missing:
            raise RegionError(
                f"attrs['classes'] of 'categorical' lacks the class names of groups {missing}"
            )
        groups = tuple((g, tuple(classes[g])) for g in names)
    return FeatureLayout(continuous, groups)


def _names(ds, dim: str) -> list[str]:
    if dim not in ds.coords:
        raise RegionError(
            f"the region has no {dim!r} coordinate naming its layers; assign it with "
            f"ds.assign_coords({dim}=[...names...])"
        )
    values = ds[dim].values.tolist()
    if not all(isinstance(v, str) for v in values):
        raise RegionError(f"the {dim!r} coordinate must hold strings (names), got {values!r}")
    if len(set(values)) != len(values):
        dup = sorted({v for v in values if values.count(v) > 1})
        raise RegionError(f"names along {dim!r} must be unique; repeated: {dup}")
    return values


def get_normalisation(ds) -> dict:
    """The region's standardisation statistics ``{layer: {"mean": float, "std": float}}``.

    Stored as ``attrs["normalisation"]``, a mapping (what :func:`xlandslide.write_region`
    writes) or a JSON string (foreign stores).  Returns ``{}`` when absent.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> xlandslide.get_normalisation(region)
    {'slope': {'mean': 13.5, 'std': 12.0}, 'dem': {'mean': 800.0, 'std': 650.0}}
    >>> foreign = region.assign_attrs(normalisation='{"dem": {"mean": 800, "std": 650}}')
    >>> xlandslide.get_normalisation(foreign)  # a JSON string, read the same way
    {'dem': {'mean': 800.0, 'std': 650.0}}
    >>> xlandslide.get_normalisation(region.assign_attrs(normalisation=None))
    {}
    """
    raw = ds.attrs.get("normalisation")
    if raw is None:
        return {}
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise RegionError(
                f"attrs['normalisation'] is not valid JSON ({exc}); expected "
                "{layer: {'mean': float, 'std': float}}"
            ) from None
    try:
        return {str(k): {"mean": float(v["mean"]), "std": float(v["std"])} for k, v in raw.items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        raise RegionError(
            f"attrs['normalisation'] must map layer names to {{'mean': float, 'std': float}}, "
            f"got {raw!r}"
        ) from None


def region_crs(obj):
    """The CRS of ``obj`` (rioxarray), or ``None``."""
    try:
        import rioxarray  # noqa: F401  (registers .rio)

        return obj.rio.crs
    except Exception:  # no grid mapping, or rioxarray missing
        return None


def grid_coords(obj) -> dict:
    """The coordinates of ``obj`` on its grid: ``y``, ``x`` and the scalar ones (the CRS's
    ``spatial_ref``)."""
    return {k: v for k, v in obj.coords.items() if set(v.dims) <= {"y", "x"}}


def map_like(like, data, name: str, attrs: Mapping) -> xr.DataArray:
    """A (y, x) map of ``data`` (numpy or dask) on the grid of ``like`` (:func:`grid_coords`),
    named ``name``, with ``attrs``."""
    return xr.DataArray(data, dims=("y", "x"), coords=grid_coords(like), name=name, attrs=attrs)


def as_dask(var: xr.DataArray, chunk: int = 1024) -> xr.DataArray:
    """``var`` dask-backed (a lazily indexed or numpy variable is wrapped, not loaded)."""
    if var.chunks is not None:
        return var
    return var.chunk({d: (chunk if d in ("y", "x") else -1) for d in var.dims}, inline_array=True)


def read_padded(var, y0: int, y1: int, x0: int, x1: int, fill) -> np.ndarray:
    """Window ``[y0, y1) x [x0, x1)`` of a (..., y, x) variable, ``fill`` beyond its edges.

    Reads only the part inside the variable (one read of a lazily indexed store variable).
    """
    ny, nx = var.shape[-2:]
    sy0, sy1, sx0, sx1 = max(y0, 0), min(y1, ny), max(x0, 0), min(x1, nx)
    if (sy0, sy1, sx0, sx1) == (y0, y1, x0, x1):
        return np.asarray(var[..., y0:y1, x0:x1].values)
    out = np.full((*var.shape[:-2], y1 - y0, x1 - x0), fill, dtype=var.dtype)
    if sy1 > sy0 and sx1 > sx0:
        part = var[..., sy0:sy1, sx0:sx1].values
        out[..., sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = part
    return out


# ---------------------------------------------------------------------------------------------
# Uphill offsets held by a region (the one rule)
# ---------------------------------------------------------------------------------------------
def offset_distances(ds) -> tuple[float, ...]:
    """Looking distances (metres) whose uphill offsets the region holds; ``()`` if none.

    The one rule: both ``uphill_dy`` and ``uphill_dx`` present, with a ``distance``
    coordinate.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> xlandslide.offset_distances(region)
    ()
    >>> xlandslide.offset_distances(region.landslide.with_offsets([30, 100]))  # lazy offsets
    (30.0, 100.0)
    """
    if all(v in ds.data_vars for v in OFFSET_VARS) and "distance" in ds.coords:
        return tuple(float(d) for d in ds["distance"].values)
    return ()


def _match(distances, have) -> list[int | None]:
    return [
        next(
            (i for i, h in enumerate(have) if math.isclose(d, h, rel_tol=1e-9, abs_tol=1e-9)), None
        )
        for d in distances
    ]


def select_offsets(ds, distances: Sequence[float]) -> xr.Dataset:
    """The region restricted to the offsets of ``distances`` (in that order).

    Raises :class:`RegionError` naming the distances missing and the fix (``with_offsets``).
    """
    distances = tuple(float(d) for d in distances)
    have = offset_distances(ds)
    index = _match(distances, have)
    lacking = [d for d, i in zip(distances, index) if i is None]
    if lacking:
        held = f"it holds {list(have)} m" if have else "it holds none"
        raise RegionError(
            f"the region lacks uphill offsets for distances {lacking} m ({held}); add them "
            f"lazily with region = region.landslide.with_offsets({list(distances)}) "
            "(or `xlandslide offsets STORE --out NEW`)"
        )
    return ds.isel(distance=index)


def stacked_offsets(ds, distances: Sequence[float]):
    """(D, 2, y, x) int8 array (numpy or dask) of the offsets for ``distances``."""
    sub = select_offsets(ds, distances)
    dy, dx = sub["uphill_dy"].data, sub["uphill_dx"].data
    if hasattr(dy, "dask") or hasattr(dx, "dask"):
        import dask.array as da

        return da.stack([da.asarray(dy), da.asarray(dx)], axis=1)
    return np.stack([np.asarray(dy), np.asarray(dx)], axis=1)


def positive_ratio(label, mask=None) -> float:
    """Fraction of landslide pixels among the known ones (and ``mask``): the Naive model.

    Two counts, computed chunk by chunk (one ``dask.compute``); NaN when no pixel is known.
    """
    import dask

    label = label if isinstance(label, xr.DataArray) else xr.DataArray(label, dims=("y", "x"))
    label = as_dask(label)
    known = label >= 0
    if mask is not None:
        mask = mask if isinstance(mask, xr.DataArray) else xr.DataArray(mask, dims=("y", "x"))
        known = known & mask.astype(bool).data
    n, n_pos = dask.compute(known.sum().data, (known & (label == 1)).sum().data)
    return float(n_pos) / float(n) if n else math.nan


# ---------------------------------------------------------------------------------------------
# The one-hot view
# ---------------------------------------------------------------------------------------------
def expand_codes(continuous, codes, n_classes: Sequence[int]) -> np.ndarray:
    """(F, ...) float32 one-hot view of numpy blocks: continuous layers, then one-hot codes.

    A class's feature is 1 where the code is that class and 0 where it is another class of
    the group; every class of the group is NaN where the code is no data (255) — what the
    continuous layers hold outside the region.
    """
    cont = np.asarray(continuous, dtype=np.float32) if continuous is not None else None
    c = np.asarray(codes) if codes is not None else None
    shape = (cont if cont is not None else c).shape[1:]
    n_cont = 0 if cont is None else cont.shape[0]
    out = np.empty((n_cont + int(sum(n_classes)), *shape), dtype=np.float32)
    if cont is not None:
        out[:n_cont] = cont
    o = n_cont
    for g, n in enumerate(n_classes):
        k = np.arange(n, dtype=c.dtype).reshape((n,) + (1,) * len(shape))
        block = out[o : o + n]
        np.equal(c[g][None], k, out=block, casting="unsafe")
        block[:, c[g] >= n] = np.nan
        o += n
    return out


def onehot_features(ds: xr.Dataset, names: Sequence[str] | None = None) -> xr.DataArray:
    """The lazy one-hot view ``features`` (feature, y, x) float32 of a region.

    Features are :attr:`FeatureLayout.names` (continuous layers, then ``group_class``),
    or the subset ``names`` in that order.  Values: the standardised continuous layers; 1 /
    0 for classes; NaN outside the region (continuous NaN, code 255).  Dask-backed with the
    region's (y, x) chunks (1024 x 1024 for a region without dask); nothing is computed.
    This is exactly what every model sees after its first step (the code expansion).

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> features = xlandslide.onehot_features(region)  # lazy
    >>> features.dims, features.shape, features.dtype.name
    (('feature', 'y', 'x'), (94, 96, 96), 'float32')
    >>> lith = features.sel(feature=features.feature.str.startswith("lithology_"))
    >>> bool(((lith.sum("feature") == 1) | lith.isnull().all("feature")).all())  # one class
    True
    >>> xlandslide.onehot_features(region, ["dem", "lithology_gneiss"]).feature.values.tolist()
    ['dem', 'lithology_gneiss']
    """
    import dask.array as da

    layout = feature_layout(ds)
    arrays = []
    if layout.continuous:
        arrays.append(as_dask(ds["continuous"]).data)
    if layout.groups:
        arrays.append(as_dask(ds["categorical"]).data)
    yx = arrays[0].chunks[1:]
    arrays = [a.rechunk((-1, *yx)) for a in arrays]
    has_cont, has_cat = bool(layout.continuous), bool(layout.groups)
    n_classes = layout.n_classes

    def block(*blocks):
        cont = blocks[0] if has_cont else None
        codes = blocks[-1] if has_cat else None
        return expand_codes(cont, codes, n_classes)

    data = da.map_blocks(
        block,
        *arrays,
        chunks=((len(layout),), *yx),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), np.float32),
        name="xlandslide-onehot-" + _token(ds, layout),
    )
    out = xr.DataArray(
        data,
        dims=("feature", "y", "x"),
        coords={**grid_coords(ds), "feature": np.array(layout.names, dtype=object)},
        name="features",
        attrs={"long_name": "input features (continuous standardised, classes one-hot)"},
    )
    if names is not None:
        out = out.sel(feature=list(names))
    return out


def _token(ds, layout) -> str:
    from dask.base import tokenize

    parts = [layout]
    for v in ("continuous", "categorical"):
        if v in ds.data_vars:
            var = ds[v]
            parts.append(var.data if var.chunks is not None else id(var.variable._data))
    return tokenize(*parts)


__all__ = [
    "OFFSET_VARS",
    "REGION_LAYOUT",
    "expand_codes",
    "feature_layout",
    "get_normalisation",
    "grid_coords",
    "map_like",
    "offset_distances",
    "onehot_features",
    "positive_ratio",
    "read_padded",
    "region_crs",
    "region_dataset",
    "select_offsets",
    "stacked_offsets",
]
