"""Vector layers onto a region's grid (geopandas + rasterio.features), chunk by chunk.

Landslide inventories come as polygons (mapped landslide bodies) or points (initiation
points, or balanced presence/absence samples); categorical layers (lithology, land cover)
as polygons with a code per polygon.  Every burn here runs through :func:`rasterize` or
:func:`burn_points`: on a dask-backed grid one task per chunk rasterises only the geometries
that touch it (``rasterio.features.rasterize``), and the geometries travel as one key of
the dask graph — a Veneto-size grid (19500 x 21005) is burnt without ever holding a whole
layer in memory.

- :func:`labels_from_points`, :func:`labels_from_polygons`: int8 label rasters of the data
  model (1 landslide, 0 stable, -1 unknown);
- :func:`read_vector`, :func:`to_grid_crs`: a layer in the grid's CRS (refused with the fix
  when it is not, reprojected with ``to_crs`` only when asked);
- :func:`polygon_codes`: uint8 class codes of a coded polygon layer through a
  :class:`~xlandslide.catalog.ClassMapping`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import xarray as xr

from ..catalog import LABEL_LANDSLIDE, LABEL_STABLE, LABEL_UNKNOWN, NODATA_CODE
from ..errors import (
    ConfigError,
    GridMismatchError,
    LabelError,
    LayerError,
    LayerNotFoundError,
    MissingOptionalDependency,
    NameNotFoundError,
    UnmappedCodeError,
)
from ..mapping import code_key
from ..region import map_like


def _gpd():
    try:
        import geopandas
    except ImportError as err:  # the "vector" extra
        raise MissingOptionalDependency(
            "vector layers need geopandas, which is not installed: "
            "pip install 'xlandslide[vector]' (or geopandas)"
        ) from err
    return geopandas


def read_vector(source, what: str = "the vector layer"):
    """A GeoDataFrame from a GeoDataFrame or any file geopandas reads."""
    gpd = _gpd()
    if isinstance(source, gpd.GeoDataFrame):
        return source
    if isinstance(source, gpd.GeoSeries):
        return gpd.GeoDataFrame(geometry=source)
    if not isinstance(source, (str, os.PathLike)):
        raise LayerError(
            f"{what}: expected a GeoDataFrame or a vector file path, got {type(source).__name__}"
        )
    if not Path(source).exists():
        raise LayerNotFoundError(f"{what}: no file at {str(source)!r}; check the path")
    try:
        return gpd.read_file(source)
    except Exception as err:  # pyogrio / fiona errors
        raise LayerError(f"{what}: {str(source)!r} is not a readable vector file ({err})") from None


def to_grid_crs(gdf, like: xr.DataArray, *, reproject: bool = False, what="the vector layer"):
    """``gdf`` in the CRS of ``like``: unchanged, reprojected (``to_crs``) on request, or
    refused with :class:`GridMismatchError` naming the fix."""
    crs = like.rio.crs
    if crs is None:
        raise GridMismatchError("the grid has no CRS; write one with rio.write_crs(...) first")
    if gdf.crs is None:
        raise GridMismatchError(
            f"{what} has no CRS; set the one it is in with GeoDataFrame.set_crs(...) first"
        )
    if gdf.crs != crs:
        if reproject:
            return gdf.to_crs(crs)
        raise GridMismatchError(
            f"{what}'s CRS ({gdf.crs}) is not the grid's ({crs}); reproject it explicitly: "
            f"reproject=True (reproject = true in the config), or gdf.to_crs({crs.to_string()!r})"
        )
    return gdf


# ---------------------------------------------------------------------------------------------
# Chunk-by-chunk burning
# ---------------------------------------------------------------------------------------------
def _grid(like: xr.DataArray):
    """(transform, shape, chunks or None) of a (y, x) grid."""
    shape = (like.sizes["y"], like.sizes["x"])
    return like.rio.transform(), shape, like.chunks


def _lazy(block_fn, like, dtype, pack, name):
    """``block_fn`` over the chunks of ``like`` (dask), or once over the grid (numpy);
    ``pack`` (small arrays of geometries or points) is one key of the dask graph."""
    import dask
    import dask.array as da
    from dask.base import tokenize

    transform, shape, chunks = _grid(like)
    if chunks is None:
        info = {None: {"array-location": [(0, shape[0]), (0, shape[1])]}}
        return block_fn(block_info=info, pack=pack, transform=transform)
    token = tokenize(pack["token"], pack["fill"], str(dtype), transform, shape, chunks, name)
    packed = dask.delayed(pack, name=f"xlandslide-{name}-input-{token}", pure=True)
    return da.map_blocks(
        block_fn,
        chunks=chunks,
        dtype=dtype,
        meta=np.empty((0, 0), dtype),
        name=f"xlandslide-{name}-{token}",
        pack=packed,
        transform=transform,
    )


#: One ``rasterio.features.rasterize`` at a time per process: rasterio silences a warning of
#: its own (``NotGeoreferencedWarning``, while it builds its in-memory raster) with
#: ``warnings.catch_warnings``, which is not thread-safe — concurrent burns let that spurious
#: warning through (the burns themselves are right).
_RASTERIZE_LOCK = threading.Lock()


def _shapes_block(*, pack, transform, block_info=None):
    from affine import Affine
    from rasterio import features

    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    out_shape = (r1 - r0, c1 - c0)
    t = transform @ Affine.translation(c0, r0)
    # block bounds in map coordinates (a north-up grid: e < 0)
    xs = sorted((t.c, t.c + t.a * out_shape[1]))
    ys = sorted((t.f, t.f + t.e * out_shape[0]))
    b = pack["bounds"]
    hit = (b[:, 0] <= xs[1]) & (b[:, 2] >= xs[0]) & (b[:, 1] <= ys[1]) & (b[:, 3] >= ys[0])
    if not hit.any():
        return np.full(out_shape, pack["fill"], dtype=pack["dtype"])
    shapes = list(zip(pack["geoms"][hit], pack["values"][hit].tolist()))
    with _RASTERIZE_LOCK:
        return features.rasterize(
            shapes, out_shape=out_shape, transform=t, fill=pack["fill"], dtype=pack["dtype"]
        )


def rasterize(geometries, like: xr.DataArray, *, values=None, fill=0, dtype="uint8"):
    """Burn ``geometries`` (with ``values``, default 1) onto the grid of ``like``.

    Lazy and chunk by chunk when ``like`` is dask-backed (one ``rasterio.features.rasterize``
    per chunk, on the geometries whose bounds touch it), numpy otherwise.  A pixel is burnt
    when its centre is inside a geometry (rasterio's default); where geometries overlap the
    later one wins.  Geometries must be in ``like``'s CRS.
    """
    import shapely

    geoms = np.asarray(list(geometries), dtype=object)
    vals = np.ones(len(geoms), np.int64) if values is None else np.asarray(values)
    keep = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
    geoms, vals = geoms[keep], vals[keep]
    bounds = shapely.bounds(geoms).reshape(-1, 4) if len(geoms) else np.zeros((0, 4))
    digest = hashlib.sha1(b"".join(shapely.to_wkb(geoms).tolist()) if len(geoms) else b"")
    digest.update(np.ascontiguousarray(vals).tobytes())
    pack = {
        "geoms": geoms,
        "values": vals,
        "bounds": bounds,
        "fill": fill,
        "dtype": np.dtype(dtype),
        "token": digest.hexdigest(),
    }
    return _lazy(_shapes_block, like, np.dtype(dtype), pack, "rasterize")


def _points_block(*, pack, transform, block_info=None):
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    out = np.full((r1 - r0, c1 - c0), pack["fill"], dtype=pack["dtype"])
    rows, cols, vals = pack["rows"], pack["cols"], pack["values"]
    sel = (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
    np.maximum.at(out, (rows[sel] - r0, cols[sel] - c0), vals[sel].astype(out.dtype))
    return out


def burn_points(points, like: xr.DataArray, values, *, fill, dtype="int8"):
    """Burn point ``values`` at the pixels of ``points`` (a GeoSeries of points in ``like``'s
    CRS) onto the grid of ``like``; where several points share a pixel the largest value
    wins; points outside the grid are ignored.  Lazy on a dask-backed ``like``."""
    transform = like.rio.transform()
    cols, rows = ~transform @ (points.x.to_numpy(), points.y.to_numpy())
    ok = np.isfinite(rows) & np.isfinite(cols)
    rows = np.floor(rows[ok]).astype(np.int64)
    cols = np.floor(cols[ok]).astype(np.int64)
    vals = np.asarray(values)[ok]
    digest = hashlib.sha1(rows.tobytes() + cols.tobytes() + vals.tobytes()).hexdigest()
    pack = {"rows": rows, "cols": cols, "values": vals, "fill": fill, "dtype": np.dtype(dtype)}
    pack["token"] = digest
    return _lazy(_points_block, like, np.dtype(dtype), pack, "points")


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------
def _template(like: xr.DataArray, values, name: str) -> xr.DataArray:
    return map_like(
        like,
        values,
        name,
        {
            "long_name": "landslide label (1 landslide, 0 stable, -1 unknown)",
            "flag_values": [LABEL_UNKNOWN, LABEL_STABLE, LABEL_LANDSLIDE],
            "flag_meanings": "unknown stable landslide",
        },
    )


def point_flags(gdf, column: str) -> np.ndarray:
    """The landslide flags (bool) of a point layer's ``column``, strictly.

    The column must be boolean, or numeric holding only 0 and 1: anything else (NaN or a
    missing value, 0.5, text such as ``"0"`` or ``"no"``) raises :class:`LabelError` — a
    guess there would turn absence points into landslides.
    """
    import pandas as pd

    if column not in gdf.columns:
        raise NameNotFoundError(
            f"no column {column!r} in the point layer; columns: {list(gdf.columns)}"
        )
    col = gdf[column]
    fix = (
        f"make {column!r} boolean (True = landslide) or 0/1, e.g. "
        f"gdf[{column!r}] = gdf[{column!r}].map({{'yes': True, 'no': False}}) (mapping "
        "every value you have), and drop or fix the points without a value"
    )
    if col.isna().any():
        raise LabelError(
            f"the point layer's column {column!r} has {int(col.isna().sum())} missing values "
            f"(NaN / None): a point must be a landslide or not; {fix}"
        )
    if pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(col):
        values = col.to_numpy(dtype=np.float64)
        bad = np.unique(values[(values != 0) & (values != 1)])
        if bad.size:
            raise LabelError(
                f"the point layer's column {column!r} holds {bad[:5].tolist()} besides 0 "
                f"and 1; labels are 1 (landslide) and 0 (stable): {fix}"
            )
        return values == 1
    kinds = sorted({type(v).__name__ for v in col.tolist()})
    sample = sorted({repr(v) for v in col.tolist()})[:5]
    raise LabelError(
        f"the point layer's column {column!r} holds {'/'.join(kinds)} values ({', '.join(sample)}"
        f"), not booleans or 0/1; text is never read as a label: {fix}"
    )


def _points_only(gdf, what):
    kinds = set(gdf.geometry.geom_type.dropna().unique())
    if kinds - {"Point"}:
        raise LayerError(
            f"{what} holds {sorted(kinds)} geometries; presence/absence labels need Point "
            "geometries (use labels_from_polygons for landslide polygons)"
        )


def labels_from_points(
    points, like: xr.DataArray, column: str, *, reproject: bool = False
) -> xr.DataArray:
    """Label raster from presence/absence points: 1/0 at the points' pixels, -1 elsewhere.

    Parameters
    ----------
    points : geopandas.GeoDataFrame or path
        Point layer in the grid's CRS (refused otherwise, unless ``reproject``).
    like : xarray.DataArray
        A (y, x) raster on the target grid, with a CRS.  Dask-backed: the label is lazy,
        burnt chunk by chunk.
    column : str
        Boolean, or 0/1, column: True (1) for a landslide point.  Missing values and any
        other value or type are refused (:class:`~xlandslide.errors.LabelError`).
    reproject : bool
        Reproject the points to the grid's CRS (``to_crs``) when it differs.

    Notes
    -----
    A point falls in the pixel that contains it; points outside the grid are ignored.  When
    a landslide and a stable point fall in the same pixel, the landslide wins.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> import xlandslide
    >>> like = xlandslide.synthetic_region(shape=(96, 96), seed=0)["dem"]  # 10 m pixels
    >>> x, y = like["x"].values, like["y"].values
    >>> points = gpd.GeoDataFrame(
    ...     {"slide": [True, False]},
    ...     geometry=[Point(x[10] + 2, y[20] - 3), Point(x[50], y[60])],  # inside 2 pixels
    ...     crs=like.rio.crs,
    ... )
    >>> label = xlandslide.labels_from_points(points, like, "slide")  # lazy
    >>> label.dtype.name, int(label[20, 10]), int(label[60, 50])
    ('int8', 1, 0)
    >>> int((label == -1).sum()) == 96 * 96 - 2  # unknown elsewhere
    True
    """
    gdf = read_vector(points, "the point layer")
    gdf = to_grid_crs(gdf, like, reproject=reproject, what="the point layer")
    flags = point_flags(gdf, column)
    _points_only(gdf, "the point layer")
    values = np.where(flags, LABEL_LANDSLIDE, LABEL_STABLE).astype(np.int8)
    label = burn_points(gdf.geometry, like, values, fill=LABEL_UNKNOWN, dtype="int8")
    return _template(like, label, "label")


def _polygon_label_block(burnt, inside):
    label = np.where(burnt == 1, LABEL_LANDSLIDE, LABEL_STABLE).astype(np.int8)
    label[~inside] = LABEL_UNKNOWN
    return label


def labels_from_polygons(
    polygons, like: xr.DataArray, *, region=None, reproject: bool = False
) -> xr.DataArray:
    """Label raster from landslide polygons: 1 inside a polygon, 0 elsewhere in the region.

    Parameters
    ----------
    polygons : geopandas.GeoDataFrame or path
        Landslide polygons in the grid's CRS (refused otherwise, unless ``reproject``).
    like : xarray.DataArray
        A (y, x) raster on the target grid, with a CRS; where it is NaN is outside the region
        (label -1) unless ``region`` is given.  A dask-backed ``like`` gives a lazy label
        raster, burnt chunk by chunk.
    region : geopandas.GeoDataFrame or path, optional
        Polygons of the mapped area; pixels outside them are unknown (-1).
    reproject : bool
        Reproject the layers to the grid's CRS (``to_crs``) when it differs.

    Notes
    -----
    A pixel is inside a polygon when its centre is (rasterio's default rasterisation).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> import xlandslide
    >>> like = xlandslide.synthetic_region(shape=(96, 96), seed=0)["dem"]  # NaN: outside
    >>> x, y = like["x"].values, like["y"].values
    >>> slide = box(x[40] - 5, y[49] - 5, x[49] + 5, y[40] + 5)  # rows and columns 40..49
    >>> polygons = gpd.GeoDataFrame(geometry=[slide], crs=like.rio.crs)
    >>> label = xlandslide.labels_from_polygons(polygons, like)  # lazy
    >>> int((label == 1).sum()), bool((label[40:50, 40:50] == 1).all())
    (100, True)
    >>> int((label == -1).sum()) == int(like.isnull().sum())  # unknown outside the region
    True
    """
    gdf = to_grid_crs(read_vector(polygons), like, reproject=reproject)
    burnt = rasterize(gdf.geometry, like, fill=0)
    if region is None:
        inside = like.notnull().data
    else:
        reg = to_grid_crs(read_vector(region, "the region"), like, reproject=reproject)
        inside = rasterize(reg.geometry, like, fill=0) == 1
    if hasattr(burnt, "map_blocks"):
        import dask.array as da

        label = da.map_blocks(_polygon_label_block, burnt, inside, dtype=np.int8)
    else:
        label = _polygon_label_block(burnt, np.asarray(inside))
    return _template(like, label, "label")


# ---------------------------------------------------------------------------------------------
# Coded polygons
# ---------------------------------------------------------------------------------------------
UNMAPPED = (None, "unknown", "nodata")


def unmapped_codes_error(what, unmapped: dict, mapping, counted: str) -> UnmappedCodeError:
    """The error for codes a mapping lacks: ``unmapped`` = {code: count}."""
    shown = [(code_key(c) or "a missing code", n) for c, n in unmapped.items()]
    listing = ", ".join(f"{c} ({n} {counted})" for c, n in shown[:10])
    more = f" and {len(unmapped) - 10} more" if len(unmapped) > 10 else ""
    unknown = (
        f"unmapped='unknown' (the group's unknown class, {mapping.unknown!r}), "
        if mapping.unknown
        else ""
    )
    return UnmappedCodeError(
        f"{what} holds codes its mapping does not name: {listing}{more}.  Add them to the "
        f"mapping (codes = {{code: class}}), or ask for a policy: {unknown}"
        "unmapped='nodata' (no class, code 255)"
    )


def polygon_codes(gdf, column: str, mapping, like, *, unmapped=None, what="the layer", record=None):
    """uint8 class codes of a coded polygon layer on ``like``'s grid (255 where no polygon).

    Every polygon's code (``column``) goes through ``mapping``
    (:class:`~xlandslide.catalog.ClassMapping`); codes it lacks — a missing value too — are
    refused with :class:`UnmappedCodeError` unless ``unmapped`` is ``"unknown"`` (the
    mapping's unknown class) or ``"nodata"`` (255).  Only polygons that touch the grid count.
    ``record``, a dict, receives ``{source code: class code (255: none)}`` of those polygons.
    """
    if column not in gdf.columns:
        raise NameNotFoundError(
            f"{what}: no column {column!r}; its columns: "
            f"{[c for c in gdf.columns if c != gdf.geometry.name]}"
        )
    xmin, ymin, xmax, ymax = _bounds(like)
    gdf = gdf.cx[xmin:xmax, ymin:ymax]
    raw = gdf[column].tolist()
    found = {}  # code key -> (class index or None, the first value seen, polygons)
    for value in raw:
        key = code_key(value)
        k, first, n = found.get(key, (mapping.lookup(value), value, 0))
        found[key] = (k, first, n + 1)
    missing = {first: n for k, first, n in found.values() if k is None}
    fallback = NODATA_CODE
    if missing:
        if unmapped not in ("unknown", "nodata"):
            raise unmapped_codes_error(what, missing, mapping, "polygons")
        if unmapped == "unknown":
            if mapping.unknown is None:
                raise ConfigError(
                    f"{what}: unmapped='unknown' but its classes have no unknown class; "
                    "name one (class_mapping(..., unknown=CLASS)) or use unmapped='nodata'"
                )
            fallback = mapping.classes.index(mapping.unknown)
    table = {key: (fallback if k is None else k) for key, (k, _, _) in found.items()}
    if record is not None:
        record.update({str(first): table[key] for key, (_, first, _) in found.items()})
    codes = np.array([table[code_key(v)] for v in raw], dtype=np.uint8)
    return rasterize(gdf.geometry, like, values=codes, fill=NODATA_CODE, dtype="uint8")


def _bounds(like: xr.DataArray):
    transform, (ny, nx), _ = _grid(like)
    xs = sorted((transform.c, transform.c + transform.a * nx))
    ys = sorted((transform.f, transform.f + transform.e * ny))
    return xs[0], ys[0], xs[1], ys[1]


__all__ = [
    "burn_points",
    "labels_from_points",
    "labels_from_polygons",
    "point_flags",
    "polygon_codes",
    "rasterize",
    "read_vector",
    "to_grid_crs",
]
