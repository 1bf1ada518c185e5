"""write_map / open_map: Zarr and GeoTIFF, CRS kept, lazy, streamed and never half-written."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import rioxarray
import xarray as xr

from tests.helpers import raise_if_dask_computes
from xlandslide.errors import ConfigError, RegionNotFoundError, StoreExistsError
from xlandslide.io import open_map, write_map


def _map(chunks=8):
    prob = xr.DataArray(
        np.linspace(0, 1, 16 * 20, dtype="float32").reshape(16, 20),
        dims=("y", "x"),
        coords={"y": 5000 - 10.0 * np.arange(16), "x": 300 + 10.0 * np.arange(20)},
        name="susceptibility",
    )
    prob[0, 0] = np.nan
    if isinstance(chunks, int):
        chunks = (chunks, chunks)
    return prob.rio.write_crs("EPSG:32632").chunk(dict(zip(("y", "x"), chunks)))


@pytest.mark.parametrize("suffix", [".zarr", ".tif", ".tiff"])
def test_round_trip_keeps_values_grid_and_crs(tmp_path, suffix):
    prob = _map()
    path = write_map(prob, tmp_path / f"m{suffix}")
    assert path == tmp_path / f"m{suffix}"
    with raise_if_dask_computes():
        back = open_map(path)
    assert isinstance(back.data, da.Array) and back.name == "susceptibility"
    assert back.dims == ("y", "x") and back.rio.crs.to_epsg() == 32632
    np.testing.assert_array_equal(back.values, prob.values)  # NaN kept as NaN
    np.testing.assert_allclose(back.x.values, prob.x.values)
    np.testing.assert_allclose(back.y.values, prob.y.values)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m{suffix}"]


def test_plain_readers_read_the_outputs(tmp_path):
    prob = _map()
    write_map(prob, tmp_path / "m.zarr")
    np.testing.assert_array_equal(xr.open_zarr(tmp_path / "m.zarr")["susceptibility"], prob)
    write_map(prob, tmp_path / "m.tif")
    tif = rioxarray.open_rasterio(tmp_path / "m.tif", masked=True).squeeze("band", drop=True)
    assert tif.rio.crs.to_epsg() == 32632 and tif.dtype == np.float32
    np.testing.assert_array_equal(tif.values, prob.values)


def test_zarr_keeps_chunks_and_names(tmp_path):
    prob = _map(chunks=(5, 7)).rename("lacnn")
    write_map(prob, tmp_path / "m.zarr")
    back = open_map(tmp_path / "m.zarr")
    assert back.name == "lacnn" and back.chunks == ((5, 5, 5, 1), (7, 7, 6))
    assert open_map(tmp_path / "m.zarr", name="lacnn").name == "lacnn"


def test_open_map_picks_a_variable_of_a_store_with_several(tmp_path):
    two = xr.Dataset({"a": _map(), "b": 1 - _map()})
    two.to_zarr(tmp_path / "two.zarr", zarr_format=3, consolidated=False)
    np.testing.assert_array_equal(open_map(tmp_path / "two.zarr", name="b"), 1 - _map())
    with pytest.raises(ConfigError, match=r"holds \['[ab]', '[ab]'\], not 'susceptibility'.*name="):
        open_map(tmp_path / "two.zarr")


def test_refuses_overwrite_and_keeps_old_on_failure(tmp_path):
    path = tmp_path / "m.zarr"
    write_map(_map(), path)
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        write_map(_map(), path)

    def boom(block):
        raise RuntimeError("disk full")

    bad = _map().copy(data=_map().data.map_blocks(boom, dtype="float32"))
    with pytest.raises(RuntimeError, match="disk full"):
        write_map(bad, path, overwrite=True)
    back = xr.open_zarr(path)["susceptibility"]
    np.testing.assert_array_equal(back.values, _map().values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zarr"]
    write_map(1 - _map(), path, overwrite=True)
    np.testing.assert_array_equal(open_map(path).values, 1 - _map().values)


def test_unknown_format_and_missing_map(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown map format '\.nc'.*\.zarr, \.tif, \.tiff"):
        write_map(_map(), tmp_path / "m.nc")
    with pytest.raises(ConfigError, match="'\\(none\\)'"):
        open_map(tmp_path / "m")
    with pytest.raises(RegionNotFoundError, match=r"no map at .*write_map"):
        open_map(tmp_path / "missing.tif")
    assert list(tmp_path.iterdir()) == []
