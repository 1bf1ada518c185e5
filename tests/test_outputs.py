import numpy as np
import pytest
import rioxarray
import xarray as xr

from xlandslide.errors import StoreExistsError
from xlandslide.outputs import atomic_output, write_map


def _map(chunks=8):
    prob = xr.DataArray(
        np.linspace(0, 1, 16 * 20, dtype="float32").reshape(16, 20),
        dims=("y", "x"),
        coords={"y": 5000 - 10.0 * np.arange(16), "x": 300 + 10.0 * np.arange(20)},
        name="susceptibility",
    )
    prob[0, 0] = np.nan
    return prob.rio.write_crs("EPSG:32632").chunk(chunks)


def test_write_zarr_and_tif(tmp_path):
    prob = _map()
    write_map(prob, tmp_path / "m.zarr")
    back = xr.open_zarr(tmp_path / "m.zarr")["susceptibility"]
    np.testing.assert_array_equal(back.values, prob.values)
    write_map(prob, tmp_path / "m.tif")
    tif = rioxarray.open_rasterio(tmp_path / "m.tif", masked=True).squeeze("band", drop=True)
    assert tif.rio.crs.to_epsg() == 32632
    np.testing.assert_array_equal(tif.values, prob.values)
    np.testing.assert_allclose(tif.x.values, prob.x.values)


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


def test_atomic_output_cleans_up(tmp_path):
    with pytest.raises(ValueError), atomic_output(tmp_path / "x.txt") as tmp:
        tmp.write_text("partial")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_unknown_format(tmp_path):
    with pytest.raises(ValueError, match=r"\.zarr or \.tif"):
        write_map(_map(), tmp_path / "m.nc")
