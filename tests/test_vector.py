import geopandas as gpd
import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from shapely.geometry import Point, box

from xlandslide.errors import GridMismatchError
from xlandslide.vector import labels_from_points, labels_from_polygons


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


def test_points():
    pts = gpd.GeoDataFrame(
        {"slide": [True, False, True, False]},
        geometry=[Point(15, 995), Point(101, 951), Point(-50, 0), Point(15, 994)],
        crs="EPSG:32632",
    )
    lab = labels_from_points(pts, _like(), "slide")
    assert lab.dtype == np.int8
    assert lab.values[0, 1] == 1  # landslide wins over a stable point in the same pixel
    assert lab.values[4, 10] == 0
    assert (lab.values == -1).sum() == lab.size - 2
    with pytest.raises(KeyError, match="no column"):
        labels_from_points(pts, _like(), "nope")
    with pytest.raises(GridMismatchError, match="to_crs"):
        labels_from_points(pts.to_crs("EPSG:4326"), _like(), "slide")


@pytest.mark.parametrize("chunks", [None, 7])
def test_polygons_lazy_and_exact(chunks):
    poly = gpd.GeoDataFrame(geometry=[box(100, 900, 150, 950)], crs="EPSG:32632")
    lab = labels_from_polygons(poly, _like(chunks))
    if chunks:
        assert lab.chunks is not None
    v = lab.values
    y, x = _like().y.values, _like().x.values
    inside = (y[:, None] > 900) & (y[:, None] < 950) & (x[None] > 100) & (x[None] < 150)
    expected = np.where(inside, 1, 0)
    expected[:, :3] = -1
    np.testing.assert_array_equal(v, expected)
    region = gpd.GeoDataFrame(geometry=[box(0, 800, 300, 1000)], crs="EPSG:32632")
    v2 = labels_from_polygons(poly, _like(chunks), region=region).values
    assert (v2[y > 800] >= 0).all() and (v2[y < 800] == -1).all()
