"""Region stores: exact Zarr round trips of the compact layout, laziness, atomic writes,
the manifest and the integrity checks, overwrite of only what is ours."""

from __future__ import annotations

import os
import pickle

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import xlandslide
from tests.helpers import raise_if_dask_computes
from tests.strategies import random_region
from xlandslide.catalog import INSPIRE, FeatureLayout
from xlandslide.errors import (
    CorruptChunkError,
    ForeignOutputError,
    GridError,
    IncompleteStoreError,
    LegacyStoreError,
    OutputIsInputError,
    RegionError,
    RegionNotFoundError,
    StoreExistsError,
)
from xlandslide.io import open_map, open_region, write_map, write_region
from xlandslide.io.integrity import MANIFEST_GROUP, read_manifest
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
    # a store xlandslide did not write has no manifest: refused unless foreign=True
    with pytest.raises(IncompleteStoreError, match=r"no xlandslide manifest.*foreign=True"):
        open_region(tmp_path / "other.zarr")
    with pytest.raises(RegionError, match=r"not a valid region: .*no 'dem' variable"):
        open_region(tmp_path / "other.zarr", foreign=True)
    ds = open_region(tmp_path / "other.zarr", validate=False, foreign=True)
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
    raw = open_region(tmp_path / "old.zarr", validate=False, foreign=True)
    with pytest.raises(LegacyStoreError, match="Rebuild it"):
        raw.landslide.features()


# ------------------------------------------------------------------ the manifest and checks


def test_the_manifest_lists_every_array_and_chunk(tmp_path, small):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    manifest = read_manifest(store)
    assert manifest["kind"] == "region" and manifest["complete"] is True
    assert manifest["xlandslide_version"] == xlandslide.__version__
    assert set(manifest["arrays"]) == {
        *VARIABLES,
        *("y", "x", "layer", "group", "distance", "spatial_ref"),
    }
    label = manifest["arrays"]["label"]
    assert label["shape"] == [90, 110] and label["chunks"] == [64, 64]
    assert len(label["chunk_bytes"]) == 4  # a 2 x 2 grid of chunks
    assert label["chunk_bytes"][0] == os.path.getsize(store / "label" / "c" / "0" / "0")
    assert "zarr.json" in manifest["metadata"] and "label/zarr.json" in manifest["metadata"]
    # the manifest is a zarr group: zarr lists it without complaint, xarray ignores it
    import zarr

    assert MANIFEST_GROUP in dict(zarr.open_group(store, mode="r").groups())
    assert MANIFEST_GROUP not in open_region(store).variables


def test_every_chunk_is_written_also_those_equal_to_the_fill_value(tmp_path):
    ds = synthetic_region((40, 40), seed=1)
    ds["label"] = ds.label.where(False, 0)  # all stable: equal to the fill value
    ds["continuous"][:, :20, :20] = np.nan  # a chunk outside the region
    store = write_region(ds, tmp_path / "r.zarr", chunks=20)
    for name, n in (("label", 4), ("continuous", 4), ("dem", 4)):
        files = [f for _, _, fs in os.walk(store / name / "c") for f in fs]
        assert len(files) == n, name


def test_a_chunk_lost_after_opening_is_never_read_as_fill_values(tmp_path, small):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    lazy, indexed = open_region(store), open_region(store, chunks=None)
    os.remove(store / "label" / "c" / "1" / "0")
    for ds in (lazy, indexed):
        with pytest.raises(IncompleteStoreError, match=r"chunk \(1, 0\) of 'label'.*label/c/1/0"):
            ds.label.values
    with pytest.raises(IncompleteStoreError, match=r"chunk \(1, 0\) of 'label'"):
        indexed.label[70:80, 10:20].values
    np.testing.assert_array_equal(indexed.label[:64].values, small.label[:64].values)


def test_a_chunk_that_does_not_decode_is_named(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    path = store / "continuous" / "c" / "0" / "0" / "1"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size: the cheap check cannot see it
    path.write_bytes(bytes(raw))
    ds = open_region(store, chunks=None)
    expected = r"chunk \(0, 0, 1\) \(file continuous/c/0/0/1\) of 'continuous'.*cannot be read"
    with pytest.raises(CorruptChunkError, match=expected) as info:
        ds.continuous[:, 10:80, 10:80].values
    assert isinstance(info.value, OSError) and str(store) in str(info.value)
    with pytest.raises(CorruptChunkError, match=expected):
        open_region(store).continuous.values
    with pytest.raises(CorruptChunkError, match=r"chunk \(0, 0, 1\) of 'continuous' cannot be dec"):
        open_region(store, verify=True)
    np.testing.assert_array_equal(ds.dem.values, small_values.dem.values)  # the others read


def test_verify_passes_an_intact_store(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    ds = open_region(store, verify=True)
    np.testing.assert_array_equal(ds.categorical.values, small_values.categorical.values)


def test_opened_stores_pickle_and_read_after_unpickling(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    for chunks in ("store", None):
        ds = pickle.loads(pickle.dumps(open_region(store, chunks=chunks)))
        np.testing.assert_array_equal(ds.label.values, small_values.label.values)
    os.remove(store / "dem" / "c" / "0" / "0")
    with pytest.raises(IncompleteStoreError, match="'dem'"):
        pickle.loads(pickle.dumps(open_region(store, validate=False, foreign=True))).dem.values


def test_dask_names_are_deterministic(tmp_path, small):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    assert open_region(store).dem.data.name == open_region(store).dem.data.name
    other = write_region(small, tmp_path / "s.zarr", chunks=64)
    assert open_region(other).dem.data.name != open_region(store).dem.data.name


def test_the_temporary_folder_of_a_killed_write_is_not_a_region(tmp_path, small):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    tmp = tmp_path / ".r.zarr.xlandslide-tmp-00000000-1-deadbeef"
    os.rename(store, tmp)
    import shutil

    with pytest.raises(IncompleteStoreError, match="temporary folder of a write that did not"):
        open_region(tmp)  # killed after its manifest, before the rename
    shutil.rmtree(tmp / MANIFEST_GROUP)  # a write killed before its manifest
    with pytest.raises(IncompleteStoreError, match="temporary folder of a write that did not"):
        open_region(tmp)


def test_a_map_is_not_a_region_and_a_region_not_a_map(tmp_path, small):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    write_map(small.dem.rename("susceptibility") * 0, tmp_path / "m.zarr")
    with pytest.raises(RegionError, match=r"map store, not a region.*open_map"):
        open_region(tmp_path / "m.zarr")
    with pytest.raises(xlandslide.ConfigError, match="region store, not a map"):
        open_map(store)


def test_overwrite_replaces_only_region_stores_of_the_package(tmp_path, small):
    user = tmp_path / "mine"
    (user / "notes").mkdir(parents=True)
    (user / "notes" / "thesis.tex").write_text("years of work")
    with pytest.raises(ForeignOutputError, match=r"did not write.*no xlandslide manifest") as info:
        write_region(small, user, overwrite=True)
    assert isinstance(info.value, FileExistsError)
    assert (user / "notes" / "thesis.tex").read_text() == "years of work"
    map_store = write_map(small.dem.rename("susceptibility") * 0, tmp_path / "m.zarr")
    with pytest.raises(ForeignOutputError, match="map store, not a region store"):
        write_region(small, map_store, overwrite=True)
    (tmp_path / "file.zarr").write_text("a file")
    with pytest.raises(ForeignOutputError, match="not a store"):
        write_region(small, tmp_path / "file.zarr", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.zarr", "m.zarr", "mine"]


def test_a_region_is_never_written_over_or_into_its_input(tmp_path, small, small_values):
    store = write_region(small, tmp_path / "r.zarr", chunks=64)
    listing = sorted(str(p) for p in store.rglob("*"))
    for chunks in ("store", None):
        ds = open_region(store, chunks=chunks)
        for target in (store, store / "inner.zarr", tmp_path):  # is, inside, holds
            with pytest.raises(OutputIsInputError, match="inside"):
                write_region(ds, target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zarr"]
    assert sorted(str(p) for p in store.rglob("*")) == listing  # nothing created inside
    np.testing.assert_array_equal(open_region(store).label.values, small_values.label.values)
    # loaded into memory first, it is no longer read from the store: replacing is safe
    write_region(open_region(store).load(), store, overwrite=True)
    np.testing.assert_array_equal(open_region(store).label.values, small_values.label.values)


def test_url_stores_carry_a_manifest_and_are_checked(small, small_values):
    import fsspec

    url = "memory://xlandslide-tests/checked.zarr"
    write_region(small, url, overwrite=True, chunks=64)
    assert read_manifest(url)["kind"] == "region"
    fs = fsspec.filesystem("memory")
    fs.rm("/xlandslide-tests/checked.zarr/label/c/0/1")
    with pytest.raises(IncompleteStoreError, match=r"chunk \(0, 1\) of 'label' is missing"):
        open_region(url)
    fs.pipe("/xlandslide-tests/foreign.zarr/zarr.json", b"{}")
    with pytest.raises(ForeignOutputError, match="no xlandslide manifest"):
        write_region(small, "memory://xlandslide-tests/foreign.zarr", overwrite=True)
