"""labels_from_points / labels_from_polygons: exact burns, CRS checks, laziness, the extra."""

from __future__ import annotations

import sys

import geopandas as gpd
import numpy as np
import pytest
import rioxarray
import xarray as xr
from hypothesis import given, settings
from shapely.geometry import Point, box

from tests.helpers import raise_if_dask_computes
from tests.strategies import yx_chunks
from xlandslide.errors import (
    GridMismatchError,
    LayerError,
    MissingOptionalDependency,
    NameNotFoundError,
)
from xlandslide.io import labels_from_points, labels_from_polygons
from xlandslide.io.vector import polygon_codes, rasterize
from xlandslide.mapping import class_mapping


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
    with pytest.raises(NameNotFoundError, match=r"no column 'nope'.*'slide'"):
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


# ---------------------------------------------------------------------------------------------
# Chunk by chunk: the same burn for any chunking, lazily, with rasterio's whole-grid burn as
# the oracle
# ---------------------------------------------------------------------------------------------
def _many_points(n=300, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-20, 320, n)  # some outside the grid
    y = rng.uniform(790, 1010, n)
    return gpd.GeoDataFrame(
        {"slide": rng.random(n) < 0.3}, geometry=gpd.points_from_xy(x, y), crs="EPSG:32632"
    )


def _points_oracle(points):
    lab = np.full((20, 30), -1, np.int8)
    for p, flag in zip(points.geometry, points["slide"]):
        r, c = int(np.floor((1000 - p.y) / 10)), int(np.floor(p.x / 10))
        if 0 <= r < 20 and 0 <= c < 30:
            lab[r, c] = max(lab[r, c], 1 if flag else 0)
    return lab


@settings(max_examples=15, deadline=None)
@given(chunks=yx_chunks((20, 30)))
def test_points_lazy_for_any_chunking(chunks):
    points = _many_points()
    like = _like().chunk({"y": chunks[0], "x": chunks[1]})
    with raise_if_dask_computes():
        lab = labels_from_points(points, like, "slide")
    assert lab.chunks == chunks
    np.testing.assert_array_equal(lab.values, _points_oracle(points))


def _polygons(seed=2, n=25):
    rng = np.random.default_rng(seed)
    centres = rng.uniform([0, 800], [300, 1000], (n, 2))
    radii = rng.uniform(5, 40, n)
    return gpd.GeoDataFrame(
        {"code": rng.integers(1, 6, n)},
        geometry=[Point(x, y).buffer(r) for (x, y), r in zip(centres, radii)],
        crs="EPSG:32632",
    )


@settings(max_examples=15, deadline=None)
@given(chunks=yx_chunks((20, 30)))
def test_rasterize_chunk_by_chunk_equals_rasterio_on_the_whole_grid(chunks):
    from rasterio import features

    gdf = _polygons()
    like = _like()
    want = features.rasterize(
        zip(gdf.geometry, gdf["code"]),
        out_shape=(20, 30),
        transform=like.rio.transform(),
        fill=255,
        dtype="uint8",
    )
    with raise_if_dask_computes():
        got = rasterize(
            gdf.geometry,
            like.chunk({"y": chunks[0], "x": chunks[1]}),
            values=gdf["code"],
            fill=255,
        )
    np.testing.assert_array_equal(got.compute(), want)
    assert (want != 255).sum() > 50 and len(np.unique(want)) > 3


def test_polygon_codes_through_a_mapping():
    gdf = _polygons()
    mapping = class_mapping("soil", codes={1: "a", 2: "b", 3: "b", 4: "c", 5: "a"})
    got = polygon_codes(gdf, "code", mapping, _like(7)).compute()
    table = np.array([255, 0, 1, 1, 2, 0], np.uint8)
    raw = rasterize(gdf.geometry, _like(), values=gdf["code"], fill=0)
    np.testing.assert_array_equal(got, np.where(raw == 0, 255, table[raw]))
    with pytest.raises(NameNotFoundError, match="no column 'nope'"):
        polygon_codes(gdf, "nope", mapping, _like())


def test_points_reprojected_on_request():
    points = _many_points()
    lab = labels_from_points(points.to_crs("EPSG:4326"), _like(), "slide", reproject=True)
    np.testing.assert_array_equal(lab.values, _points_oracle(points))
    with pytest.raises(LayerError, match="Point geometries"):
        labels_from_points(_polygons().assign(slide=True), _like(), "slide")


def test_burns_of_the_same_geometries_with_other_fills_do_not_share_keys():
    gdf = _polygons()
    like = _like(7)
    zero = rasterize(gdf.geometry, like, fill=0)
    other = rasterize(gdf.geometry, like, fill=255)
    assert zero.name != other.name
    np.testing.assert_array_equal(np.where(zero.compute() == 0, 255, 1), other.compute())
