"""Input and output: region stores, rasters and vector layers in, maps out.

- :mod:`~xlandslide.io.store`: Zarr region stores (:func:`open_region`, :func:`write_region`);
- :mod:`~xlandslide.io.raster`: regions from real rasters (:func:`region_from_dem`);
- :mod:`~xlandslide.io.vector`: label rasters from inventories (points, polygons);
- :mod:`~xlandslide.io.maps`: susceptibility maps (:func:`write_map`, :func:`open_map`);
- :mod:`~xlandslide.io.atomic`: the atomic-output scheme every writer uses.
"""

from __future__ import annotations

from .maps import open_map, write_map
from .raster import region_from_dem
from .store import open_region, write_region
from .vector import labels_from_points, labels_from_polygons

__all__ = [
    "labels_from_points",
    "labels_from_polygons",
    "open_map",
    "open_region",
    "region_from_dem",
    "write_map",
    "write_region",
]
