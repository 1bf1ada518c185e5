"""build_region: the paper-shaped fixture (coded polygons -> INSPIRE classes, polygon labels,
boundary), continuous rasters and their one-pass statistics, alignment (refused by default,
reprojected on request), laziness and chunk independence, the real Ecuador stack."""

from __future__ import annotations

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
import rioxarray
import shapely
import xarray as xr
from hypothesis import HealthCheck, given, settings
from rasterio.enums import Resampling

import xlandslide
from tests.data import make_fixtures as fx
from tests.helpers import raise_if_dask_computes
from tests.strategies import yx_chunks
from xlandslide.catalog import LAND_COVER, LITHOLOGY, NODATA_CODE
from xlandslide.errors import GridMismatchError
from xlandslide.io import CategoricalLayer, RasterLayer, build_region
from xlandslide.mapping import class_mapping
from xlandslide.terrain import slope
from xlandslide.validate import validate_region

DATA = fx.HERE
LITHO = class_mapping("lithology", preset="inspire", codes={c: n for c, n, _ in fx.LITHOLOGY})


def _layers(**kw):
    return {
        "lithology": CategoricalLayer(DATA / "lithology.gpkg", column="LITO", mapping=LITHO, **kw),
        "land_cover": CategoricalLayer(
            DATA / "land_cover.geojson", column="CODE_18", mapping="corine", **kw
        ),
    }


def _paper_shaped(**kw):
    return build_region(
        DATA / "dem.tif",
        categorical=_layers(),
        labels=DATA / "landslides.geojson",
        boundary=DATA / "boundary.geojson",
        **kw,
    )


def _centres():
    """x, y of every pixel centre of the fixture grid, (NY, NX) each."""
    x = fx.X0 + fx.PIXEL * (np.arange(fx.NX) + 0.5)
    y = fx.Y0 - fx.PIXEL * (np.arange(fx.NY) + 0.5)
    return np.meshgrid(x, y)


def _burn_oracle(table, classes):
    """Class index of the polygon holding every pixel centre (255: none), later wins."""
    xx, yy = _centres()
    out = np.full(xx.shape, NODATA_CODE, np.uint8)
    for _, name, geom in table:
        out[shapely.contains_xy(geom, xx, yy)] = classes.index(name)
    return out


def _valid_oracle():
    z = fx.dem_values()
    dem = xr.DataArray(
        np.where(z == fx.NODATA, np.nan, z),
        dims=("y", "x"),
        coords={"y": _centres()[1][:, 0], "x": _centres()[0][0]},
    )
    xx, yy = _centres()
    inside = shapely.contains_xy(fx.BOUNDARY, xx, yy)
    return np.isfinite(dem.values) & np.isfinite(slope(dem).values) & inside, dem


@pytest.fixture(scope="module")
def paper_shaped():
    return _paper_shaped()


def test_codes_round_trip_to_inspire_classes(paper_shaped, tmp_path):
    store = xlandslide.write_region(paper_shaped, tmp_path / "r.zarr")
    region = validate_region(xlandslide.open_region(store), check_values=True)
    layout = region.landslide.layout()
    assert layout.continuous == ("slope", "dem")
    assert layout.groups == (("lithology", LITHOLOGY), ("land_cover", LAND_COVER))
    assert len(layout.names) == 2 + 44 + 5  # the paper's first 51 features
    valid, _ = _valid_oracle()
    lith = region["categorical"].sel(group="lithology").values
    cover = region["categorical"].sel(group="land_cover").values
    want_l = np.where(valid, _burn_oracle(fx.LITHOLOGY, LITHOLOGY), NODATA_CODE)
    want_c = np.where(valid, _burn_oracle(fx.LAND_COVER, LAND_COVER), NODATA_CODE)
    np.testing.assert_array_equal(lith, want_l)
    np.testing.assert_array_equal(cover, want_c)
    # the class at known polygon locations, by name
    names = layout.classes("lithology")
    for code, name, geom in fx.LITHOLOGY:
        p = geom.intersection(shapely.box(*region.rio.bounds())).representative_point()
        k = int(region["categorical"].sel(group="lithology").sel(x=p.x, y=p.y, method="nearest"))
        assert names[k] == name, code
    point = region.sel(x=fx.X0 + 400, y=fx.Y0 - 100, method="nearest")  # CODE_18 311
    assert LAND_COVER[int(point["categorical"].sel(group="land_cover"))] == (
        "forest_and_semi_natural_areas"
    )
    # the one-hot view names the INSPIRE features and is 1 at the pixel's class
    view = region.landslide.features(["lithology_gneiss", "land_cover_wetlands"])
    assert float(view.sel(x=fx.X0 + 105, y=fx.Y0 - 105, method="nearest")[0]) == 1.0
    assert float(view.sel(x=fx.X0 + 505, y=fx.Y0 - 105, method="nearest")[1]) == 1.0


def test_polygon_labels_boundary_and_dem(paper_shaped):
    valid, dem = _valid_oracle()
    xx, yy = _centres()
    slides = np.zeros(xx.shape, bool)
    for geom in fx.LANDSLIDES:
        slides |= shapely.contains_xy(geom, xx, yy)
    want = np.where(valid, slides.astype(np.int8), -1)
    np.testing.assert_array_equal(paper_shaped["label"].values, want)
    assert (want == 1).sum() > 50
    cont = paper_shaped["continuous"].values
    assert np.isnan(cont[:, ~valid]).all() and np.isfinite(cont[:, valid]).all()
    # the DEM keeps every elevation, also outside the boundary; the declared -9999 is NaN
    np.testing.assert_array_equal(paper_shaped["dem"].values, dem.values.astype(np.float32))
    assert np.isnan(paper_shaped["dem"].values[:4, :6]).all()
    assert paper_shaped.rio.crs.to_epsg() == 32632


def test_statistics_of_one_pass(paper_shaped):
    valid, dem = _valid_oracle()
    sl = slope(dem).values
    norm = paper_shaped.attrs["normalisation"]
    for name, layer in (("slope", sl), ("dem", dem.values)):
        x = layer[valid].astype(np.float64)
        assert norm[name]["mean"] == pytest.approx(x.mean(), rel=1e-12)
        assert norm[name]["std"] == pytest.approx(x.std(), rel=1e-9)
    build = paper_shaped.attrs["xlandslide_build"]
    assert build["valid_pixels"] == valid.sum()
    assert build["landslide_pixels"] == (paper_shaped.label.values == 1).sum()
    assert build["unclassed_pixels"] == {"lithology": 0, "land_cover": 0}


def test_lazy_with_one_compute_and_none_with_given_statistics(paper_shaped):
    with raise_if_dask_computes(max_computes=1):
        region = _paper_shaped()
        region.landslide.features()
    for name in ("dem", "label", "continuous", "categorical"):
        assert isinstance(region[name].data, da.Array), name
    assert region["categorical"].chunks[1:] == region["dem"].chunks
    with raise_if_dask_computes():  # statistics given: nothing computed at all
        again = _paper_shaped(normalisation=paper_shaped.attrs["normalisation"])
    xr.testing.assert_equal(again.compute(), paper_shaped.compute())
    assert again.attrs["normalisation"] == paper_shaped.attrs["normalisation"]
    assert "valid_pixels" not in again.attrs["xlandslide_build"]  # no pass, no counts


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=yx_chunks((fx.NY, fx.NX), max_chunks=4))
def test_same_region_for_any_chunking(chunks):
    want = _paper_shaped(chunks=80).compute()
    dem = rioxarray.open_rasterio(DATA / "dem.tif", masked=True).squeeze("band", drop=True)
    got = build_region(
        dem.chunk({"y": chunks[0], "x": chunks[1]}),
        categorical=_layers(),
        labels=DATA / "landslides.geojson",
        boundary=DATA / "boundary.geojson",
    )
    assert got["label"].chunks == chunks
    for name in ("label", "categorical", "dem"):
        np.testing.assert_array_equal(got[name].values, want[name].values)
    np.testing.assert_allclose(got["continuous"].values, want["continuous"].values, rtol=1e-6)
    for k, v in want.attrs["normalisation"].items():
        assert got.attrs["normalisation"][k] == pytest.approx(v, rel=1e-10)


def _other_crs(tmp_path):
    gdf = gpd.read_file(DATA / "lithology.gpkg").to_crs("EPSG:3035")
    path = tmp_path / "lithology_3035.gpkg"
    gdf.to_file(path)
    return path


def test_polygons_in_another_crs_refused_then_reprojected(paper_shaped, tmp_path):
    path = _other_crs(tmp_path)
    layers = {"lithology": CategoricalLayer(path, column="LITO", mapping=LITHO)}
    with pytest.raises(GridMismatchError, match=r"EPSG:3035.*reproject=True.*to_crs"):
        build_region(DATA / "dem.tif", categorical=layers)
    region = build_region(DATA / "dem.tif", categorical=layers, reproject=True)
    got = region["categorical"].sel(group="lithology").values
    valid, _ = _valid_oracle()
    xx, yy = _centres()
    # away from the polygon edges (a reprojected edge moves by centimetres) every class holds
    edges = shapely.union_all([g.boundary for *_, g in fx.LITHOLOGY]).buffer(fx.PIXEL)
    far = ~shapely.contains_xy(edges, xx, yy) & np.isfinite(region["continuous"].values[0])
    want = _burn_oracle(fx.LITHOLOGY, LITHOLOGY)
    np.testing.assert_array_equal(got[far], want[far])
    assert far.sum() > 0.6 * far.size and valid.sum() > 0


def _coarse_rain(tmp_path):
    """A rainfall raster on a 20 m grid shifted from the DEM's, and in another CRS copy."""
    y = fx.Y0 + 15 - 20.0 * (np.arange(34) + 0.5)
    x = fx.X0 - 15 + 20.0 * (np.arange(44) + 0.5)
    rain = xr.DataArray(
        (1000 + 2.0 * np.add.outer(np.arange(34), 3 * np.arange(44))).astype(np.float32),
        dims=("y", "x"),
        coords={"y": y, "x": x},
    ).rio.write_crs(fx.CRS)
    path = tmp_path / "rain.tif"
    rain.rio.to_raster(path)
    return rain, path


def test_rasters_on_another_grid_refused_then_reprojected(tmp_path):
    rain, path = _coarse_rain(tmp_path)
    with pytest.raises(GridMismatchError, match=r"not on the DEM's grid.*reproject=True"):
        build_region(DATA / "dem.tif", continuous={"rain": path})
    dem = rioxarray.open_rasterio(DATA / "dem.tif", masked=True).squeeze("band", drop=True)
    oracle = rain.rio.reproject_match(dem, resampling=Resampling.bilinear, nodata=np.nan)
    for source in (path, rain):  # a file (lazy WarpedVRT) and a DataArray (reproject_match)
        region = build_region(DATA / "dem.tif", continuous={"rain": source}, reproject=True)
        norm = region.attrs["normalisation"]["rain"]
        got = region["continuous"].sel(layer="rain").values * norm["std"] + norm["mean"]
        ok = np.isfinite(got)
        assert ok.sum() > 0.8 * ok.size
        np.testing.assert_allclose(got[ok], oracle.values[ok], rtol=1e-5)
    # a grid shift of half a pixel is another grid too
    shifted = dem.assign_coords(x=dem.x + 5.0)
    with pytest.raises(GridMismatchError, match=r"'x' coordinates are shifted by up to 5"):
        build_region(DATA / "dem.tif", continuous={"other": shifted})


def test_continuous_layers_terrain_and_numpy_dems():
    dem = rioxarray.open_rasterio(DATA / "dem.tif", masked=True).squeeze("band", drop=True)
    rng = np.random.default_rng(0)
    curv = dem.copy(data=rng.standard_normal(dem.shape).astype(np.float32))
    given = dem.copy(data=np.full(dem.shape, 30.0, np.float32) + curv.values)
    region = build_region(dem, continuous={"curv": curv, "slope": given})
    assert isinstance(region["continuous"].data, np.ndarray)  # numpy in, numpy out
    assert list(region.layer.values) == ["slope", "dem", "curv"]
    valid = np.isfinite(dem.values)
    norm = region.attrs["normalisation"]
    assert norm["slope"]["mean"] == pytest.approx(given.values[valid].mean(dtype="f8"))
    assert norm["curv"]["std"] == pytest.approx(curv.values[valid].std(dtype="f8"), rel=1e-9)
    # the given slope is used: finite on the rim where a computed one is not
    assert np.isfinite(region["continuous"].values[0, -1, 10])
    only = build_region(dem, continuous={"curv": curv}, terrain=())
    assert list(only.layer.values) == ["curv"]
    np.testing.assert_array_equal(only["label"].values, np.full(dem.shape, -1, np.int8))


def test_ecuador_stack_varies_as_in_the_source(ecuador_tif, ecuador_points):
    names = ("slope", "cplan", "cprof", "log10_carea")
    region = build_region(
        RasterLayer(ecuador_tif, band="elev"),
        continuous={n: RasterLayer(ecuador_tif, band=n) for n in names},
        labels=ecuador_points,
        label_column="lslpts",
        chunks=100,
    )
    assert list(region.layer.values) == ["slope", "dem", "cplan", "cprof", "log10_carea"]
    stack = rioxarray.open_rasterio(ecuador_tif, masked=True)
    bands = list(stack.attrs["long_name"])
    src = {n: stack.values[bands.index("elev" if n == "dem" else n)] for n in region.layer.values}
    valid = np.logical_and.reduce([np.isfinite(v) for v in src.values()])
    cont = region["continuous"].values
    norm = region.attrs["normalisation"]
    for k, name in enumerate(region.layer.values):
        x = src[name][valid].astype(np.float64)
        assert norm[name]["mean"] == pytest.approx(x.mean(), rel=1e-9, abs=1e-12)
        assert norm[name]["std"] == pytest.approx(x.std(), rel=1e-9)
        back = cont[k][valid] * norm[name]["std"] + norm[name]["mean"]
        np.testing.assert_allclose(back, src[name][valid], rtol=1e-5, atol=1e-5 * x.std())
    assert np.isnan(cont[:, ~valid]).all()
    # the points: their pixels carry the attributes the data set sampled there
    points = gpd.read_file(ecuador_points)
    cols, rows = ~region.rio.transform() @ (points.geometry.x.values, points.geometry.y.values)
    rows, cols = np.floor(rows).astype(int), np.floor(cols).astype(int)
    for k, name in enumerate(region.layer.values):
        back = cont[k, rows, cols] * norm[name]["std"] + norm[name]["mean"]
        column = points["elev" if name == "dem" else name].to_numpy()
        np.testing.assert_allclose(back, column, rtol=1e-5, atol=1e-6)
    lab = region["label"].values
    assert (lab[rows[points.lslpts], cols[points.lslpts]] == 1).all()
    assert (lab == 1).sum() == 175 and (lab == 0).sum() == 174  # one pair shares a pixel


def test_codes_and_labels_reprojected_with_nearest(tmp_path):
    rain, _ = _coarse_rain(tmp_path)
    codes = (rain // 40 % 3 + 1).astype(np.float32)  # codes 1, 2, 3 in bands
    label = (rain % 7 == 0).astype(np.float32)  # 0 / 1
    dem = rioxarray.open_rasterio(DATA / "dem.tif", masked=True).squeeze("band", drop=True)
    soil = class_mapping("soil", codes={1: "a", 2: "b", 3: "c"})
    region = build_region(
        DATA / "dem.tif",
        categorical={"soil": CategoricalLayer(codes, mapping=soil)},
        labels=label,
        reproject=True,
    )
    near = {
        k: v.rio.reproject_match(dem, resampling=Resampling.nearest, nodata=np.nan).values
        for k, v in (("codes", codes), ("label", label))
    }
    valid = np.isfinite(region["continuous"].values[0])
    got = region["categorical"].values[0]
    np.testing.assert_array_equal(got[valid], near["codes"][valid].astype(np.uint8) - 1)
    np.testing.assert_array_equal(region["label"].values[valid], near["label"][valid])
    assert set(np.unique(got[valid])) == {0, 1, 2}  # nearest: no code in between


# ------------------------------------------------------------- labels that teach nothing (item 9)
def _labels_gdf(geoms):
    return gpd.GeoDataFrame({"id": range(len(geoms))}, geometry=geoms, crs=fx.CRS)


def test_landslides_outside_the_dem_are_refused_naming_the_counts():
    from xlandslide.errors import LabelError

    far = [shapely.affinity.translate(g, 1e6, 0) for g in fx.LANDSLIDES]
    with pytest.raises(LabelError, match=r"0 landslide and \d+ stable pixels.*inside the DEM"):
        build_region(DATA / "dem.tif", categorical=_layers(), labels=_labels_gdf(far))


def test_labels_all_landslide_are_refused():
    from xlandslide.errors import LabelError

    everywhere = [shapely.box(fx.X0 - 1e4, fx.Y0 - 1e4, fx.X0 + 1e4, fx.Y0 + 1e4)]
    with pytest.raises(LabelError, match=r"\d+ landslide and 0 stable pixels.*stable"):
        build_region(DATA / "dem.tif", categorical=_layers(), labels=_labels_gdf(everywhere))
    assert issubclass(LabelError, ValueError)
