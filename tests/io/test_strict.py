"""Strict inputs (DESIGN §6): every case a typed error (an XLandslideError and the builtin)
whose message names what came and the fix — never a silent guess."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
import rioxarray
import xarray as xr
from shapely.geometry import Point, box

import xlandslide
from tests.data import make_fixtures as fx
from tests.helpers import raise_if_dask_computes
from xlandslide.catalog import ROCK_FAMILY
from xlandslide.errors import (
    ConfigError,
    CRSUnitsError,
    GridError,
    GridMismatchError,
    LabelError,
    LayerError,
    LayerNotFoundError,
    NodataError,
    UnmappedCodeError,
    XLandslideError,
)
from xlandslide.io import CategoricalLayer, RasterLayer, build_region, labels_from_points
from xlandslide.mapping import class_mapping

DEM = fx.HERE / "dem.tif"


def _dem(ny=40, nx=50, seed=0):
    """A hilly numpy DEM (about 2300 m, std near 180 m) in UTM 17S."""
    yy, xx = np.mgrid[0:ny, 0:nx]
    z = 2300 + 150 * np.sin(yy / 7.0) + 120 * np.cos(xx / 9.0) + 3.0 * xx
    return xr.DataArray(
        z.astype(np.float32),
        dims=("y", "x"),
        coords={
            "y": 9.56e6 - 10.0 * (np.arange(ny) + 0.5),
            "x": 7.1e5 + 10.0 * (np.arange(nx) + 0.5),
        },
    ).rio.write_crs("EPSG:32717")


def _points(values):
    dem = _dem()
    xs = dem.x.values[[5, 10, 20, 30, 40][: len(values)]]
    ys = dem.y.values[[5, 10, 20, 30, 35][: len(values)]]
    return gpd.GeoDataFrame(
        {"slide": values}, geometry=[Point(x, y) for x, y in zip(xs, ys)], crs="EPSG:32717"
    )


def _typed(info, builtin):
    assert isinstance(info.value, XLandslideError) and isinstance(info.value, builtin)


# ---------------------------------------------------------------------------------------------
# Labels from points
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, match",
    [
        ([1.0, 0.0, np.nan, 1.0], r"1 missing values"),
        ([1.0, 0.5, 0.0, 1.0], r"holds \[0.5\] besides 0 and 1"),
        (["1", "0", "0", "1"], r"str values \('0', '1'\).*text is never read as a label"),
        (["yes", "no", "no", "yes"], r"str values.*'no'"),
        ([True, None, False, True], r"1 missing values"),
        ([2, 0, 1, 1], r"holds \[2.0\] besides 0 and 1"),
    ],
)
def test_points_column_must_be_boolean_or_0_1(values, match):
    with pytest.raises(LabelError, match=match) as info:
        labels_from_points(_points(values), _dem(), "slide")
    _typed(info, ValueError)
    assert "True = landslide" in str(info.value)  # the fix
    with pytest.raises(LabelError, match=match):  # build_region refuses them the same way
        build_region(_dem(), labels=_points(values), label_column="slide")


@pytest.mark.parametrize("values", [[True, False, True], [1, 0, 1], [1.0, 0.0, 1.0]])
def test_points_column_boolean_or_0_1_is_read(values):
    lab = labels_from_points(_points(values), _dem(), "slide").values
    assert (lab == 1).sum() == 2 and (lab == 0).sum() == 1 and (lab == -1).sum() == lab.size - 3


def test_points_need_their_column_in_build_region():
    with pytest.raises(LayerError, match="label_column"):
        build_region(_dem(), labels=_points([True, False]))
    polygons = gpd.GeoDataFrame(geometry=[box(7.1e5, 9.5596e6, 7.1e5 + 50, 9.5597e6)])
    with pytest.raises(LayerError, match="drop label_column"):
        build_region(_dem(), labels=polygons.set_crs("EPSG:32717"), label_column="x")


# ---------------------------------------------------------------------------------------------
# Label rasters
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [0.5, 2.0, -9999.0])
def test_label_raster_values_other_than_1_0_nodata_are_refused(bad):
    dem = _dem()
    label = xr.zeros_like(dem)
    label[10:12, 10:14] = 1.0
    label[20, 20] = bad
    with pytest.raises(LabelError, match=rf"holds \[{bad}\] in 1 pixels") as info:
        build_region(dem, labels=label)
    _typed(info, ValueError)
    assert "declare its no-data value" in str(info.value)
    # declared, the same value is no data: unknown
    region = build_region(dem, labels=RasterLayer(label, nodata=bad))
    assert region["label"].values[20, 20] == -1
    assert (region["label"].values[10:12, 10:14] == 1).all()


def test_label_raster_unknown_codes_accepted():
    dem = _dem()
    label = xr.zeros_like(dem)
    label[3:6, 3:6] = np.nan
    label[6:9, 6:9] = -1.0
    label[20:22, 20:22] = 1.0
    lab = build_region(dem, labels=label)["label"].values
    assert (lab[3:6, 3:6] == -1).all() and (lab[6:9, 6:9] == -1).all()
    assert (lab[20:22, 20:22] == 1).all() and (lab[10:20, 10:20] == 0).all()
    # a label raster of labels_from_points (int8, -1 unknown) is taken as it is
    pts = labels_from_points(_points([True, False, True]), dem, "slide")
    np.testing.assert_array_equal(
        build_region(dem, labels=pts)["label"].values[1:-1, 1:-1], pts.values[1:-1, 1:-1]
    )


def test_bad_labels_are_reported_when_computed_without_a_pass():
    dem = _dem().chunk(20)
    label = xr.zeros_like(dem)
    label[30, 30] = 2.0
    with raise_if_dask_computes():
        region = build_region(
            dem,
            labels=label,
            normalisation={"slope": {"mean": 10, "std": 5}, "dem": {"mean": 2300, "std": 180}},
        )
    with pytest.raises(LabelError, match=r"holds \[2.0\].*rows 20:40, columns 20:40"):
        region["label"].values


# ---------------------------------------------------------------------------------------------
# No-data values
# ---------------------------------------------------------------------------------------------
def test_undeclared_nodata_in_the_dem_is_refused():
    dem = _dem()
    holes = dem.copy()
    holes[:4, :] = -9999.0
    with pytest.raises(NodataError, match=r"holds -9999 in 200 pixels.*nodata=-9999") as info:
        build_region(holes)
    _typed(info, ValueError)
    # declared, it is no data, and the statistics are those of the terrain
    declared = build_region(holes.rio.write_nodata(-9999.0))
    std = declared.attrs["normalisation"]["dem"]["std"]
    valid = np.isfinite(declared["continuous"].values[0])
    assert std == pytest.approx(dem.values[valid].std(dtype="f8"), rel=1e-9)
    assert 100 < std < 250  # taken as data, -9999 would give a std near 4000
    again = build_region(RasterLayer(holes, nodata=-9999))
    assert again.attrs["normalisation"] == declared.attrs["normalisation"]


@pytest.mark.parametrize("value", [-32768.0, -3.4028234663852886e38, np.inf])
def test_undeclared_nodata_in_a_continuous_layer_is_refused(value):
    dem = _dem()
    rain = xr.full_like(dem, 1500.0) + xr.DataArray(np.arange(50.0), dims="x")
    rain[5, 5] = value
    match = "infinite" if np.isinf(value) else re.escape(f"holds {value:g} in 1 pixels")
    with pytest.raises(NodataError, match=match):
        build_region(dem, continuous={"rain": rain})


def test_nodata_declared_in_a_file_is_honoured(tmp_path):
    region = build_region(DEM)  # the fixture declares -9999 in its corner
    assert np.isnan(region["dem"].values[:4, :6]).all()
    assert region.attrs["normalisation"]["dem"]["mean"] > 0
    raw = rioxarray.open_rasterio(DEM).squeeze("band", drop=True)  # declared via rio.nodata
    assert raw.rio.nodata == -9999
    np.testing.assert_array_equal(build_region(raw)["dem"].values, region["dem"].values)
    undeclared = raw.copy()
    undeclared.attrs.pop("_FillValue", None)
    undeclared = undeclared.rio.write_nodata(None)
    path = tmp_path / "undeclared.tif"
    undeclared.rio.to_raster(path)
    with pytest.raises(NodataError, match="holds -9999 in 24 pixels"):
        build_region(path)


def test_slope_in_percent_is_refused():
    dem = _dem()
    with pytest.raises(LayerError, match=r"degrees, 0..90.*percent"):
        build_region(dem, continuous={"slope": xr.full_like(dem, 120.0)})


# ---------------------------------------------------------------------------------------------
# Codes and their mappings
# ---------------------------------------------------------------------------------------------
def _geology(codes):
    """Four coded quadrants of the fixture grid."""
    return gpd.GeoDataFrame({"CODE": codes}, geometry=[g for *_, g in fx.LITHOLOGY], crs=fx.CRS)


def test_code_missing_from_its_mapping_is_refused():
    mapping = class_mapping("lithology", preset="inspire", codes={101: "gneiss", 205: "marble"})
    layer = CategoricalLayer(_geology([101, 205, 310, 310]), column="CODE", mapping=mapping)
    with pytest.raises(UnmappedCodeError, match=r"codes its mapping does not name: 310 \(2 "):
        build_region(DEM, categorical={"lithology": layer})
    with pytest.raises(KeyError):  # the builtin it refines
        build_region(DEM, categorical={"lithology": layer})
    try:
        build_region(DEM, categorical={"lithology": layer})
    except UnmappedCodeError as err:  # a sentence, not a quoted key
        assert str(err).startswith("categorical layer 'lithology' holds codes")
        assert "unmapped='nodata'" in str(err)


def test_unmapped_codes_go_to_the_unknown_class_only_when_asked():
    m = class_mapping("rock_family", preset="inspire", codes={1: "metamorphic", 2: "volcanic"})
    assert m.unknown == "unknown"
    gdf = _geology([1, 2, 7, None])
    with pytest.raises(UnmappedCodeError, match=r"7 \(1 polygons\), a missing code \(1 polygons\)"):
        build_region(
            DEM, categorical={"rock_family": CategoricalLayer(gdf, column="CODE", mapping=m)}
        )
    asked = CategoricalLayer(gdf, column="CODE", mapping=m, unmapped="unknown")
    codes = build_region(DEM, categorical={"rock_family": asked})["categorical"].values[0]
    unknown = ROCK_FAMILY.index("unknown")
    assert (codes[40:58, 5:30] == unknown).all() and (codes[40:58, 45:70] == unknown).all()
    assert (codes[10:25, 10:30] == ROCK_FAMILY.index("metamorphic")).all()
    nodata = CategoricalLayer(gdf, column="CODE", mapping=m, unmapped="nodata")
    codes = build_region(DEM, categorical={"rock_family": nodata})["categorical"].values[0]
    assert (codes[40:58, 5:30] == 255).all()
    lith = class_mapping("lithology", preset="inspire", codes={1: "gneiss"})
    with pytest.raises(ConfigError, match="no unknown class"):
        build_region(
            DEM,
            categorical={
                "lithology": CategoricalLayer(gdf, column="CODE", mapping=lith, unmapped="unknown")
            },
        )


def test_code_raster_missing_codes(tmp_path):
    dem = rioxarray.open_rasterio(DEM, masked=True).squeeze("band", drop=True)
    codes = xr.full_like(dem, 3.0).fillna(3.0)
    codes[:, 40:] = 4.0
    codes[50:, 70:] = 9.0
    soil = class_mapping("soil", codes={3: "clay", 4: "sand"})
    with pytest.raises(UnmappedCodeError, match=r"9 \(100 pixels\)"):
        build_region(DEM, categorical={"soil": CategoricalLayer(codes, mapping=soil)})
    path = tmp_path / "soil.tif"
    codes.astype(np.uint8).rio.write_nodata(9).rio.to_raster(path)  # 9 declared: no data
    region = build_region(DEM, categorical={"soil": CategoricalLayer(path, mapping=soil)})
    got = region["categorical"].values[0]
    assert region["categorical"].attrs["classes"] == {"soil": ["clay", "sand"]}
    assert (got[10:40, 10:39] == 0).all() and (got[10:40, 41:79] == 1).all()
    assert (got[50:, 70:] == 255).all()


def test_mapping_errors():
    with pytest.raises(ConfigError, match=r"\['schist'\] are not inspire classes"):
        class_mapping("lithology", preset="inspire", codes={1: "schist"})
    with pytest.raises(ConfigError, match="not an INSPIRE group"):
        class_mapping("soil", preset="inspire")
    with pytest.raises(ConfigError, match="give its codes"):
        class_mapping("soil")
    with pytest.raises(ConfigError, match="unmapped must be one of"):
        CategoricalLayer("x.gpkg", mapping="inspire", unmapped="guess")
    with pytest.raises(ConfigError, match="name its code column"):
        build_region(
            DEM, categorical={"lithology": CategoricalLayer(_geology([1] * 4), mapping="inspire")}
        )
    with pytest.raises(ConfigError, match="needs a mapping"):
        build_region(
            DEM, categorical={"lithology": CategoricalLayer(_geology([1] * 4), column="CODE")}
        )


# ---------------------------------------------------------------------------------------------
# Grids and CRS
# ---------------------------------------------------------------------------------------------
def test_geographic_dem_is_refused_with_the_fix():
    dem = _dem()
    lonlat = dem.assign_coords(y=-4.0 - 1e-4 * np.arange(40), x=-79.1 + 1e-4 * np.arange(50))
    with pytest.raises(CRSUnitsError, match=r"geographic CRS.*estimate_utm_crs") as info:
        build_region(lonlat.rio.write_crs("EPSG:4326", inplace=False))
    _typed(info, ValueError)
    assert isinstance(info.value, GridError)
    with pytest.raises(CRSUnitsError, match="not metres"):
        build_region(dem.rio.write_crs("EPSG:2263", inplace=False))  # US survey feet
    with pytest.raises(GridError, match="no CRS"):
        build_region(dem.drop_vars("spatial_ref"))


def test_crs_mismatch_and_grid_shift_are_refused():
    dem = _dem()
    other = dem.rio.write_crs("EPSG:32718", inplace=False)
    with pytest.raises(GridMismatchError, match=r"EPSG:32718.*reproject=True") as info:
        build_region(dem, continuous={"a": other})
    _typed(info, ValueError)
    with pytest.raises(GridMismatchError, match="shifted"):
        build_region(dem, continuous={"a": dem.assign_coords(y=dem.y + 3.0)})
    with pytest.raises(GridMismatchError, match="shape"):
        build_region(dem, continuous={"a": dem.isel(x=slice(1, None))})
    with pytest.raises(GridMismatchError, match="no CRS"):
        build_region(dem, continuous={"a": dem.drop_vars("spatial_ref")})
    pts = _points([True, False]).to_crs("EPSG:4326")
    with pytest.raises(GridMismatchError, match="to_crs"):
        build_region(dem, labels=pts, label_column="slide")
    assert (
        build_region(dem, labels=pts, label_column="slide", reproject=True)["label"].values.max()
        == 1
    )


def test_layer_sources(tmp_path, ecuador_tif):
    with pytest.raises(LayerNotFoundError, match="no file at") as info:
        build_region(tmp_path / "missing.tif")
    _typed(info, FileNotFoundError)
    with pytest.raises(LayerNotFoundError):
        build_region(DEM, labels=tmp_path / "missing.gpkg")
    with pytest.raises(LayerError, match=r"has 5 bands: 1 \('slope'\), 2 \('cplan'\)"):
        build_region(ecuador_tif)
    with pytest.raises(LayerError, match=r"no band named 'elevation'.*'elev'"):
        build_region(RasterLayer(ecuador_tif, band="elevation"))
    with pytest.raises(LayerError, match="not a band number"):
        build_region(RasterLayer(ecuador_tif, band=9))
    with pytest.raises(LayerError, match=r"dims \('lat', 'lon'\)"):
        build_region(_dem().rename(y="lat", x="lon"))
    with pytest.raises(LayerError, match="expected a raster"):
        build_region(42)
    by_number = build_region(RasterLayer(ecuador_tif, band=4), chunks=200)
    by_name = build_region(RasterLayer(ecuador_tif, band="elev"), chunks=200)
    assert by_number.attrs["normalisation"] == by_name.attrs["normalisation"]
    with pytest.raises(ConfigError, match="may not be named 'dem'"):
        build_region(_dem(), continuous={"dem": _dem()})
    with pytest.raises(ConfigError, match="terrain must list"):
        build_region(_dem(), terrain=("aspect",))


def test_errors_are_exported():
    for name in ("LabelError", "NodataError", "UnmappedCodeError", "CRSUnitsError", "LayerError"):
        assert issubclass(getattr(xlandslide, name), xlandslide.XLandslideError)
    assert issubclass(xlandslide.UnmappedCodeError, KeyError)
    assert issubclass(xlandslide.LayerNotFoundError, FileNotFoundError)
