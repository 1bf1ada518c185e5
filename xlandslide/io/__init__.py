"""Input and output: region stores, rasters and vector layers in, maps out.

- :mod:`~xlandslide.io.store`: Zarr region stores (:func:`open_region`, :func:`write_region`);
- :mod:`~xlandslide.io.build` and :mod:`~xlandslide.io.layers`: regions from real data
  (:func:`build_region`: a DEM, rasters, coded polygons, labels, a boundary;
  :func:`region_from_dem`: slope and DEM only);
- :mod:`~xlandslide.io.ingest`: the same from a TOML config (:func:`ingest_region`, the
  ``xlandslide ingest`` command);
- :mod:`~xlandslide.io.raster`: raster layers onto a grid (:func:`read_raster`, checks,
  explicit reprojection);
- :mod:`~xlandslide.io.vector`: vector layers rasterised chunk by chunk: label rasters from
  inventories (points, polygons), class codes from coded polygons;
- :mod:`~xlandslide.io.maps`: susceptibility maps (:func:`write_map`, :func:`open_map`);
- :mod:`~xlandslide.io.atomic`: the atomic-output scheme every writer uses.
"""

from __future__ import annotations

from .build import build_region, region_from_dem
from .layers import CategoricalLayer
from .maps import open_map, write_map
from .raster import RasterLayer, read_raster
from .store import open_region, write_region
from .vector import labels_from_points, labels_from_polygons

__all__ = [
    "CategoricalLayer",
    "RasterLayer",
    "build_region",
    "labels_from_points",
    "labels_from_polygons",
    "open_map",
    "open_region",
    "read_raster",
    "region_from_dem",
    "write_map",
    "write_region",
]
