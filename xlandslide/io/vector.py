"""Vector layers -> label rasters on a region's grid (geopandas + rasterio).

Landslide inventories come as polygons (mapped landslide bodies) or points (initiation
points, or balanced presence/absence samples).  These functions burn them into an int8
``label`` raster of the data model: 1 landslide, 0 stable, -1 unknown.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..catalog import LABEL_LANDSLIDE, LABEL_STABLE, LABEL_UNKNOWN
from ..errors import GridMismatchError, MissingOptionalDependency


def _gpd():
    try:
        import geopandas
    except ImportError as err:  # the "vector" extra
        raise MissingOptionalDependency(
            "vector layers need geopandas, which is not installed: "
            "pip install 'xlandslide[vector]' (or geopandas)"
        ) from err
    return geopandas


def _to_grid_crs(gdf, like: xr.DataArray):
    crs = like.rio.crs
    if crs is None:
        raise GridMismatchError("the grid has no CRS; write one with rio.write_crs(...) first")
    if gdf.crs is None:
        raise GridMismatchError(
            "the vector layer has no CRS; set it with GeoDataFrame.set_crs(...) first"
        )
    if gdf.crs != crs:
        raise GridMismatchError(
            f"the vector layer's CRS ({gdf.crs}) is not the grid's ({crs}); reproject it "
            f"explicitly with gdf.to_crs({crs.to_string()!r})"
        )
    return gdf


def _template(like: xr.DataArray, values: np.ndarray, name: str) -> xr.DataArray:
    out = xr.DataArray(
        values,
        dims=("y", "x"),
        coords={k: v for k, v in like.coords.items() if set(v.dims) <= {"y", "x"}},
        name=name,
        attrs={
            "long_name": "landslide label (1 landslide, 0 stable, -1 unknown)",
            "flag_values": [LABEL_UNKNOWN, LABEL_STABLE, LABEL_LANDSLIDE],
            "flag_meanings": "unknown stable landslide",
        },
    )
    if "spatial_ref" in like.coords:
        out = out.assign_coords(spatial_ref=like["spatial_ref"])
    return out


def labels_from_points(points, like: xr.DataArray, column: str) -> xr.DataArray:
    """Label raster from presence/absence points: 1/0 at the points' pixels, -1 elsewhere.

    Parameters
    ----------
    points : geopandas.GeoDataFrame or path
        Point layer in the grid's CRS (no implicit reprojection).
    like : xarray.DataArray
        A (y, x) raster on the target grid, with a CRS.
    column : str
        Boolean (or 0/1) column: True for a landslide point.

    Notes
    -----
    Points outside the grid are ignored.  When a landslide and a non-landslide point fall
    in the same pixel, the landslide wins.
    """
    gpd = _gpd()
    gdf = points if isinstance(points, gpd.GeoDataFrame) else gpd.read_file(points)
    gdf = _to_grid_crs(gdf, like)
    if column not in gdf.columns:
        raise KeyError(f"no column {column!r} in the point layer; columns: {list(gdf.columns)}")
    transform = like.rio.transform()
    ny, nx = like.sizes["y"], like.sizes["x"]
    cols, rows = ~transform @ (gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy())
    rows = np.floor(rows).astype(int)
    cols = np.floor(cols).astype(int)
    flag = gdf[column].to_numpy().astype(bool)
    inside = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
    label = np.full((ny, nx), LABEL_UNKNOWN, dtype="int8")
    order = np.argsort(flag, kind="stable")  # landslides written last: they win
    r, c, f = rows[order], cols[order], flag[order]
    keep = inside[order]
    label[r[keep], c[keep]] = np.where(f[keep], LABEL_LANDSLIDE, LABEL_STABLE)
    return _template(like, label, "label")


def _burn(shapes, shape, transform):
    from rasterio import features

    shapes = [(g, 1) for g in shapes if g is not None and not g.is_empty]
    if not shapes:
        return np.zeros(shape, dtype="uint8")
    return features.rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="uint8")


def _label_block(valid, *, slides, region, transform, block_info=None):
    from affine import Affine

    (r0, _), (c0, _) = block_info[0]["array-location"]
    t = transform @ Affine.translation(c0, r0)
    label = np.where(_burn(slides, valid.shape, t) == 1, LABEL_LANDSLIDE, LABEL_STABLE)
    if region is not None:
        label[_burn(region, valid.shape, t) == 0] = LABEL_UNKNOWN
    else:
        label[~valid] = LABEL_UNKNOWN
    return label.astype("int8")


def labels_from_polygons(polygons, like: xr.DataArray, *, region=None) -> xr.DataArray:
    """Label raster from landslide polygons: 1 inside a polygon, 0 elsewhere in the region.

    Parameters
    ----------
    polygons : geopandas.GeoDataFrame or path
        Landslide polygons in the grid's CRS (no implicit reprojection).
    like : xarray.DataArray
        A (y, x) raster on the target grid, with a CRS; where it is NaN is outside the region
        (label -1) unless ``region`` is given.  A dask-backed ``like`` gives a lazy label
        raster, burnt chunk by chunk.
    region : geopandas.GeoDataFrame, optional
        Polygons of the mapped area; pixels outside them are unknown (-1).

    Notes
    -----
    A pixel is inside a polygon when its centre is (rasterio's default rasterisation).
    """
    gpd = _gpd()
    gdf = polygons if isinstance(polygons, gpd.GeoDataFrame) else gpd.read_file(polygons)
    gdf = _to_grid_crs(gdf, like)
    reg = None if region is None else list(_to_grid_crs(region, like).geometry)
    transform = like.rio.transform()
    valid = like.notnull().data
    kwargs = {"slides": list(gdf.geometry), "region": reg, "transform": transform}
    if hasattr(valid, "map_blocks"):
        label = valid.map_blocks(_label_block, dtype="int8", **kwargs)
    else:
        info = [{"array-location": [(0, valid.shape[0]), (0, valid.shape[1])]}]
        label = _label_block(np.asarray(valid), block_info=info, **kwargs)
    return _template(like, label, "label")
