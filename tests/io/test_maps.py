"""write_map / open_map: Zarr and GeoTIFF, CRS kept, lazy, streamed, never half-written,
checked when opened, resumable."""

from __future__ import annotations

import os

import dask.array as da
import numpy as np
import pytest
import rioxarray
import xarray as xr

import xlandslide
from tests.helpers import BlockCounter, raise_if_dask_computes
from xlandslide.errors import (
    ConfigError,
    CorruptChunkError,
    ForeignOutputError,
    IncompleteStoreError,
    InputTypeError,
    OutputIsInputError,
    RegionNotFoundError,
    ResumeError,
    ShapeError,
    StoreExistsError,
)
from xlandslide.io import open_map, open_region, write_map, write_region
from xlandslide.io.integrity import read_manifest
from xlandslide.io.maps import TIFF_TAG, partial_path


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
    with pytest.raises(IncompleteStoreError, match="no xlandslide manifest"):
        open_map(tmp_path / "two.zarr", name="b")  # another tool's store: refused by default
    got = open_map(tmp_path / "two.zarr", name="b", foreign=True)
    np.testing.assert_array_equal(got, 1 - _map())
    with pytest.raises(ConfigError, match=r"holds \['[ab]', '[ab]'\], not 'susceptibility'.*name="):
        open_map(tmp_path / "two.zarr", foreign=True)


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
    # the failed write is kept aside, hidden, for a resume; it never passes as a map
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.zarr.xlandslide-partial", "m.zarr"]
    with pytest.raises(IncompleteStoreError, match="temporary folder of a write that did not"):
        open_map(partial_path(path) / "map.zarr")
    write_map(1 - _map(), path, overwrite=True)  # a new write discards it
    np.testing.assert_array_equal(open_map(path).values, 1 - _map().values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.zarr"]


def test_unknown_format_and_missing_map(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown map format '\.nc'.*\.zarr, \.tif, \.tiff"):
        write_map(_map(), tmp_path / "m.nc")
    with pytest.raises(ConfigError, match="'\\(none\\)'"):
        open_map(tmp_path / "m")
    with pytest.raises(RegionNotFoundError, match=r"no map at .*write_map"):
        open_map(tmp_path / "missing.tif")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ checks when opening


def test_every_chunk_is_written_and_listed(tmp_path):
    prob = _map().where(False)  # all NaN: every chunk equals the fill value
    path = write_map(prob, tmp_path / "m.zarr")
    files = [f for _, _, fs in os.walk(path / "susceptibility" / "c") for f in fs]
    assert len(files) == 2 * 3
    manifest = read_manifest(path)
    assert (
        manifest["kind"] == "map" and len(manifest["arrays"]["susceptibility"]["chunk_bytes"]) == 6
    )
    assert np.isnan(open_map(path, verify=True).values).all()


def test_a_missing_or_damaged_chunk_is_refused(tmp_path):
    path = write_map(_map(), tmp_path / "m.zarr")
    chunk = path / "susceptibility" / "c" / "1" / "2"
    raw = chunk.read_bytes()
    chunk.unlink()
    with pytest.raises(IncompleteStoreError, match=r"chunk \(1, 2\) of 'susceptibility' is miss"):
        open_map(path)
    chunk.write_bytes(raw[:-3])
    with pytest.raises(IncompleteStoreError, match=r"has .* bytes where .* were written"):
        open_map(path)
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x55
    chunk.write_bytes(bytes(flipped))
    lazy = open_map(path)  # the same size: only decoding tells
    with pytest.raises(CorruptChunkError, match=r"chunk \(1, 2\) \(file susceptibility/c/1/2\)"):
        lazy.values
    with pytest.raises(CorruptChunkError, match=r"chunk \(1, 2\) of 'susceptibility' cannot be"):
        open_map(path, verify=True)


def test_geotiffs_carry_the_tag_and_foreign_ones_are_refused(tmp_path):
    path = write_map(_map(), tmp_path / "m.tif")
    import rasterio

    with rasterio.open(path) as src:
        assert src.tags()[TIFF_TAG] == xlandslide.__version__
    assert TIFF_TAG not in open_map(path).attrs
    np.testing.assert_array_equal(open_map(path, verify=True).values, _map().values)
    _map().rio.to_raster(tmp_path / "other.tif")
    with pytest.raises(IncompleteStoreError, match=f"no {TIFF_TAG} tag.*foreign=True"):
        open_map(tmp_path / "other.tif")
    np.testing.assert_array_equal(open_map(tmp_path / "other.tif", foreign=True), _map())
    with pytest.raises(ForeignOutputError, match="did not write"):
        write_map(_map(), tmp_path / "other.tif", overwrite=True)
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    with pytest.raises(CorruptChunkError, match="not a readable GeoTIFF"):
        open_map(tmp_path / "junk.tif")


def test_overwrite_replaces_only_maps_of_the_package(tmp_path):
    region = tmp_path / "r.zarr"
    write_region(xlandslide.synthetic_region((16, 20), seed=0), region)
    with pytest.raises(ForeignOutputError, match="region store, not a map store"):
        write_map(_map(), region, overwrite=True)
    folder = tmp_path / "results.zarr"
    (folder / "keep").mkdir(parents=True)
    with pytest.raises(ForeignOutputError, match="no xlandslide manifest"):
        write_map(_map(), folder, overwrite=True)
    assert (folder / "keep").is_dir()
    open_region(region)  # untouched


def test_a_map_is_never_written_into_the_store_it_is_computed_from(tmp_path):
    region = write_region(xlandslide.synthetic_region((16, 20), seed=0), tmp_path / "r.zarr")
    before = sorted(str(p) for p in region.rglob("*"))
    for chunks in ("store", None):
        prob = open_region(region, chunks=chunks)["dem"].rename("susceptibility") * 0
        for target in (region / "m.zarr", region / "m.tif", region / "sub" / "m.zarr"):
            with pytest.raises(OutputIsInputError, match="inside"):
                write_map(prob, target, overwrite=True)
        with pytest.raises((OutputIsInputError, ForeignOutputError)):  # the input itself
            write_map(prob, region, overwrite=True)
    lazy = open_region(region)["dem"].rename("susceptibility") * 0
    write_map(lazy, tmp_path / "m.zarr")  # beside the input: fine
    assert sorted(str(p) for p in region.rglob("*")) == before  # nothing created inside
    open_region(region, verify=True)


def test_argument_errors(tmp_path):
    with pytest.raises(InputTypeError, match="DataArray"):
        write_map(np.zeros((3, 3)), tmp_path / "m.zarr")
    with pytest.raises(ShapeError, match=r"dims \('y', 'x'\)"):
        write_map(_map().expand_dims(band=[1]), tmp_path / "m.zarr")
    assert list(tmp_path.iterdir()) == []


def test_numpy_backed_maps_and_irregular_chunks(tmp_path):
    prob = _map().compute()
    np.testing.assert_array_equal(open_map(write_map(prob, tmp_path / "n.zarr")), prob)
    odd = _map(chunks=((6, 4, 6), (20,)))  # boundaries off a regular grid: rechunked
    back = open_map(write_map(odd, tmp_path / "o.zarr"))
    assert back.chunks == ((6, 6, 4), (20,))
    np.testing.assert_array_equal(back, odd)
    long_last = _map(chunks=((5, 11), (20,)))  # a long last block covers whole chunks
    back = open_map(write_map(long_last, tmp_path / "l.zarr"))
    assert back.chunks == ((5, 5, 5, 1), (20,))
    np.testing.assert_array_equal(back, long_last)


# ------------------------------------------------------------------ resume

FAIL_AT = {"call": None, "calls": 0}


def _flaky(block):
    """The identity, except that its ``FAIL_AT["call"]``-th call fails (a crash)."""
    FAIL_AT["calls"] += 1
    if FAIL_AT["calls"] == FAIL_AT["call"]:
        raise RuntimeError("killed")
    return block + 0


def _killed_at(call: int, *args, **kwargs) -> None:
    """``write_map(*args, **kwargs)`` one block at a time, killed at block number ``call``."""
    import dask

    FAIL_AT.update(call=call, calls=0)
    try:
        with dask.config.set(scheduler="sync"), pytest.raises(RuntimeError, match="killed"):
            write_map(*args, **kwargs)
    finally:
        FAIL_AT["call"] = None


def _flaky_map():
    base = _map(chunks=4)  # 4 x 5 blocks
    return base.copy(data=base.data.map_blocks(_flaky, dtype="float32", name="flaky-map"))


def test_resume_computes_only_the_missing_blocks(tmp_path):
    path = tmp_path / "m.zarr"
    whole = open_map(write_map(_flaky_map(), tmp_path / "whole.zarr")).values
    _killed_at(11, _flaky_map(), path)  # one block at a time: at most 10 written, then a crash
    assert not path.exists()
    done = len(list((partial_path(path) / "blocks").iterdir()))
    assert 0 < done <= 10
    with BlockCounter("flaky-map") as counter:
        write_map(_flaky_map(), path, resume=True)
    assert counter.blocks == 20 - done  # only the missing blocks were computed
    np.testing.assert_array_equal(open_map(path, verify=True).values, whole)
    assert not partial_path(path).exists()
    with BlockCounter("flaky-map") as counter:  # complete: nothing to do
        assert write_map(_flaky_map(), path, resume=True) == path
    assert counter.blocks == 0
    # killed after the rename, before the partial folder was removed: the rerun removes it
    (partial_path(path) / "blocks").mkdir(parents=True)
    (partial_path(path) / "state.json").write_text('{"fingerprint": "x", "writer": "0-1"}')
    assert write_map(_flaky_map(), path, resume=True) == path
    assert not partial_path(path).exists()


def test_a_geotiff_resumes_through_a_hidden_zarr_map(tmp_path, monkeypatch):
    import rasterio

    from xlandslide.io import maps

    path = tmp_path / "m.tif"
    whole = open_map(write_map(_flaky_map(), tmp_path / "whole.tif")).values
    staged = partial_path(path) / "map.zarr"
    _killed_at(11, _flaky_map(), path, resume=True)
    assert not path.exists()
    done = len(list((partial_path(staged) / "blocks").iterdir()))
    assert 0 < done <= 10
    with pytest.raises(IncompleteStoreError):  # the staged blocks are never a map
        open_map(partial_path(staged) / "map.zarr")
    with BlockCounter("flaky-map") as counter:
        write_map(_flaky_map(), path, resume=True)
    assert counter.blocks == 20 - done  # only the missing blocks were computed
    np.testing.assert_array_equal(open_map(path).values, whole)  # as a direct write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif", "whole.tif"]
    with rasterio.open(path) as src:
        assert src.tags()[maps.FINGERPRINT_TAG] == maps.map_fingerprint(_flaky_map())
    with BlockCounter("flaky-map") as counter:  # complete: nothing to do
        assert write_map(_flaky_map(), path, resume=True) == path
    assert counter.blocks == 0
    # killed while converting: the rerun converts again and computes nothing
    other = tmp_path / "k.tif"
    convert = maps._write_tif

    def killed(*args, **kwargs):
        raise RuntimeError("killed in the conversion")

    monkeypatch.setattr(maps, "_write_tif", killed)
    with pytest.raises(RuntimeError, match="conversion"):
        write_map(_flaky_map(), other, resume=True)
    monkeypatch.setattr(maps, "_write_tif", convert)
    assert not other.exists() and partial_path(other).exists()
    with BlockCounter("flaky-map") as counter:
        write_map(_flaky_map(), other, resume=True)
    assert counter.blocks == 0 and not partial_path(other).exists()
    np.testing.assert_array_equal(open_map(other).values, whole)
    # another map at the path: refused without overwrite, replaced with it
    with pytest.raises(StoreExistsError):
        write_map(_map(), other, resume=True)
    write_map(_map(), other, resume=True, overwrite=True)
    np.testing.assert_array_equal(open_map(other).values, _map().values)
    # a leftover resumable write is discarded by a write without resume
    partial_path(other).mkdir()
    write_map(_map(), other, overwrite=True)
    assert not partial_path(other).exists()


def test_resume_refuses_another_map(tmp_path):
    path = tmp_path / "m.zarr"

    def boom(block):
        raise RuntimeError("killed")

    bad = _map().copy(data=_map().data.map_blocks(boom, dtype="float32"))
    with pytest.raises(RuntimeError):
        write_map(bad, path)
    with pytest.raises(ResumeError, match=r"computed from other inputs.*resume=False"):
        write_map(_map(), path, resume=True)
    write_map(_map(), path)  # without resume: the partial is discarded
    np.testing.assert_array_equal(open_map(path).values, _map().values)


def test_maps_at_an_fsspec_url_are_written_in_place_manifest_last(tmp_path):
    import fsspec

    fs = fsspec.filesystem("memory")
    if fs.exists("/xlandslide-tests/maps"):
        fs.rm("/xlandslide-tests/maps", recursive=True)
    url = "memory://xlandslide-tests/maps/m.zarr"
    assert write_map(_map(), url) == url
    assert read_manifest(url)["kind"] == "map"
    np.testing.assert_array_equal(open_map(url, verify=True).values, _map().values)
    with pytest.raises(StoreExistsError):
        write_map(_map(), url)
    _killed_at(4, _flaky_map(), url, overwrite=True)
    # in place and unfinished: it has no manifest, so it is never read as a map
    with pytest.raises(IncompleteStoreError, match="no xlandslide manifest"):
        open_map(url)
    with BlockCounter("flaky-map") as counter:
        write_map(_flaky_map(), url, resume=True)
    assert 0 < counter.blocks < 20
    np.testing.assert_array_equal(open_map(url).values, _map().values)
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("/xlandslide-tests/maps", detail=False)) == [
        "m.zarr"
    ]
    fs.pipe("/xlandslide-tests/maps/foreign.zarr/zarr.json", b"{}")
    with pytest.raises(ForeignOutputError, match="not a map store of xlandslide"):
        write_map(_map(), "memory://xlandslide-tests/maps/foreign.zarr", overwrite=True)
    with pytest.raises(ConfigError, match="GeoTIFF is written to a local"):
        write_map(_map(), "memory://xlandslide-tests/maps/m.tif")


def _uncertainty():
    """An uncertainty map of three LLRs with weights set by hand, and their maps."""
    import torch

    from xlandslide.model import LandslideModel, spec_for_region

    region = xlandslide.synthetic_region(shape=(64, 72), seed=0)
    models = []
    for k in range(3):
        spec = spec_for_region("llr", region)
        module = spec.build_module()
        with torch.no_grad():
            module.body.weight.normal_(generator=torch.Generator().manual_seed(k))
            module.body.bias.fill_(-1.0)
        models.append(LandslideModel(module, spec))
    maps = np.stack([xlandslide.predict(region, m).values for m in models])
    return xlandslide.uncertainty_map(region, models), maps, models


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_an_uncertainty_map_names_its_members_and_reads_back(tmp_path, suffix):
    u, maps, models = _uncertainty()
    digests = [m.__dask_tokenize__()[2] for m in models]
    assert len(set(digests)) == 3
    want = [{"name": "llr", "weights_sha1": d} for d in digests]
    assert u.attrs["members"] == want and u.attrs["n_members"] == 3
    assert u["mean"].attrs["members"] == want and u.attrs["model"] == "llr"
    path = write_map(u, tmp_path / f"u{suffix}")
    mean, std = open_map(path), open_map(path, name="std")
    np.testing.assert_allclose(mean.values, maps.mean(0), atol=1e-6)
    np.testing.assert_allclose(std.values, maps.std(0), atol=1e-6)
    for m in (mean, std):
        assert m.attrs["members"] == want, suffix
    assert mean.rio.crs == u.rio.crs
    # zoning reads it back as it reads the map computed in memory
    zones, direct = (
        xlandslide.zoning(mean, "quantile", 4),
        xlandslide.zoning(u["mean"], "quantile", 4),
    )
    np.testing.assert_array_equal(zones.values, direct.values)
    assert zones.attrs["breaks"] == direct.attrs["breaks"]
    assert set(np.unique(zones.values)) == {0, 1, 2, 3, 255}
