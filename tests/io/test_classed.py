"""Tests of xlandslide.io.classed: the classed GeoTIFF, its colour table, names and style."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401
import xarray as xr

from xlandslide.errors import ConfigError, StoreExistsError
from xlandslide.evaluate.zoning import zoning
from xlandslide.io.classed import class_colours, open_classed, write_classed


def make_zones(chunks=None):
    rng = np.random.default_rng(0)
    prob = rng.beta(0.5, 6, (50, 60)).astype("float32")
    prob[:2, :3] = np.nan
    coords = {"y": 9000.0 - 10 * np.arange(50) - 5, "x": 300.0 + 10 * np.arange(60) + 5}
    p = xr.DataArray(prob, dims=("y", "x"), coords=coords).rio.write_crs("EPSG:32717")
    if chunks:
        p = p.chunk(chunks)
    return zoning(p, "quantile", 5)


def test_classed_geotiff_round_trip(tmp_path):
    zones = make_zones(chunks=17)
    path = write_classed(zones, tmp_path / "zones.tif")
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        assert src.crs.to_epsg() == 32717
        cmap = src.colormap(1)
        assert [cmap[i][:3] for i in range(5)] == class_colours(5)
        assert cmap[255][3] == 0  # no data: transparent
        names = json.loads(src.tags(1)["CLASS_NAMES"])
        assert names == ["very low", "low", "moderate", "high", "very high"]
        np.testing.assert_array_equal(src.read(1), zones.values)
        assert src.transform == zones.rio.transform()
    back = open_classed(path)
    assert back.attrs["class_names"] == names
    assert back.attrs["breaks"] == pytest.approx(zones.attrs["breaks"])
    np.testing.assert_array_equal(back.values, zones.values)
    # GDAL category names (PAM sidecar) and the QGIS style sidecar list the classes
    aux = ET.parse(f"{path}.aux.xml").getroot()
    assert [c.text for c in aux.iter("Category")] == names
    qml = ET.parse(path.with_suffix(".qml")).getroot()
    renderer = qml.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted"
    entries = renderer.findall("colorPalette/paletteEntry")
    assert [e.get("label") for e in entries] == names
    assert [e.get("value") for e in entries] == ["0", "1", "2", "3", "4"]
    assert entries[-1].get("color") == "#d7191c"


def test_classed_errors(tmp_path):
    zones = make_zones()
    write_classed(zones, tmp_path / "z.tif")
    with pytest.raises(StoreExistsError):
        write_classed(zones, tmp_path / "z.tif")
    write_classed(zones, tmp_path / "z.tif", overwrite=True, colours=["#000000"] * 5)
    with rasterio.open(tmp_path / "z.tif") as src:
        assert src.colormap(1)[4][:3] == (0, 0, 0)
    with pytest.raises(ConfigError, match="GeoTIFF"):
        write_classed(zones, tmp_path / "z.png")
    with pytest.raises(ConfigError, match="colours"):
        write_classed(zones, tmp_path / "y.tif", colours=["#000000"])
    with pytest.raises(ConfigError, match="class names"):
        write_classed(zones.assign_attrs(class_names=[]), tmp_path / "x.tif")
    assert class_colours(3)[0] == (0x1A, 0x96, 0x41) and len(class_colours(7)) == 7
