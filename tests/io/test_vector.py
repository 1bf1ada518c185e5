"""labels_from_points / labels_from_polygons: exact burns, CRS checks, laziness, the extra."""

from __future__ import annotations

import sys

import geopandas as gpd
import numpy as np
import pytest
import rioxarray
import xarray as xr
from shapely.geometry import Point, box

from tests.helpers import raise_if_dask_computes
from xlandslide.errors import GridMismatchError, MissingOptionalDependency
from xlandslide.io import labels_from_points, labels_from_polygons


def _like(chunks=None):
    ny, nx = 20, 30
    da = xr.DataArray(
        np.ones((ny, nx), dtype="float32"),
        dims=("y", "x"),
        coords={"y": 1000 - 10 * np.arange(ny) - 5.0, "x": 10 * np.arange(nx) + 5.0},
    )
    da[:, :3] = np.nan
    da = da.rio.write_crs("EPSG:32632")
    return da.chunk(chunks) if chunks else da


def _points():
    return gpd.GeoDataFrame(
        {"slide": [True, False, True, False]},
        geometry=[Point(15, 995), Point(101, 951), Point(-50, 0), Point(15, 994)],
        crs="EPSG:32632",
    )


def test_points():
    lab = labels_from_points(_points(), _like(), "slide")
    assert lab.dtype == np.int8 and lab.name == "label" and lab.dims == ("y", "x")
    assert lab.values[0, 1] == 1  # landslide wins over a stable point in the same pixel
    assert lab.values[4, 10] == 0
    assert (lab.values == -1).sum() == lab.size - 2  # the point outside the grid is ignored
    assert lab.rio.crs.to_epsg() == 32632 and lab.attrs["flag_values"] == [-1, 0, 1]
    xr.testing.assert_identical(lab.x, _like().x)


def test_points_from_a_file(tmp_path):
    path = tmp_path / "pts.gpkg"
    _points().to_file(path)
    xr.testing.assert_identical(
        labels_from_points(path, _like(), "slide"), labels_from_points(_points(), _like(), "slide")
    )


def test_points_errors():
    with pytest.raises(KeyError, match=r"no column 'nope'.*'slide'"):
        labels_from_points(_points(), _like(), "nope")
    with pytest.raises(GridMismatchError, match="to_crs"):
        labels_from_points(_points().to_crs("EPSG:4326"), _like(), "slide")
    with pytest.raises(GridMismatchError, match=r"point layer has no CRS.*set_crs"):
        labels_from_points(_points().set_crs(None, allow_override=True), _like(), "slide")
    with pytest.raises(GridMismatchError, match="grid has no CRS"):
        labels_from_points(_points(), _like().drop_vars("spatial_ref"), "slide")


def _polygon_oracle(poly_box, region_box=None):
    y, x = _like().y.values[:, None], _like().x.values[None]
    x0, y0, x1, y1 = poly_box
    inside = (y > y0) & (y < y1) & (x > x0) & (x < x1)
    expected = np.where(inside, 1, 0)
    if region_box is None:
        expected[:, :3] = -1
    else:
        rx0, ry0, rx1, ry1 = region_box
        expected[~((y > ry0) & (y < ry1) & (x > rx0) & (x < rx1))] = -1
    return expected


@pytest.mark.parametrize("chunks", [None, 7, {"y": 3, "x": 11}])
def test_polygons_lazy_and_exact(chunks):
    poly = gpd.GeoDataFrame(geometry=[box(100, 900, 150, 950)], crs="EPSG:32632")
    with raise_if_dask_computes():
        lab = labels_from_polygons(poly, _like(chunks))
    assert lab.dtype == np.int8 and (lab.chunks is not None) == bool(chunks)
    np.testing.assert_array_equal(lab.values, _polygon_oracle((100, 900, 150, 950)))
    region = gpd.GeoDataFrame(geometry=[box(0, 800, 300, 1000)], crs="EPSG:32632")
    got = labels_from_polygons(poly, _like(chunks), region=region).values
    np.testing.assert_array_equal(got, _polygon_oracle((100, 900, 150, 950), (0, 800, 300, 1000)))


def test_polygons_errors_and_empty_layers():
    poly = gpd.GeoDataFrame(geometry=[box(100, 900, 150, 950)], crs="EPSG:32632")
    with pytest.raises(GridMismatchError, match="to_crs"):
        labels_from_polygons(poly.to_crs("EPSG:4326"), _like())
    region = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs="EPSG:4326")
    with pytest.raises(GridMismatchError, match="to_crs"):
        labels_from_polygons(poly, _like(), region=region)
    none = gpd.GeoDataFrame(geometry=[], crs="EPSG:32632")
    lab = labels_from_polygons(none, _like(5)).values
    expected = np.zeros((20, 30), dtype=np.int8)
    expected[:, :3] = -1
    np.testing.assert_array_equal(lab, expected)


def test_missing_geopandas_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "geopandas", None)  # import geopandas -> ImportError
    with pytest.raises(MissingOptionalDependency, match=r"pip install 'xlandslide\[vector\]'"):
        labels_from_points("pts.gpkg", _like(), "slide")
    with pytest.raises(ImportError):
        labels_from_polygons("poly.gpkg", _like())


def test_real_points_on_the_real_grid(ecuador_tif, ecuador_points):
    grid = rioxarray.open_rasterio(ecuador_tif, masked=True).isel(band=3, drop=True)
    points = gpd.read_file(ecuador_points)
    lab = labels_from_points(points, grid, "lslpts").values
    # oracle: the pixel of every point from the grid's coordinates (pixel centres)
    x, y = grid.x.values, grid.y.values
    cols = np.floor((points.geometry.x.to_numpy() - (x[0] - 5.0)) / 10.0).astype(int)
    rows = np.floor(((y[0] + 5.0) - points.geometry.y.to_numpy()) / 10.0).astype(int)
    slides = points["lslpts"].to_numpy().astype(bool)
    assert (lab[rows[slides], cols[slides]] == 1).all()
    stable = {(r, c) for r, c in zip(rows[~slides], cols[~slides])}
    stable -= {(r, c) for r, c in zip(rows[slides], cols[slides])}
    assert all(lab[r, c] == 0 for r, c in stable)
    assert (lab >= 0).sum() == len(stable) + len({*zip(rows[slides], cols[slides])})
