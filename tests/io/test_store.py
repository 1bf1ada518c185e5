"""Region stores: exact Zarr round trips of the compact layout, laziness, atomic writes."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from tests.helpers import raise_if_dask_computes
from tests.strategies import random_region
from xlandslide.catalog import INSPIRE, FeatureLayout
from xlandslide.errors import (
    GridError,
    LegacyStoreError,
    RegionError,
    RegionNotFoundError,
    StoreExistsError,
)
from xlandslide.io import open_region, write_region
from xlandslide.io.store import STORE_CHUNK
from xlandslide.region import feature_layout, get_normalisation, offset_distances
from xlandslide.synthetic import synthetic_region
from xlandslide.validate import validate_region

VARIABLES = ("continuous", "categorical", "dem", "label", "uphill_dy", "uphill_dx")


@pytest.fixture(scope="module")
def small():
    """A lazy 90 x 110 synthetic region with fake uphill offsets (chunks 32)."""
    ds = synthetic_region((90, 110), seed=5, chunks=32)
    rng = da.random.default_rng(0)
    off = rng.integers(-30, 31, (3, 90, 110), chunks=(3, 32, 32), dtype=np.int8)
    return ds.assign(
        uphill_dy=(("distance", "y", "x"), off),
        uphill_dx=(("distance", "y", "x"), -off),
    ).assign_coords(distance=("distance", [30.0, 100.0, 300.0]))


@pytest.fixture(scope="module")
def small_values(small):
    return small.compute()


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_round_trip_is_exact(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    assert store == tmp_path / "r.zarr" and _siblings(store) == []
    back = open_region(store)
    assert back.continuous.chunks == ((2,), (64, 26), (64, 46))
    assert back.categorical.chunks == ((4,), (64, 26), (64, 46))
    assert back.uphill_dy.chunks == ((3,), (64, 26), (64, 46))
    assert back.categorical.encoding["compressors"][0].__class__.__name__ == "ZstdCodec"
    loaded = back.compute()
    for name in VARIABLES:
        assert loaded[name].dtype == small_values[name].dtype
        assert loaded[name].dims == small_values[name].dims
        np.testing.assert_array_equal(loaded[name].values, small_values[name].values)
        assert loaded[name].attrs == small_values[name].attrs
    # the layout: layer and group names, class names in code order, the no-data code
    assert feature_layout(loaded) == INSPIRE
    assert loaded.layer.values.tolist() == ["slope", "dem"]
    assert loaded.group.values.tolist() == list(INSPIRE.group_names)
    assert loaded.categorical.attrs["classes"] == {g: list(c) for g, c in INSPIRE.groups}
    assert loaded.categorical.attrs["nodata"] == 255
    assert offset_distances(loaded) == (30.0, 100.0, 300.0)
    np.testing.assert_array_equal(
        loaded.landslide.features().values, small_values.landslide.features().values
    )
    np.testing.assert_array_equal(loaded.y.values, small.y.values)
    np.testing.assert_array_equal(loaded.x.values, small.x.values)
    np.testing.assert_array_equal(loaded.distance.values, [30.0, 100.0, 300.0])
    assert loaded.rio.crs == small.rio.crs
    assert loaded.attrs == small.attrs
    assert get_normalisation(loaded) == get_normalisation(small)


def test_open_without_dask_reads_lazily_indexed_numpy(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr")
    ds = open_region(store, chunks=None)
    assert ds.categorical.chunks is None and ds.continuous.chunks is None  # not dask
    patch = ds.categorical[:, 10:20, 30:45].values
    np.testing.assert_array_equal(patch, small_values.categorical.values[:, 10:20, 30:45])
    # the one-hot view of a store opened without dask is lazy too
    with raise_if_dask_computes():
        view = ds.landslide.features()
    window = view[:, 10:20, 30:45].values
    np.testing.assert_array_equal(window, small_values.landslide.features()[:, 10:20, 30:45])
    # and it can be written again, streamed from the first store
    again = write_region(ds, tmp_path / "copy.zarr", chunks=(40, 50))
    np.testing.assert_array_equal(open_region(again).label.values, small_values.label.values)


def test_open_is_lazy(tmp_path, small):
    store = write_region(small, tmp_path / "r.zarr")
    with raise_if_dask_computes():
        ds = open_region(store)
        validate_region(ds)
        ds.landslide.features()
    for name in VARIABLES:
        assert isinstance(ds[name].data, da.Array)
    # the store's chunks: one default 256 x 256 chunk holds the whole 90 x 110 region
    assert STORE_CHUNK == 256 and ds.dem.chunks == ((90,), (110,))


def test_round_trip_of_a_custom_layout_and_json_normalisation(tmp_path):
    layout = FeatureLayout(("twi",), {"soil": ("clay", "loam"), "geology": ("a", "b", "c")})
    region = random_region(layout, (20, 30), seed=3)
    region = region.assign_attrs(normalisation='{"twi": {"mean": 2.5, "std": 0.5}}')
    back = open_region(write_region(region, tmp_path / "c.zarr", chunks=(8, 16)))
    assert feature_layout(back) == layout
    assert get_normalisation(back) == {"twi": {"mean": 2.5, "std": 0.5}}
    assert back.attrs["normalisation"] == {"twi": {"mean": 2.5, "std": 0.5}}  # a mapping now
    assert back.rio.crs.to_epsg() == 32632
    assert back.continuous.chunks == ((1,), (8, 8, 4), (16, 14))
    xr.testing.assert_equal(
        back.compute().drop_vars("spatial_ref"), region.drop_vars("spatial_ref")
    )
    np.testing.assert_array_equal(back.categorical.values, region.categorical.values)


def test_write_refuses_an_invalid_region(tmp_path, small):
    with pytest.raises(RegionError, match="no 'label' variable"):
        write_region(small.drop_vars("label"), tmp_path / "bad.zarr")
    with pytest.raises(GridError, match="write_crs"):
        write_region(small.drop_vars("spatial_ref"), tmp_path / "bad.zarr")
    with pytest.raises(RegionError, match="chunks must be positive"):
        write_region(small, tmp_path / "bad.zarr", chunks=0)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_unless_asked(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr")
    with pytest.raises(StoreExistsError, match="overwrite=True") as info:
        write_region(small, store)
    assert isinstance(info.value, FileExistsError)
    other = synthetic_region((90, 110), seed=6, chunks=32)
    write_region(other, store, overwrite=True)
    assert _siblings(store) == []
    np.testing.assert_array_equal(open_region(store).dem.values, other.dem.values)


def test_failed_write_leaves_previous_store_intact(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr")

    def boom(block, block_info=None):
        if block_info[0]["chunk-location"] == (1, 1):
            raise RuntimeError("injected failure")
        return block

    broken = small.copy()
    broken["dem"] = small.dem.copy(data=small.dem.data.map_blocks(boom, dtype=np.float32))
    with pytest.raises(RuntimeError, match="injected failure"):
        write_region(broken, store, overwrite=True)
    assert _siblings(store) == []  # the temporary store is gone
    np.testing.assert_array_equal(open_region(store).dem.values, small_values.dem.values)
    # and a failed first write leaves nothing under the final name
    with pytest.raises(RuntimeError, match="injected failure"):
        write_region(broken, tmp_path / "new.zarr")
    assert not (tmp_path / "new.zarr").exists() and _siblings(store) == []


def test_write_and_open_an_fsspec_url(small, small_values):
    url = "memory://xlandslide-tests/region.zarr"
    assert write_region(small, url, overwrite=True) == url
    with pytest.raises(StoreExistsError):
        write_region(small, url)
    np.testing.assert_array_equal(open_region(url).label.values, small_values.label.values)
    with pytest.raises(RegionNotFoundError):
        open_region("memory://xlandslide-tests/missing.zarr")


def test_open_errors_are_typed_and_name_the_fix(tmp_path):
    missing = tmp_path / "nothing.zarr"
    with pytest.raises(RegionNotFoundError, match="write_region") as info:
        open_region(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, RegionError)
    assert str(missing) in str(info.value)
    (tmp_path / "plain").mkdir()
    with pytest.raises(RegionError, match="not a readable Zarr store"):
        open_region(tmp_path / "plain")
    xr.Dataset({"a": ("y", np.arange(3.0))}).to_zarr(
        tmp_path / "other.zarr", zarr_format=3, consolidated=False
    )
    with pytest.raises(RegionError, match=r"not a valid region: .*no 'dem' variable"):
        open_region(tmp_path / "other.zarr")
    ds = open_region(tmp_path / "other.zarr", validate=False)
    assert "a" in ds


def test_open_refuses_a_legacy_one_hot_store_and_says_how_to_rebuild(tmp_path):
    import rioxarray  # noqa: F401

    ny, nx = 4, 5
    names = np.array(["slope", "lithology_gneiss", "dem"], dtype=object)
    legacy = xr.Dataset(
        {
            "features": (("feature", "y", "x"), np.zeros((3, ny, nx), np.float32)),
            "dem": (("y", "x"), np.zeros((ny, nx), np.float32)),
            "label": (("y", "x"), np.zeros((ny, nx), np.int8)),
        },
        coords={"feature": names, "y": 100.0 - 10 * np.arange(ny), "x": 10.0 * np.arange(nx)},
    ).rio.write_crs("EPSG:32632")
    legacy.to_zarr(tmp_path / "old.zarr", zarr_format=3, consolidated=False)
    with pytest.raises(LegacyStoreError) as info:
        open_region(tmp_path / "old.zarr")
    msg = str(info.value)
    assert str(tmp_path / "old.zarr") in msg and "one-hot 'features'" in msg
    assert "Rebuild it in the compact layout" in msg and "xlandslide synthetic STORE" in msg
    # read without validation, it is still refused as soon as it is used as a region
    raw = open_region(tmp_path / "old.zarr", validate=False)
    with pytest.raises(LegacyStoreError, match="Rebuild it"):
        raw.landslide.features()
