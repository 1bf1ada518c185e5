"""Every GeoTIFF the package writes is a Cloud Optimized GeoTIFF (issue 19, item 7).

The writers: :func:`xlandslide.write_map` (a map, a Dataset of maps as bands, a resumed
map) and :func:`xlandslide.write_classed`.  Each output is checked by
:func:`xlandslide.io.cog.cog_problems` (the checks of ``rio cogeo validate``) and, where
rio-cogeo is installed, by its ``cog_validate`` (the oracle); the overviews against numpy
(2 x 2 means; the class of uniform 2 x 2 blocks); a plain GeoTIFF fails both checks.
"""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401
import xarray as xr

import xlandslide
from xlandslide.io.classed import class_colours, open_classed, write_classed
from xlandslide.io.cog import BLOCK, cog_problems
from xlandslide.io.maps import open_map, write_map

NY, NX = 1100, 700  # larger than 512: overviews are required


def _cog_validate(path):
    """rio-cogeo's verdict (is valid, errors), or None when it is not installed."""
    try:
        from rio_cogeo.cogeo import cog_validate
    except ImportError:
        return None
    valid, errors, _ = cog_validate(str(path), quiet=True)
    return valid, errors


def _assert_cog(path, predictor: str):
    assert cog_problems(path) == []
    oracle = _cog_validate(path)
    if oracle is not None:
        assert oracle == (True, [])
    with rasterio.open(path) as src:
        assert src.block_shapes[0] == (BLOCK, BLOCK)
        assert src.overviews(1) == [2, 4, 8]  # until a side is below a tile: 1100 / 8 < 256
        assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == predictor
        assert src.compression.name == "deflate"


def _coords(ny=NY, nx=NX):
    return {"y": 9000.0 - 10 * np.arange(ny) - 5, "x": 300.0 + 10 * np.arange(nx) + 5}


def _prob(seed=0, chunks=300):
    rng = np.random.default_rng(seed)
    values = rng.random((NY, NX), dtype=np.float32)
    values[:40, :50] = np.nan
    p = xr.DataArray(values, dims=("y", "x"), coords=_coords(), name="susceptibility")
    return p.rio.write_crs("EPSG:32717").chunk(chunks)


def _mean_2x2(a):
    """The mean of every 2 x 2 block, NaN left out (NaN where all four are)."""
    ny, nx = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    blocks = a[:ny, :nx].reshape(ny // 2, 2, nx // 2, 2).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks
        return np.nanmean(blocks, axis=(1, 3))


def test_a_map_is_a_cog_with_averaged_overviews(tmp_path):
    prob = _prob()
    path = write_map(prob, tmp_path / "m.tif")
    _assert_cog(path, predictor="3")
    with rasterio.open(path) as src:
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
        half = src.read(1, out_shape=(NY // 2, NX // 2))  # the first overview
    np.testing.assert_allclose(half, _mean_2x2(prob.values), rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(open_map(path, verify=True).values, prob.values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]  # no staging left


def test_a_map_is_streamed_block_by_block(tmp_path):
    """No block larger than a dask chunk is ever computed: the map is never whole."""
    seen = []

    def block(block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        seen.append((y1 - y0, x1 - x0))
        return np.full((y1 - y0, x1 - x0), (y0 + x0) / (NY + NX), np.float32)

    data = da.map_blocks(block, chunks=((256,) * 4 + (76,), (256,) * 2 + (188,)), dtype="f4")
    prob = xr.DataArray(data, dims=("y", "x"), coords=_coords()).rio.write_crs("EPSG:32717")
    path = write_map(prob, tmp_path / "m.tif")
    assert len(seen) == 15 and all(h <= 256 and w <= 256 for h, w in seen)
    _assert_cog(path, predictor="3")


def test_several_maps_are_bands_named_by_their_description(tmp_path):
    prob = _prob()
    u = xr.Dataset(
        {"mean": prob, "std": (prob * 0.1).assign_attrs(long_name="sd")},
        attrs={"members": [{"name": "a", "digest": "0" * 8}, {"name": "b", "digest": None}]},
    )
    path = write_map(u, tmp_path / "u.tif")
    _assert_cog(path, predictor="3")
    with rasterio.open(path) as src:
        assert src.count == 2 and src.descriptions == ("mean", "std")
    mean, std = open_map(path), open_map(path, name="std")
    np.testing.assert_array_equal(mean.values, prob.values)
    np.testing.assert_allclose(std.values, prob.values * 0.1, rtol=1e-6)
    assert mean.attrs["members"] == u.attrs["members"] and std.attrs["long_name"] == "sd"
    with pytest.raises(xlandslide.ConfigError, match="not 'median'"):
        open_map(path, name="median")


def test_a_resumed_map_is_a_cog(tmp_path):
    path = write_map(_prob(), tmp_path / "m.tif", resume=True)
    _assert_cog(path, predictor="3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]


def test_a_class_map_is_a_cog_keeping_colours_names_and_style(tmp_path):
    codes = np.random.default_rng(1).integers(0, 5, (NY // 2, NX // 2)).astype(np.uint8)
    codes = np.repeat(np.repeat(codes, 2, 0), 2, 1)  # uniform 2 x 2 blocks
    codes[:2, :4] = 255
    zones = xr.DataArray(codes, dims=("y", "x"), coords=_coords()).rio.write_crs(32717)
    names = ["very low", "low", "moderate", "high", "very high"]
    zones = zones.chunk(300).assign_attrs(class_names=names, breaks=[0.1, 0.2, 0.3, 0.4])
    path = write_classed(zones, tmp_path / "z.tif")
    _assert_cog(path, predictor="2")
    with rasterio.open(path) as src:
        assert src.colorinterp[0] == rasterio.enums.ColorInterp.palette
        assert [src.colormap(1)[i][:3] for i in range(5)] == class_colours(5)
        half = src.read(1, out_shape=(NY // 2, NX // 2))
    np.testing.assert_array_equal(half, codes[::2, ::2])  # the class of each 2 x 2 block
    back = open_classed(path)
    assert back.attrs["class_names"] == names
    np.testing.assert_array_equal(back.values, codes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.qml", "z.tif", "z.tif.aux.xml"]


def test_a_plain_geotiff_is_not_a_cog(tmp_path):
    """The checks are not vacuous: a striped GeoTIFF without overviews fails them, and
    rio-cogeo agrees."""
    path = tmp_path / "plain.tif"
    _prob().rio.to_raster(path)  # GDAL's defaults: strips, no overviews, no predictor
    problems = " ".join(cog_problems(path))
    for what in ("strips", "no COG layout", "no predictor", "no internal overviews"):
        assert what in problems
    oracle = _cog_validate(path)
    if oracle is not None:
        assert oracle[0] is False
