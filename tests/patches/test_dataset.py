"""Tests of xlandslide.patches.dataset: PatchDataset items, backends, label mask, the cache.

Oracle: slicing numpy copies of the region padded far beyond every window (NaN, code 255,
offset 0, label -1 outside the region).
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import xarray as xr

from tests.helpers import CountingScheduler, custom_region, raise_if_dask_computes
from tests.patches.common import GEOM, assert_item_equal, make_region, oracle_item
from xlandslide.errors import ConfigError, GridMismatchError, RegionError
from xlandslide.patches import PatchDataset, make_patches
from xlandslide.patches import dataset as dataset_mod

BACKENDS = ["numpy", "dask", "store"]


def source(region, backend, tmp_path):
    """The region as numpy, dask (odd chunks) or a store opened without dask."""
    if backend == "numpy":
        return region
    if backend == "dask":
        return region.chunk({"y": 7, "x": 9})
    from xlandslide.io import open_region, write_region

    store = tmp_path / "region.zarr"
    write_region(region, store, chunks=8)
    return open_region(store, chunks=None)


@pytest.fixture(scope="module")
def region():
    return make_region(23, 31)


@pytest.fixture(scope="module")
def patches(region):
    return make_patches(region, GEOM)


@pytest.fixture
def count_reads(monkeypatch):
    """Count window reads of numpy / store-backed regions (one per variable and patch)."""
    calls = []
    original = dataset_mod._PaddedArray._getitem

    def counting(self, key):
        calls.append(key)
        return original(self, key)

    monkeypatch.setattr(dataset_mod._PaddedArray, "_getitem", counting)
    return calls


# ------------------------------------------------------------------------------------ items


@pytest.mark.parametrize("backend", BACKENDS)
def test_items_equal_the_oracle_crop(region, patches, backend, tmp_path):
    src = source(region, backend, tmp_path)
    for split in ("train", "val", "test"):
        ds = PatchDataset(src, patches, split, oversample=False)
        assert len(ds) == len(patches.indices(split))
        for i in range(len(ds)):
            item = ds[i]
            k = item["index"]
            assert k == ds.ids[i]
            assert item["continuous"].dtype == torch.float32
            assert item["continuous"].shape == (2, 14, 14)
            assert item["categorical"].dtype == torch.uint8
            assert item["categorical"].shape == (2, 14, 14)
            assert item["offsets"].dtype == torch.int8
            assert item["offsets"].shape == (2, 2, 14, 14)
            assert item["label"].dtype == torch.int8 and item["label"].shape == (14, 14)
            assert_item_equal(item, oracle_item(region, patches.window(k)))
    # an interior patch and the bottom-right corner patch were both covered
    assert {(8, 8), (16, 24)} <= set(patches.origins)


def test_fills_outside_the_region(region, patches):
    """The corner patch (16, 24): rows past 23 and columns past 31 are padding."""
    k = patches.origins.index((16, 24))
    ds = PatchDataset(region, patches, patches.split[k], oversample=False)
    item = ds[ds.ids.index(k)]
    # window rows 13..27, columns 21..35: region rows 13..22 -> item rows 0..9
    assert torch.isnan(item["continuous"][:, 10:]).all()
    assert torch.isnan(item["continuous"][:, :, 10:]).all()
    assert (item["categorical"][:, 10:] == 255).all() and (
        item["categorical"][:, :, 10:] == 255
    ).all()
    assert (item["offsets"][..., 10:, :] == 0).all() and (item["offsets"][..., 10:] == 0).all()
    assert (item["label"][10:] == -1).all() and (item["label"][:, 10:] == -1).all()
    np.testing.assert_array_equal(item["label"][:10, :10].numpy(), region["label"].values[13:, 21:])
    # the top-left patch: its halo above and left is padding
    first = PatchDataset(region, patches, patches.split[0], oversample=False)
    item = first[first.ids.index(0)]
    assert torch.isnan(item["continuous"][:, :3]).all() and (item["label"][:, :3] == -1).all()


@pytest.mark.parametrize("backend", ["dask", "store"])
def test_backends_give_the_same_items(region, patches, backend, tmp_path):
    a = PatchDataset(region, patches, "train")
    b = PatchDataset(source(region, backend, tmp_path), patches, "train")
    assert len(a) == len(b) == patches.counts()["train"]["oversampled"]
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert x["index"] == y["index"]
        for key in ("continuous", "categorical", "offsets", "label"):
            assert torch.equal(x[key].nan_to_num(-9), y[key].nan_to_num(-9)), key


def test_oversampled_train_set(region, patches):
    ds = PatchDataset(region, patches, "train")
    assert ds.oversample and ds.ids == patches.indices("train", oversample=True)
    assert len(PatchDataset(region, patches, "train", oversample=False)) == len(
        patches.indices("train")
    )
    assert not PatchDataset(region, patches, "val").oversample
    assert PatchDataset(region, patches, "test").ids == patches.indices("test")


def test_label_mask_hides_pixels(region, patches):
    rng = np.random.default_rng(4)
    mask = xr.DataArray(rng.random((23, 31)) < 0.5, dims=("y", "x"))
    ds = PatchDataset(region, patches, "train", oversample=False, label_mask=mask)
    seen_hidden = False
    for i in range(len(ds)):
        item = ds[i]
        want = oracle_item(region, patches.window(item["index"]), label_mask=mask)
        assert_item_equal(item, want)
        plain = oracle_item(region, patches.window(item["index"]))["label"]
        seen_hidden |= bool(((plain >= 0) & (want["label"] == -1)).any())
    assert seen_hidden
    # a dask mask gives the same
    lazy = PatchDataset(region, patches, "train", oversample=False, label_mask=mask.chunk(5))
    assert torch.equal(lazy[0]["label"], ds[0]["label"])
    with pytest.raises(GridMismatchError, match="label_mask"):
        PatchDataset(region, patches, label_mask=mask[:-1])


def test_offsets_are_read_when_held_or_asked(region, patches):
    plain = region.drop_vars(["uphill_dy", "uphill_dx", "distance"])
    item = PatchDataset(plain, patches, "val")[0]
    assert set(item) == {"continuous", "categorical", "label", "index"}
    assert "offsets" not in PatchDataset(region, patches, "val", offsets=False)[0]
    with pytest.raises(RegionError, match="with_offsets"):
        PatchDataset(plain, patches, "val", offsets=True)
    with pytest.raises(RegionError, match="uphill_dy / uphill_dx"):
        PatchDataset(region.drop_vars("uphill_dx"), patches, "val", offsets=True)


def test_layouts_without_groups_or_layers():
    region = custom_region((20, 20)).drop_vars(["categorical", "group"])
    ps = make_patches(region, GEOM)
    item = PatchDataset(region, ps, "train")[0]
    assert item["categorical"].shape == (0, 14, 14) and item["categorical"].dtype == torch.uint8
    region = custom_region((20, 20), continuous=())
    item = PatchDataset(region, make_patches(region, GEOM), "train")[0]
    assert item["continuous"].shape == (0, 14, 14) and item["continuous"].dtype == torch.float32
    assert item["categorical"].shape == (2, 14, 14)


def test_input_errors(region, patches):
    with pytest.raises(GridMismatchError, match="shape"):
        PatchDataset(make_region(24, 31), patches)
    with pytest.raises(ConfigError, match="unknown split"):
        PatchDataset(region, patches, "validation")
    with pytest.raises(ConfigError, match="PatchSet"):
        PatchDataset(region, patches.to_dict())
    with pytest.raises(RegionError, match="label"):
        PatchDataset(region.drop_vars("label"), patches)
    with pytest.raises(ConfigError, match="cache_bytes"):
        PatchDataset(region, patches, cache_bytes=-1)


# ------------------------------------------------------------------------------- the cache


def test_dask_item_is_one_compute_and_a_second_epoch_none(region, patches):
    import dask

    ds = PatchDataset(region.chunk({"y": 7, "x": 9}), patches, "train")
    distinct = len(set(ds.ids))
    assert distinct < len(ds)  # positive patches are repeated
    with raise_if_dask_computes(max_computes=1):
        ds[len(ds) - 1]  # one item: one compute
    scheduler = CountingScheduler(max_computes=distinct)
    with dask.config.set(scheduler=scheduler):
        first = [ds[i] for i in range(len(ds))]
    assert scheduler.total_computes == distinct - 1  # every other distinct patch, once
    with raise_if_dask_computes():  # the second epoch reads nothing
        second = [ds[i] for i in range(len(ds))]
    for a, b in zip(first, second):
        assert torch.equal(a["label"], b["label"])
    assert ds.cache.misses == distinct
    assert ds.cache.hits == 2 * len(ds) + 1 - distinct


@pytest.mark.parametrize("backend", ["numpy", "store"])
def test_second_epoch_reads_nothing_without_dask(region, patches, backend, tmp_path, count_reads):
    ds = PatchDataset(source(region, backend, tmp_path), patches, "train")
    for i in range(len(ds)):
        ds[i]
    n_vars = len(ds.variables)
    assert n_vars == 5  # continuous, categorical, uphill_dy, uphill_dx, label
    assert len(count_reads) == len(set(ds.ids)) * n_vars
    before = len(count_reads)
    for i in range(len(ds)):
        ds[i]
    assert len(count_reads) == before


def test_cache_respects_its_byte_budget(region, patches, count_reads):
    ds = PatchDataset(region, patches, "train", oversample=False)
    size = sum(a.nbytes for a in ds.read(ds.ids[0]).values())
    assert size == 2 * 196 * 4 + 2 * 196 + 2 * 2 * 196 + 196  # float32, uint8, int8, int8
    small = PatchDataset(region, patches, "train", oversample=False, cache_bytes=2 * size + 10)
    a, b, c = small.ids[:3]
    for k in (a, b, a, c):  # a is used again after b: b is the least recently used
        small.read(k)
        assert small.cache.nbytes <= small.cache.limit
    assert list(small.cache.items) == [a, c]
    reads = len(count_reads)
    small.read(a)
    assert len(count_reads) == reads  # still cached
    small.read(b)
    assert len(count_reads) == reads + 5  # evicted: read again
    assert small.cache.nbytes == 2 * size
    # a zero budget caches nothing
    off = PatchDataset(region, patches, "train", oversample=False, cache_bytes=0)
    off.read(a)
    off.read(a)
    assert off.cache.items == {} and off.cache.nbytes == 0


def test_cached_items_are_not_shared_with_the_caller(region, patches):
    ds = PatchDataset(region, patches, "train", oversample=False)
    item = ds[0]
    item["continuous"].fill_(123.0)
    item["label"].fill_(1)
    assert_item_equal(ds[0], oracle_item(region, patches.window(ds.ids[0])))
    region_copy = make_region(23, 31)
    assert np.array_equal(region["label"].values, region_copy["label"].values)


# ------------------------------------------------------------------------ workers, pickling


@pytest.mark.parametrize("backend", ["dask", "store"])
def test_dataloader_two_workers_yield_the_same_items(region, patches, backend, tmp_path):
    ds = PatchDataset(source(region, backend, tmp_path), patches, "train")
    ds[0]  # generators and cache built in the parent are dropped when pickled

    def batches(workers):
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers)
        return list(loader)

    serial, parallel = batches(0), batches(2)
    assert len(serial) == len(parallel) == -(-len(ds) // 4)
    for a, b in zip(serial, parallel):
        assert torch.equal(a["index"], b["index"])
        for key in ("continuous", "categorical", "offsets", "label"):
            assert torch.equal(a[key].nan_to_num(-9), b[key].nan_to_num(-9)), key
    seen = torch.cat([b["index"] for b in parallel]).tolist()
    assert seen == ds.ids


@pytest.mark.parametrize("backend", ["dask", "store"])
def test_dataset_pickles(region, patches, backend, tmp_path):
    """Spawned DataLoader workers receive the dataset pickled (without cache or generators)."""
    ds = PatchDataset(source(region, backend, tmp_path), patches, "test")
    ds[0]
    back = pickle.loads(pickle.dumps(ds))
    assert back._generators is None and back.cache.items == {}
    assert back.cache.limit == ds.cache.limit
    assert_item_equal(back[0], oracle_item(region, patches.window(ds.ids[0])))


def test_store_reads_without_dask(region, patches, tmp_path):
    import dask

    lazy = source(region, "store", tmp_path)
    assert lazy["continuous"].chunks is None  # lazily indexed, no dask
    assert make_patches(lazy, GEOM) == patches

    def no_dask(*args, **kwargs):
        raise AssertionError("a lazily indexed region must be read without dask")

    ds = PatchDataset(lazy, patches, "train", oversample=False)
    with dask.config.set(scheduler=no_dask):
        for i in range(len(ds)):
            item = ds[i]
            assert_item_equal(item, oracle_item(region, patches.window(item["index"])))


def test_padded_lazy_array_strided_and_integer_indexing():
    a = np.arange(5 * 6, dtype="float32").reshape(5, 6)
    var = xr.Variable(("y", "x"), a)
    padded = xr.DataArray(dataset_mod._pad_variable(var, {"y": (2, 3), "x": (1, 4)}, np.nan))
    oracle = np.pad(a, ((2, 3), (1, 4)), constant_values=np.nan)
    np.testing.assert_array_equal(padded.values, oracle)
    for sel in (
        {"y": slice(1, 9, 2), "x": slice(0, 11, 3)},
        {"y": 0, "x": slice(2, 5)},
        {"y": 4, "x": 6},
        {"y": -1, "x": slice(0, 2)},
        {"y": slice(None, None, -1)},
        {"y": [0, 3, 9], "x": slice(1, 3)},
        {"y": slice(0, 2), "x": slice(7, 11)},  # padding only
    ):
        np.testing.assert_array_equal(
            padded.isel(sel).values,
            xr.DataArray(oracle)
            .isel({"dim_0": sel.get("y", slice(None)), "dim_1": sel.get("x", slice(None))})
            .values,
        )


def test_a_label_other_than_the_three_codes_is_refused_where_it_is_read():
    from xlandslide.errors import LabelError
    from xlandslide.grid import PatchGeometry

    region = custom_region((40, 50), seed=1)
    region["label"][5, 7] = 2
    ps = make_patches(region, PatchGeometry(16, 4), fractions=(1.0, 0.0, 0.0))
    ds = PatchDataset(region, ps, "train", oversample=False)
    with pytest.raises(LabelError, match=r"label values \[2\]") as err:
        for i in range(len(ds)):
            ds[i]
    assert isinstance(err.value, ValueError)
