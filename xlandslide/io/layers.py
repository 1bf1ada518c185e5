"""Layers onto a region's grid: how each source of :func:`~xlandslide.build_region` becomes
a (y, x) dask array on the DEM's grid, with its value checks run chunk by chunk.

- :class:`CategoricalLayer`: a categorical group's source and its class mapping;
- the DEM (the grid: projected, metres, north up), the continuous layers (slope computed
  from the DEM unless given), the categorical codes (polygons burnt, rasters looked up), the
  labels (polygons, points or a raster), each checked or reprojected onto the grid;
- the block functions that refuse bad values when a block is computed (labels other than
  1 / 0 / unknown, codes a mapping lacks, a slope outside 0..90 degrees).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..catalog import LABEL_LANDSLIDE, LABEL_STABLE, LABEL_UNKNOWN, NODATA_CODE
from ..errors import ConfigError, GridError, LabelError, LayerError
from ..mapping import ClassMapping, class_mapping
from .plausible import DEM_RANGE, check_dem_range, check_pixel_plausible
from .raster import (
    READ_CHUNK,
    RasterLayer,
    align_raster,
    as_raster_layer,
    block_location,
    check_nodata,
    check_projected,
    is_raster_path,
    read_raster,
)
from .vector import (
    UNMAPPED,
    burn_points,
    point_flags,
    polygon_codes,
    rasterize,
    read_vector,
    to_grid_crs,
    unmapped_codes_error,
)

#: DEM-derived continuous layers :func:`build_region` can put first.
TERRAIN = ("slope", "dem")


@dataclass(frozen=True)
class CategoricalLayer:
    """A categorical group's source and how its codes become classes.

    Parameters
    ----------
    source : path, geopandas.GeoDataFrame, xarray.DataArray or RasterLayer
        Coded polygons (any vector file geopandas reads) or a raster of codes.  Paths are
        rasters by their suffix (``.tif``, ``.vrt``... see ``RASTER_SUFFIXES``), else vectors.
    mapping : ClassMapping, mapping or str
        How source codes become classes: a :class:`~xlandslide.catalog.ClassMapping`
        (:func:`~xlandslide.catalog.class_mapping`), a ``{code: class}`` dict (your own
        classes, in order of first appearance), or a preset name (``"inspire"``: the codes
        are INSPIRE class names; ``"corine"``: CORINE Land Cover codes).
    column : str, optional
        The attribute holding the codes (polygons; required for them).
    band, nodata
        For a raster source: its band and undeclared no-data value (see
        :class:`~xlandslide.io.raster.RasterLayer`); no-data pixels get no class (255).
    unmapped : {None, "unknown", "nodata"}
        What to do with a code the mapping lacks: ``None`` (default) refuses it
        (:class:`~xlandslide.errors.UnmappedCodeError`); ``"unknown"`` gives it the
        mapping's unknown class; ``"nodata"`` no class (255).

    Examples
    --------
    A raster of your own codes (1 valley, 2 ridge) with your own classes:

    >>> import xarray as xr
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> dem = region["dem"]
    >>> codes = xr.where(dem > 800, 2, 1).astype("uint8").rio.write_crs(dem.rio.crs)
    >>> layer = xlandslide.CategoricalLayer(codes, mapping={1: "valley", 2: "ridge"})
    >>> built = xlandslide.build_region(dem, categorical={"terrain": layer})
    >>> xlandslide.feature_layout(built).groups
    (('terrain', ('valley', 'ridge')),)
    >>> terrain = built["categorical"].sel(group="terrain")  # class 1 (ridge) above 800 m
    >>> valid = built["continuous"].sel(layer="slope").notnull()
    >>> bool(((terrain == 1) == ((dem > 800) & valid)).all())
    True
    """

    source: object
    _: dataclasses.KW_ONLY
    mapping: object = None
    column: str | None = None
    band: int | str | None = None
    nodata: float | None = None
    unmapped: str | None = None

    def __post_init__(self):
        if self.unmapped not in UNMAPPED:
            raise ConfigError(
                f"unmapped must be one of {list(UNMAPPED)} (None refuses codes the mapping "
                f"lacks), got {self.unmapped!r}"
            )

    def class_mapping(self, group: str) -> ClassMapping:
        """The layer's :class:`~xlandslide.catalog.ClassMapping` for ``group``."""
        m = self.mapping
        if isinstance(m, ClassMapping):
            out = m
        elif isinstance(m, str):
            out = class_mapping(group, preset=m)
        elif isinstance(m, Mapping):
            out = class_mapping(group, codes=m)
        else:
            raise ConfigError(
                f"categorical group {group!r} needs a mapping from its codes to classes: "
                "mapping=class_mapping(...), a {code: class} dict, or a preset "
                f"('inspire', 'corine'); got {m!r}"
            )
        if self.unmapped == "unknown" and out.unknown is None:
            raise ConfigError(
                f"categorical group {group!r}: unmapped='unknown' but its classes have no "
                "unknown class; name one (class_mapping(..., unknown=CLASS)) or use "
                "unmapped='nodata'"
            )
        return out


def _is_vector(source) -> bool:
    if isinstance(source, (xr.DataArray, RasterLayer)):
        return False
    if isinstance(source, (str, os.PathLike)):
        return not is_raster_path(source)
    return hasattr(source, "geometry")  # a GeoDataFrame / GeoSeries


def describe_source(source) -> str:
    if isinstance(source, RasterLayer):
        return source.describe()
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__}>"


# ---------------------------------------------------------------------------------------------
# Block functions (run chunk by chunk when the region is computed)
# ---------------------------------------------------------------------------------------------
def _codes_block(x, *, code_keys, code_values, fallback, mapping, what, block_info=None):
    """Source codes (float, NaN = no data) -> uint8 class codes."""
    keys, values = code_keys, code_values
    out = np.full(x.shape, NODATA_CODE, dtype=np.uint8)
    known = ~np.isnan(x)
    if keys.size:
        idx = np.clip(np.searchsorted(keys, x), 0, keys.size - 1)
        hit = known & (keys[idx] == x)
        out[hit] = values[idx[hit]]
    else:
        hit = np.zeros(x.shape, bool)
    miss = known & ~hit
    if miss.any():
        if fallback is None:
            codes, counts = np.unique(x[miss], return_counts=True)
            found = {
                (int(c) if float(c).is_integer() else float(c)): int(n)
                for c, n in zip(codes, counts)
            }
            raise unmapped_codes_error(what + block_location(block_info), found, mapping, "pixels")
        out[miss] = fallback
    return out


def _label_block(x, *, what, block_info=None):
    """A label raster (float, NaN = no data) -> int8 1 / 0 / -1, strictly."""
    ok = np.isnan(x) | (x == 1) | (x == 0) | (x == LABEL_UNKNOWN)
    if not ok.all():
        bad = np.unique(x[~ok])
        where = block_location(block_info)
        raise LabelError(
            f"{what} holds {bad[:5].tolist()} in {int((~ok).sum())} pixels{where}; "
            "labels are 1 (landslide), 0 (stable) and -1, NaN or the raster's declared no-data "
            "value (unknown).  Recode it, declare its no-data value (RasterLayer(path, "
            "nodata=...)), or build it with labels_from_points / labels_from_polygons"
        )
    return np.where(x == 1, LABEL_LANDSLIDE, np.where(x == 0, LABEL_STABLE, LABEL_UNKNOWN)).astype(
        np.int8
    )


def _slope_range_block(x, *, what, block_info=None):
    """A given slope layer must be in degrees (0..90)."""
    finite = x[np.isfinite(x)]
    if finite.size and (finite.min() < 0 or finite.max() > 90):
        where = block_location(block_info)
        raise LayerError(
            f"{what} holds values from {finite.min():g} to {finite.max():g}{where}; slope is "
            "in degrees, 0..90.  A slope in percent converts with "
            "np.degrees(np.arctan(percent / 100)); or leave slope out and it is computed "
            "from the DEM"
        )
    return x


# ---------------------------------------------------------------------------------------------
# build_region
# ---------------------------------------------------------------------------------------------
def open_dem(dem, chunks, dem_range=DEM_RANGE):
    layer = as_raster_layer(dem, "the DEM")
    da = read_raster(layer, chunks=chunks, what="the DEM")
    eager = da.chunks is None and chunks is None
    check_projected(da)
    check_pixel_plausible(da)  # GridError: missing, irregular, non-square; CRSUnitsError
    if da["y"].values[1] > da["y"].values[0] or da["x"].values[1] < da["x"].values[0]:
        raise GridError(
            "the DEM must be north up: 'y' descending and 'x' ascending; flip it with "
            "dem.sortby('y', ascending=False).sortby('x')"
        )
    if chunks is not None or da.chunks is None:
        da = da.chunk({"y": chunks or READ_CHUNK, "x": chunks or READ_CHUNK})
    return check_dem_range(check_nodata(da, "the DEM"), dem_range), eager, layer


def label_array(labels, column, dem, reproject):
    import dask.array as da

    if labels is None:
        return da.full(dem.shape, LABEL_UNKNOWN, dtype=np.int8, chunks=dem.chunks)
    if not _is_vector(labels):
        lab = align_raster(labels, dem, kind="label", reproject=reproject, what="the label raster")
        return lab.data.map_blocks(_label_block, what="the label raster", dtype=np.int8)
    gdf = to_grid_crs(read_vector(labels, "the labels"), dem, reproject=reproject, what="labels")
    kinds = set(gdf.geometry.geom_type.dropna().unique())
    if kinds <= {"Point"} and kinds:
        if column is None:
            raise LayerError(
                "the labels are points: name their presence/absence column with "
                "label_column=... (boolean or 0/1; True / 1 for a landslide)"
            )
        values = np.where(point_flags(gdf, column), LABEL_LANDSLIDE, LABEL_STABLE)
        return burn_points(gdf.geometry, dem, values.astype(np.int8), fill=LABEL_UNKNOWN)
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise LayerError(
            f"the labels hold {sorted(kinds)} geometries; give landslide polygons (every "
            "polygon a landslide) or presence/absence points, not a mix"
        )
    if column is not None:
        raise LayerError(
            f"label_column={column!r} is for presence/absence points; the labels are "
            "polygons, each a landslide (pixels outside them are stable): drop label_column"
        )
    burnt = rasterize(gdf.geometry, dem, fill=0)
    return (burnt == 1).astype(np.int8)  # 1 landslide, 0 stable (unknown: outside valid)


@dataclass(frozen=True)
class SourceCodes:
    """The source codes of a categorical raster, to count in the statistics pass: the raw
    codes (float, NaN: no data), the mapping's numeric codes (sorted) and their classes,
    and the class of the others (``fallback``; None: refused)."""

    raw: object
    keys: np.ndarray
    values: np.ndarray
    fallback: int | None


def categorical_codes(group, layer, dem, reproject):
    """``(codes, mapping, source)`` of a categorical group: its uint8 class codes on the
    grid, its :class:`~xlandslide.mapping.ClassMapping`, and its source codes (polygons:
    ``{code: class code}`` of those on the grid; a raster: :class:`SourceCodes`)."""
    if not isinstance(layer, CategoricalLayer):
        raise ConfigError(
            f"categorical group {group!r}: expected xlandslide.CategoricalLayer(source, "
            f"mapping=..., column=...), got {type(layer).__name__}"
        )
    mapping = layer.class_mapping(group)
    what = f"categorical layer {group!r}"
    if _is_vector(layer.source):
        if layer.column is None:
            raise ConfigError(f"{what} is a polygon layer: name its code column (column=...)")
        gdf = read_vector(layer.source, what)
        gdf = to_grid_crs(gdf, dem, reproject=reproject, what=what)
        seen = {}
        codes = polygon_codes(
            gdf, layer.column, mapping, dem, unmapped=layer.unmapped, what=what, record=seen
        )
        return codes, mapping, seen
    src = RasterLayer(
        layer.source.source if isinstance(layer.source, RasterLayer) else layer.source,
        band=layer.band if layer.band is not None else getattr(layer.source, "band", None),
        nodata=layer.nodata if layer.nodata is not None else getattr(layer.source, "nodata", None),
    )
    raw = align_raster(src, dem, kind="categorical", reproject=reproject, what=what, dtype="f8")
    keys, values = mapping.numeric_table()
    fallback = {None: None, "nodata": NODATA_CODE}.get(layer.unmapped)
    if layer.unmapped == "unknown":
        fallback = mapping.classes.index(mapping.unknown)
    codes = raw.data.map_blocks(
        _codes_block,
        code_keys=keys,
        code_values=values,
        fallback=fallback,
        mapping=mapping,
        what=what,
        dtype=np.uint8,
    )
    return codes, mapping, SourceCodes(raw.data, keys, values, fallback)


def continuous_layers(dem, continuous, terrain, reproject):
    """[(name, DataArray)] in region order: the terrain layers, then the others."""
    from ..terrain import slope as horn_slope

    given = dict(continuous or {})
    bad = [t for t in terrain if t not in TERRAIN]
    if bad or len(set(terrain)) != len(terrain):
        raise ConfigError(f"terrain must list distinct layers among {TERRAIN}, got {terrain!r}")
    if "dem" in given:
        raise ConfigError(
            "a continuous layer may not be named 'dem': the DEM is the grid (and the layer "
            "'dem' when terrain holds it); rename it"
        )
    layers = []
    for name, source in given.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"continuous layer names must be non-empty strings, got {name!r}")
        what = f"continuous layer {name!r}"
        da = align_raster(source, dem, kind="continuous", reproject=reproject, what=what)
        da = check_nodata(da, what)
        if name == "slope":
            data = da.data.map_blocks(_slope_range_block, what=what, dtype=np.float32)
            da = da.copy(data=data)
        layers.append((name, da))
    own = dict(layers)
    out = []
    for t in terrain:
        if t == "dem":
            out.append(("dem", dem))
        else:
            out.append(("slope", own.pop("slope") if "slope" in own else horn_slope(dem)))
    return out + list(own.items())


__all__ = ["TERRAIN", "CategoricalLayer"]
