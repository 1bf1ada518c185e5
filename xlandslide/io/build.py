"""Regions from real data: :func:`build_region` (a DEM, rasters, coded polygons, labels).

Everything is brought onto the DEM's grid — rasters checked against it (or reprojected on
request), vector layers rasterised chunk by chunk — and the region is built lazily, with the
DEM's chunks.  One dask pass computes the normalisation statistics of every continuous layer
(and runs the value checks of every layer); nothing else is computed.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..catalog import (
    LABEL_LANDSLIDE,
    LABEL_STABLE,
    LABEL_UNKNOWN,
    NODATA_CODE,
    ClassMapping,
    FeatureLayout,
    class_mapping,
)
from ..errors import ConfigError, GridError, LabelError, LayerError, RegionError
from ..region import region_dataset
from .raster import (
    READ_CHUNK,
    RasterLayer,
    _where,
    align_raster,
    as_raster_layer,
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


def _describe(source) -> str:
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
            raise unmapped_codes_error(what + _where(block_info), found, mapping, "pixels")
        out[miss] = fallback
    return out


def _label_block(x, *, what, block_info=None):
    """A label raster (float, NaN = no data) -> int8 1 / 0 / -1, strictly."""
    ok = np.isnan(x) | (x == 1) | (x == 0) | (x == LABEL_UNKNOWN)
    if not ok.all():
        bad = np.unique(x[~ok])
        raise LabelError(
            f"{what} holds {bad[:5].tolist()} in {int((~ok).sum())} pixels{_where(block_info)}; "
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
        raise LayerError(
            f"{what} holds values from {finite.min():g} to {finite.max():g}"
            f"{_where(block_info)}; slope is in degrees, 0..90.  A slope in percent converts "
            "with np.degrees(np.arctan(percent / 100)); or leave slope out and it is "
            "computed from the DEM"
        )
    return x


def _block_stats(dem, *arrays, n_cont, n_groups, has_inside):
    """Per-block sums of the one pass: valid count, label counts, per layer (mean, M2) and
    per group the valid pixels without a class; shape (1, 1, K).  Every input is a (y, x)
    block: no stacked intermediate, so the pass holds little more than the blocks in flight.
    """
    cont = arrays[:n_cont]
    label = arrays[n_cont]
    codes = arrays[n_cont + 1 : n_cont + 1 + n_groups]
    valid = _valid(dem, *cont, *(arrays[-1:] if has_inside else ()))
    n = int(valid.sum())
    lab = label[valid]
    out = [n, int((lab == LABEL_LANDSLIDE).sum()), int((lab == LABEL_STABLE).sum())]
    for x in cont:
        x = x[valid].astype(np.float64)
        mean = float(x.mean()) if n else 0.0
        out += [mean, float(((x - mean) ** 2).sum()) if n else 0.0]
    for c in codes:
        out.append(int((c[valid] == NODATA_CODE).sum()))
    return np.asarray(out, dtype=np.float64).reshape(1, 1, -1)


def _valid(dem, *layers):
    """Valid pixels: a finite DEM and finite layers (the last, when boolean, is the inside
    of the boundary)."""
    valid = np.isfinite(dem)
    for x in layers:
        valid &= x if x.dtype == bool else np.isfinite(x)
    return valid


def _standardise(cont, valid, *, mean, std):
    out = (cont - mean[:, None, None]) / std[:, None, None]
    out[:, ~valid] = np.nan
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# build_region
# ---------------------------------------------------------------------------------------------
def _open_dem(dem, chunks):
    layer = as_raster_layer(dem, "the DEM")
    da = read_raster(layer, chunks=chunks, what="the DEM")
    eager = da.chunks is None and chunks is None
    check_projected(da)
    from ..grid import pixel_size

    pixel_size(da)  # GridError: missing, irregular or non-square
    if da["y"].values[1] > da["y"].values[0] or da["x"].values[1] < da["x"].values[0]:
        raise GridError(
            "the DEM must be north up: 'y' descending and 'x' ascending; flip it with "
            "dem.sortby('y', ascending=False).sortby('x')"
        )
    if chunks is not None or da.chunks is None:
        da = da.chunk({"y": chunks or READ_CHUNK, "x": chunks or READ_CHUNK})
    return check_nodata(da, "the DEM"), eager, layer


def _labels(labels, column, dem, reproject):
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


def _categorical(group, layer, dem, reproject):
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
        codes = polygon_codes(gdf, layer.column, mapping, dem, unmapped=layer.unmapped, what=what)
        return codes, mapping
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
    return codes, mapping


def _continuous(dem, continuous, terrain, reproject):
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


def _combine(stats: np.ndarray, n_cont: int):
    """Chan et al.'s pairwise combination of per-block (n, mean, M2): float64."""
    s = stats.reshape(-1, stats.shape[-1])
    n_b = s[:, 0]
    n = float(n_b.sum())
    means, stds = [], []
    for k in range(n_cont):
        m_b, m2_b = s[:, 3 + 2 * k], s[:, 4 + 2 * k]
        mean = float((n_b * m_b).sum() / n) if n else math.nan
        m2 = float((m2_b + n_b * (m_b - mean) ** 2).sum()) if n else math.nan
        means.append(mean)
        stds.append(math.sqrt(m2 / n) if n else math.nan)
    return n, means, stds, s[:, 1].sum(), s[:, 2].sum(), s[:, 3 + 2 * n_cont :].sum(axis=0)


def build_region(
    dem,
    *,
    continuous: Mapping | None = None,
    categorical: Mapping | None = None,
    labels=None,
    label_column: str | None = None,
    boundary=None,
    reproject: bool = False,
    terrain: Sequence[str] = TERRAIN,
    normalisation: Mapping | None = None,
    chunks: int | None = None,
    progress: bool = False,
    title: str | None = None,
) -> xr.Dataset:
    """Build a region from real data: a DEM, continuous rasters, coded layers and labels.

    Parameters
    ----------
    dem : path, xarray.DataArray or RasterLayer
        The grid and the elevations (m): a projected CRS with metre units (a geographic
        CRS is refused with the fix), square pixels, north up.  No data: NaN, the declared
        no-data value or ``RasterLayer(..., nodata=...)``.
    continuous : mapping of str to path, DataArray or RasterLayer, optional
        More continuous layers by name (curvature, catchment area, rainfall...).  A layer
        named ``slope`` is used instead of the slope computed from the DEM (degrees, 0..90).
    categorical : mapping of str to CategoricalLayer, optional
        Categorical groups by name (``lithology``, ``land_cover``...): coded polygons or
        rasters with a mapping from their codes to classes (the INSPIRE preset, CORINE, or
        your own classes).
    labels : path, GeoDataFrame, DataArray or RasterLayer, optional
        Landslide polygons (1 inside, 0 elsewhere in the region), presence/absence points
        (with ``label_column``; 1 / 0 at their pixels, -1 elsewhere), or a label raster (1,
        0, and -1 / NaN / its no-data value as unknown; e.g. from
        :func:`~xlandslide.labels_from_points`).  Without it every label is -1 (unknown).
    label_column : str, optional
        The presence/absence column of point labels (boolean or 0/1).
    boundary : path or GeoDataFrame, optional
        Polygons of the region: outside them every layer is NaN, every code 255 and every
        label -1 (unknown); the DEM keeps its elevations (uphill points may lie there).
    reproject : bool
        Bring layers on another grid or CRS onto the DEM's: rasters with rasterio / GDAL
        (bilinear for continuous layers, nearest for codes and labels; files lazily through
        a ``WarpedVRT``), vectors with ``to_crs``.  Without it they are refused
        (:class:`~xlandslide.errors.GridMismatchError`) with this fix.
    terrain : sequence of {"slope", "dem"}
        DEM-derived layers placed first among the continuous layers (default both, the
        INSPIRE order); ``()`` for none.
    normalisation : mapping, optional
        ``{layer: {"mean": float, "std": float}}`` to use instead of computing them (e.g. a
        model's ``spec.normalisation``).  When every continuous layer has its statistics
        nothing is computed at all, and bad values are reported when the region is.
    chunks : int, optional
        Dask chunk side on y and x (default: the DEM's chunks, or 1024 for a file).
    progress : bool
        Show a progress bar (tqdm) over the statistics pass.
    title : str, optional
        ``attrs["title"]`` of the region.

    Returns
    -------
    xarray.Dataset
        A region of the data model (:mod:`xlandslide.region`) with the DEM's CRS and
        coordinates: lazy (dask, the DEM's chunks) unless the DEM is a numpy-backed
        DataArray and ``chunks`` is None (then computed, numpy-backed).  Valid pixels have
        a finite DEM, slope and every continuous layer, inside the boundary; elsewhere the
        layers are NaN, the codes 255 and the label -1.

    Raises
    ------
    CRSUnitsError, GridError
        A DEM in a geographic CRS or not in metres; no CRS; irregular or non-square pixels.
    GridMismatchError
        A layer on another grid or in another CRS (and ``reproject`` is False).
    LabelError
        Point labels whose column is not boolean / 0-1, a label raster with other values.
    NodataError
        A layer holding a no-data value (-9999, -32768...) it does not declare.
    UnmappedCodeError
        A categorical code missing from its mapping (unless ``unmapped`` says otherwise).
    LayerError, ConfigError
        A layer that cannot be read, a multi-band raster without a band, bad settings.
    RegionError
        Too few valid pixels, or a constant continuous layer (std 0).

    Examples
    --------
    >>> region = build_region(  # doctest: +SKIP
    ...     "dem.tif",
    ...     continuous={"rainfall": "rain.tif"},
    ...     categorical={
    ...         "lithology": CategoricalLayer("geology.gpkg", column="CODE",
    ...                                       mapping=class_mapping("lithology",
    ...                                           preset="inspire", codes={12: "gneiss"})),
    ...         "land_cover": CategoricalLayer("clc.gpkg", column="CODE_18", mapping="corine"),
    ...     },
    ...     labels="inventory.gpkg",
    ...     boundary="region.gpkg",
    ... )
    """
    import dask
    import dask.array as da

    grid, eager, dem_layer = _open_dem(dem, chunks)
    crs = grid.rio.crs
    layers = _continuous(grid, continuous, tuple(terrain), reproject)
    groups = []
    for group, layer in dict(categorical or {}).items():
        groups.append((str(group), *_categorical(str(group), layer, grid, reproject)))
    if not layers and not groups:
        raise ConfigError("a region needs input layers: continuous ones, terrain or groups")
    label = _labels(labels, label_column, grid, reproject)
    inside = None
    if boundary is not None:
        gdf = to_grid_crs(
            read_vector(boundary, "the boundary"), grid, reproject=reproject, what="the boundary"
        )
        inside = rasterize(gdf.geometry, grid, fill=0) == 1
    extra = () if inside is None else (inside,)
    valid = da.map_blocks(
        _valid, grid.data, *(layer.data for _, layer in layers), *extra, dtype=bool
    )

    names = [n for n, _ in layers]
    given = dict(normalisation or {})
    summary = {}
    if any(n not in given for n in names) or not names:
        args = [grid.data, "ij"]
        for arr in (*(layer.data for _, layer in layers), label, *(c for _, c, _ in groups)):
            args += [arr, "ij"]
        if inside is not None:
            args += [inside, "ij"]
        pass_ = da.blockwise(
            _block_stats,
            "ijk",
            *args,
            new_axes={"k": 3 + 2 * len(names) + len(groups)},
            adjust_chunks={"i": 1, "j": 1},
            dtype=np.float64,
            concatenate=True,
            n_cont=len(names),
            n_groups=len(groups),
            has_inside=inside is not None,
        )
        if progress:
            from tqdm.dask import TqdmCallback

            with TqdmCallback(desc="statistics and checks", leave=False):
                stats = pass_.compute()
        else:
            stats = dask.compute(pass_)[0]
        n, means, stds, n_slides, n_stable, gaps = _combine(stats, len(names))
        if n == 0:
            raise RegionError(
                "the DEM has too few valid pixels to standardise its layers (none where the "
                "DEM, slope and every continuous layer are finite inside the boundary); check "
                "the no-data values, the extents and the boundary"
            )
        for name, mean, std in zip(names, means, stds):
            if name not in given:
                if not (math.isfinite(std) and std > 0):
                    raise RegionError(
                        f"the continuous layer {name!r} is constant (or is flat) over the "
                        f"{int(n)} valid pixels (std {std:g}); it cannot be standardised: "
                        "drop it"
                    )
                given[name] = {"mean": mean, "std": std}
        summary = {
            "valid_pixels": int(n),
            "landslide_pixels": int(n_slides),
            "stable_pixels": int(n_stable),
            "unclassed_pixels": {g: int(k) for (g, _, _), k in zip(groups, gaps)},
        }
    norm = {n: {"mean": float(given[n]["mean"]), "std": float(given[n]["std"])} for n in names}

    lab = da.where(valid, label, np.int8(LABEL_UNKNOWN)).astype(np.int8)
    cont = da.stack([layer.data for _, layer in layers]).rechunk({0: -1}) if layers else None
    codes = da.stack([c for _, c, _ in groups]).rechunk({0: -1}) if groups else None
    if cont is not None:
        mean = np.array([norm[n]["mean"] for n in names], dtype=np.float32)
        std = np.array([norm[n]["std"] for n in names], dtype=np.float32)
        cont = da.map_blocks(_standardise, cont, valid, mean=mean, std=std, dtype=np.float32)
    if codes is not None:
        codes = da.where(valid, codes, np.uint8(NODATA_CODE)).astype(np.uint8)
    layout = FeatureLayout(tuple(names), {g: m.classes for g, _, m in groups})
    build = {
        "dem": dem_layer.describe(),
        "continuous": {n: _describe((continuous or {}).get(n, "the DEM")) for n in names},
        "categorical": {g: _describe(categorical[g].source) for g, _, _ in groups},
        "labels": None if labels is None else _describe(labels),
        "boundary": None if boundary is None else _describe(boundary),
        "reproject": bool(reproject),
        **summary,
    }
    if "slope" in names and "slope" not in (continuous or {}):
        build["continuous"]["slope"] = "computed from the DEM (Horn, degrees)"
    region = region_dataset(
        dem=grid.data,
        label=lab,
        layout=layout,
        continuous=cont,
        categorical=codes,
        coords={"y": grid["y"], "x": grid["x"]},
        normalisation=norm,
        attrs={"title": title or "xlandslide region", "xlandslide_build": build},
    ).rio.write_crs(crs)
    return region.compute() if eager else region


__all__ = ["TERRAIN", "CategoricalLayer", "build_region"]
