"""Regenerate the tiny fixtures of tests/data (the torchgeo way: a checked-in script).

    .venv/bin/python tests/data/make_fixtures.py

``coded_polygons/``: a region shaped like the paper's data, in miniature (60 x 80 pixels of
10 m, EPSG:32632): a DEM GeoTIFF whose corner holds its declared no-data value (-9999),
lithology polygons with a regional map's own integer codes (``LITO``), land-cover polygons
with CORINE Land Cover level-3 codes (``CODE_18``, text) in another vector format, landslide
polygons (the inventory) and the region's boundary.  Everything is written from the
explicit coordinates below, so the tests know the class of every polygon and where it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

HERE = Path(__file__).resolve().parent / "coded_polygons"
CRS = "EPSG:32632"
X0, Y0, PIXEL, NY, NX = 700000.0, 5100000.0, 10.0, 60, 80  # north-west corner
NODATA = -9999.0

#: Lithology: (LITO code, INSPIRE class it maps to, polygon) — four quadrants, the east
#: ones reaching beyond the grid (clipped by the burn).
LITHOLOGY = [
    (101, "gneiss", box(X0, Y0 - 300, X0 + 400, Y0)),
    (205, "limestone", box(X0 + 400, Y0 - 300, X0 + 900, Y0)),
    (310, "flysch", box(X0, Y0 - 600, X0 + 400, Y0 - 300)),
    (412, "alluvium", box(X0 + 400, Y0 - 700, X0 + 900, Y0 - 300)),
]

#: Land cover: (CODE_18, INSPIRE land-cover class) — vertical stripes of 160 m, one more
#: west of the grid.
LAND_COVER = [
    ("112", "artificial_surfaces", box(X0 - 200, Y0 - 600, X0 + 160, Y0)),
    ("211", "agricultural_areas", box(X0 + 160, Y0 - 600, X0 + 320, Y0)),
    ("311", "forest_and_semi_natural_areas", box(X0 + 320, Y0 - 600, X0 + 480, Y0)),
    ("411", "wetlands", box(X0 + 480, Y0 - 600, X0 + 640, Y0)),
    ("512", "water_bodies", box(X0 + 640, Y0 - 600, X0 + 800, Y0)),
]

#: Landslide polygons (the inventory).
LANDSLIDES = [
    box(X0 + 100, Y0 - 200, X0 + 150, Y0 - 120),
    Polygon([(X0 + 500, Y0 - 100), (X0 + 560, Y0 - 100), (X0 + 530, Y0 - 180)]),
    box(X0 + 250, Y0 - 480, X0 + 290, Y0 - 420),
]

#: The region's boundary: everything but an eastern strip of 60 m and the south row.
BOUNDARY = box(X0, Y0 - 590, X0 + 740, Y0)


def dem_values() -> np.ndarray:
    """Smooth hills rising to the east (m); the north-west corner is no data."""
    rows, cols = np.mgrid[0:NY, 0:NX].astype(np.float64)
    z = 500.0 + 3.0 * cols + 40.0 * np.sin(rows / 8.0) + 25.0 * np.cos(cols / 11.0)
    z = z.astype(np.float32)
    z[:4, :6] = NODATA
    return z


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    os.environ["OGR_CURRENT_DATE"] = "2000-01-01T00:00:00.000Z"  # a reproducible GeoPackage
    for old in HERE.iterdir():  # written afresh (a GeoPackage rewritten in place differs)
        old.unlink()
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "width": NX,
        "height": NY,
        "count": 1,
        "crs": CRS,
        "transform": from_origin(X0, Y0, PIXEL, PIXEL),
        "nodata": NODATA,
        "compress": "deflate",
    }
    with rasterio.open(HERE / "dem.tif", "w", **profile) as dst:
        dst.write(dem_values(), 1)
        dst.set_band_description(1, "elevation")
    litho = gpd.GeoDataFrame(
        {"LITO": [c for c, _, _ in LITHOLOGY]}, geometry=[g for *_, g in LITHOLOGY], crs=CRS
    )
    litho.to_file(HERE / "lithology.gpkg", driver="GPKG")
    cover = gpd.GeoDataFrame(
        {"CODE_18": [c for c, _, _ in LAND_COVER]}, geometry=[g for *_, g in LAND_COVER], crs=CRS
    )
    cover.to_file(HERE / "land_cover.geojson", driver="GeoJSON")
    slides = gpd.GeoDataFrame({"id": [1, 2, 3]}, geometry=LANDSLIDES, crs=CRS)
    slides.to_file(HERE / "landslides.geojson", driver="GeoJSON")
    gpd.GeoDataFrame(geometry=[BOUNDARY], crs=CRS).to_file(
        HERE / "boundary.geojson", driver="GeoJSON"
    )
    print(f"wrote {sorted(p.name for p in HERE.iterdir())} in {HERE}")


if __name__ == "__main__":
    main()
