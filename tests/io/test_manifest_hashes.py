"""Store manifests record content, not only sizes (issue 18, item 13).

Before: chunks swapped with others of the same size, chunks copied from another store and
edited metadata (attrs, class lists, the normalisation) all passed ``verify=True``.  The
manifest (version 2) records a hash of every chunk and metadata document
(:mod:`xlandslide.io.digest`); stores of version 1 still open and verify by sizes.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import xlandslide as xl
from tests.faultkit import region as _region
from xlandslide.errors import CorruptChunkError, StoreIntegrityError
from xlandslide.io.integrity import MANIFEST_GROUP, MANIFEST_VERSION, read_manifest


def _two_stores(tmp_path):
    """Two stores of one grid whose label chunk (0, 1) differs (all 0, all 1) at one size."""
    one = _region((32, 32))
    label = one.label.values.copy()
    label[:16, 16:] = 0
    a = xl.write_region(
        one.assign(label=one.label.copy(data=label)), tmp_path / "a.zarr", chunks=16
    )
    label[:16, 16:] = 1
    b = xl.write_region(
        one.assign(label=one.label.copy(data=label)), tmp_path / "b.zarr", chunks=16
    )
    return a, b


def test_a_chunk_copied_from_another_store_fails_verify(tmp_path):
    a, b = _two_stores(tmp_path)
    chunk = "label/c/0/1"
    assert (a / chunk).stat().st_size == (b / chunk).stat().st_size  # sizes cannot tell
    assert (a / chunk).read_bytes() != (b / chunk).read_bytes()
    shutil.copyfile(b / chunk, a / chunk)
    xl.open_region(a)  # the cheap check (sizes) passes; the full one does not
    with pytest.raises(CorruptChunkError, match=r"chunk \(0, 1\) of 'label' does not hold") as e:
        xl.open_region(a, verify=True)
    assert str(a) in str(e.value) and "label/c/0/1" in str(e.value)


def test_swapped_chunks_of_the_same_size_fail_verify(tmp_path):
    store = xl.write_region(_region((32, 32)), tmp_path / "r.zarr", chunks=16)
    sizes = {}
    for f in sorted((store / "dem" / "c").rglob("*")):
        if f.is_file():
            sizes.setdefault(f.stat().st_size, []).append(f)
    same = next((fs for fs in sizes.values() if len(fs) > 1), None)
    if same is None:  # no two chunks of one size: make two (a copy of a chunk is one)
        same = sorted(f for f in (store / "label" / "c").rglob("*") if f.is_file())[:2]
        rest = "label"
    else:
        rest = "dem"
    x, y = same[0].read_bytes(), same[1].read_bytes()
    same[0].write_bytes(y), same[1].write_bytes(x)
    if x != y:
        xl.open_region(store)
    with pytest.raises(CorruptChunkError, match=f"of '{rest}' does not hold what was written"):
        xl.open_region(store, verify=True)


@pytest.mark.parametrize("edit", ["normalisation", "classes"])
def test_edited_metadata_is_refused(tmp_path, edit):
    store = xl.write_region(_region((32, 32)), tmp_path / "r.zarr", chunks=16)
    key = "zarr.json" if edit == "normalisation" else "categorical/zarr.json"
    doc = json.loads((store / key).read_text())
    attrs = doc["attributes"]
    if edit == "normalisation":
        layer = next(iter(attrs["normalisation"]))
        attrs["normalisation"][layer]["mean"] += 1.0
    else:  # the class list of a categorical group: two classes swapped
        attrs["classes"]["soil"][:2] = attrs["classes"]["soil"][1::-1]
    (store / key).write_text(json.dumps(doc))
    with pytest.raises(StoreIntegrityError, match=f"metadata document {key} was changed") as e:
        xl.open_region(store)
    assert isinstance(e.value, OSError) and str(store) in str(e.value)
    with pytest.raises(StoreIntegrityError, match=f"{key} was changed"):
        xl.open_region(store, verify=True)


def test_a_map_chunk_copied_from_another_map_fails_verify(tmp_path):
    dem = _region((32, 32), chunks=16).dem
    a = xl.write_map((dem * 0 + 0.25).rename("susceptibility"), tmp_path / "a.zarr")
    b = xl.write_map((dem * 0 + 0.75).rename("susceptibility"), tmp_path / "b.zarr")
    chunk = "susceptibility/c/1/0"
    assert (a / chunk).stat().st_size == (b / chunk).stat().st_size
    shutil.copyfile(b / chunk, a / chunk)
    with pytest.raises(CorruptChunkError, match=r"chunk \(1, 0\) of 'susceptibility'"):
        xl.open_map(a, verify=True)


def test_a_store_of_version_1_opens_and_verifies_by_sizes(tmp_path):
    region = _region((32, 32))
    store = xl.write_region(region, tmp_path / "r.zarr", chunks=16)
    manifest = read_manifest(store)
    assert manifest["version"] == MANIFEST_VERSION == 2 and manifest["hash"]
    assert len(manifest["arrays"]["label"]["chunk_hashes"]) == 4
    old = {k: v for k, v in manifest.items() if k not in ("hash", "metadata_hashes")}
    old["version"] = 1
    for info in old["arrays"].values():
        info.pop("chunk_hashes")
    doc = {"zarr_format": 3, "node_type": "group", "attributes": {"xlandslide": old}}
    (store / MANIFEST_GROUP / "zarr.json").write_text(json.dumps(doc))
    back = xl.open_region(store, verify=True)
    np.testing.assert_array_equal(back.label.values, region.label.values)


def test_a_geotiff_map_with_a_sparse_tile_is_refused(tmp_path):
    """A tile that is not in the file (offset and byte count 0) reads as no-data in GDAL."""
    import rasterio
    from rasterio.windows import Window

    from xlandslide.errors import IncompleteStoreError
    from xlandslide.io.maps import TIFF_TAG

    good = xl.write_map(
        _region((64, 64)).dem.rename("susceptibility") * 0 + 0.5, tmp_path / "m.tif"
    )
    xl.open_map(good)
    with rasterio.open(good) as src:
        profile = dict(src.profile, blockxsize=32, blockysize=32, sparse_ok=True)
        data = src.read(1)
        tags = src.tags()
    sparse = tmp_path / "s.tif"
    with rasterio.open(sparse, "w", **profile) as dst:
        dst.update_tags(**tags)
        for win in (Window(0, 0, 32, 32), Window(32, 0, 32, 32), Window(0, 32, 32, 32)):
            dst.write(data[win.toslices()], 1, window=win)
    assert tags[TIFF_TAG]
    with pytest.raises(IncompleteStoreError, match=r"block \(1, 1\) is absent") as e:
        xl.open_map(sparse)
    assert str(sparse) in str(e.value)
