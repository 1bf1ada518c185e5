"""Tests of xlandslide.patches: patch grid, split, oversampling, PatchDataset reads."""

from __future__ import annotations

import json
import pickle

import dask
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
import torch
import xarray as xr
from conftest import raise_if_dask_computes

from xlandslide.catalog import FEATURE_NAMES
from xlandslide.errors import GridMismatchError, RegionError
from xlandslide.grid import PatchGeometry
from xlandslide.patches import PatchDataset, PatchSet, make_patches, split_sizes

GEOM = PatchGeometry(core=8, halo=3)  # S = 14


def make_region(ny=23, nx=31, n_features=3, n_distances=2, seed=0, offsets=True):
    """A tiny region following the data model (random values, a CRS, unknown border)."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_features, ny, nx)).astype("float32")
    label = (rng.random((ny, nx)) < 0.03).astype("int8")
    label[:, :2] = -1  # unknown strip on the left
    features[:, :, :2] = np.nan
    data = {
        "features": (("feature", "y", "x"), features),
        "dem": (("y", "x"), rng.random((ny, nx)).astype("float32") * 100, {"units": "m"}),
        "label": (("y", "x"), label),
    }
    coords = {
        "feature": list(FEATURE_NAMES[:n_features]),
        "y": 5000.0 - 10.0 * np.arange(ny),
        "x": 300.0 + 10.0 * np.arange(nx),
    }
    if offsets:
        shape = (n_distances, ny, nx)
        data["uphill_dy"] = (("distance", "y", "x"), rng.integers(-3, 4, shape).astype("int8"))
        data["uphill_dx"] = (("distance", "y", "x"), rng.integers(-3, 4, shape).astype("int8"))
        coords["distance"] = [30.0, 100.0, 300.0][:n_distances]
    ds = xr.Dataset(data, coords=coords)
    return ds.rio.write_crs("EPSG:32632")


def oracle_item(region, ps: PatchSet, k: int) -> dict:
    """Slow obvious crop of the NaN/-1/0-padded numpy arrays."""
    y0, y1, x0, x1 = ps.window(k)
    h = 100  # pad far more than needed, then crop

    def crop(a, fill):
        pad = [(0, 0)] * (a.ndim - 2) + [(h, h), (h, h)]
        big = np.pad(a, pad, constant_values=fill)
        return big[..., y0 + h : y1 + h, x0 + h : x1 + h]

    out = {
        "features": crop(region["features"].values, np.nan),
        "label": crop(region["label"].values, -1),
    }
    if "uphill_dy" in region:
        dy = crop(region["uphill_dy"].values, 0)
        dx = crop(region["uphill_dx"].values, 0)
        out["offsets"] = np.stack([dy, dx], axis=1)
    return out


def assert_item_equal(item, expected):
    np.testing.assert_array_equal(item["features"].numpy(), expected["features"])
    np.testing.assert_array_equal(item["label"].numpy(), expected["label"])
    if "offsets" in expected:
        np.testing.assert_array_equal(item["offsets"].numpy(), expected["offsets"])


# --------------------------------------------------------------------------- grid and split


@pytest.mark.parametrize(
    ("shape", "core", "grid"),
    [((23, 31), 8, (3, 4)), ((24, 32), 8, (3, 4)), ((25, 33), 8, (4, 5)), ((5, 7), 8, (1, 1))],
)
def test_patch_grid_includes_partial_edge_patches(shape, core, grid):
    region = make_region(*shape, offsets=False)
    region["label"][:] = 0
    ps = make_patches(region, PatchGeometry(core=core, halo=2))
    assert ps.grid_shape == grid
    assert len(ps) == grid[0] * grid[1]
    expected = [(i * core, j * core) for i in range(grid[0]) for j in range(grid[1])]
    assert list(ps.origins) == expected
    assert ps.n_dropped == 0


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        (0, (0, 0, 0)),
        (1, (1, 0, 0)),
        (2, (2, 0, 0)),
        (3, (1, 1, 1)),
        (4, (2, 1, 1)),
        (7, (5, 1, 1)),
        (10, (8, 1, 1)),
        (15, (11, 2, 2)),
        (25, (19, 3, 3)),
        (100, (80, 10, 10)),
        (1677, (1341, 168, 168)),
    ],
)
def test_split_sizes(n, sizes):
    assert split_sizes(n) == sizes
    assert sum(sizes) == n


def test_split_sizes_other_fractions_and_errors():
    assert split_sizes(3, (0.0, 0.5, 0.5)) == (0, 1, 2)  # no train wanted: none forced
    assert split_sizes(3, (0.2, 0.4, 0.4)) == (1, 1, 1)
    assert split_sizes(10, (1.0, 0.0, 0.0)) == (10, 0, 0)
    with pytest.raises(ValueError, match="sum to 1"):
        split_sizes(10, (0.5, 0.1, 0.1))
    with pytest.raises(ValueError, match="non-negative"):
        split_sizes(10, (1.2, -0.1, -0.1))


def test_make_patches_split_sizes_and_positive_flags():
    region = make_region(48, 56)  # 6 x 7 = 42 patches of core 8
    ps = make_patches(region, GEOM, seed=3)
    assert len(ps) == 42
    counts = ps.counts()
    assert (counts["train"]["patches"], counts["val"]["patches"], counts["test"]["patches"]) == (
        split_sizes(42)
    )
    label = region["label"].values
    for k, (r, c) in enumerate(ps.origins):
        assert ps.positive[k] == bool((label[r : r + 8, c : c + 8] == 1).any())
    assert any(ps.positive) and not all(ps.positive)
    assert sum(c["positive"] for c in counts.values()) == sum(ps.positive)


def test_split_reproducible_by_seed():
    region = make_region(48, 56)
    a = make_patches(region, GEOM, seed=7)
    b = make_patches(region, GEOM, seed=7)
    c = make_patches(region, GEOM, seed=8)
    assert a == b
    assert a.split != c.split
    assert a.counts()["test"]["patches"] == c.counts()["test"]["patches"]
    # the permutation is numpy's Generator(PCG64(seed)).permutation
    perm = np.random.Generator(np.random.PCG64(7)).permutation(len(a))
    assert [a.split[k] for k in perm[:4]] == ["train"] * 4


def test_all_unknown_patches_are_dropped():
    region = make_region(23, 31)
    region["label"][0:8, 8:16] = -1  # interior core (0, 1)
    region["label"][16:, 24:] = -1  # partial corner core (2, 3)
    ps = make_patches(region, GEOM)
    assert ps.n_dropped == 2
    assert len(ps) == 10
    assert (0, 8) not in ps.origins and (16, 24) not in ps.origins
    region["label"][16:, 25:] = 0  # one known pixel is enough to keep it
    region["label"][16, 24] = -1
    assert (16, 24) in make_patches(region, GEOM).origins


def test_oversampling_counts():
    region = make_region(48, 56)
    ps = make_patches(region, GEOM, oversample=5)
    train = ps.indices("train")
    over = ps.indices("train", oversample=True)
    assert sorted(set(over)) == train
    for k in train:
        assert over.count(k) == (5 if ps.positive[k] else 1)
    assert len(over) == ps.counts()["train"]["oversampled"]
    assert len(PatchDataset(region, ps, "train")) == len(over)
    assert len(PatchDataset(region, ps, "train", oversample=False)) == len(train)
    assert len(PatchDataset(region, ps, "test")) == len(ps.indices("test"))
    assert ps.indices("test", oversample=True).count(ps.indices("test")[0]) in (1, 5)


def test_json_round_trip(tmp_path):
    ps = make_patches(make_region(48, 56), GEOM, seed=11, fractions=(0.6, 0.2, 0.2))
    path = ps.to_json(tmp_path / "split.json")
    back = PatchSet.from_json(path)
    assert back == ps
    assert back.geometry == GEOM and back.fractions == (0.6, 0.2, 0.2)
    d = json.loads(path.read_text())
    assert d["format"] == "xlandslide.PatchSet" and d["seed"] == 11
    with pytest.raises(ValueError, match="not an xlandslide patch set"):
        PatchSet.from_dict({"origins": []})


def test_window_and_core_mask():
    region = make_region(23, 31).chunk({"y": 10, "x": 12})
    ps = make_patches(region, GEOM)
    k = ps.origins.index((16, 24))
    assert ps.window(k) == (13, 27, 21, 35)
    with raise_if_dask_computes():
        mask = ps.core_mask("test", like=region)
    assert mask.chunks == ((10, 10, 3), (12, 12, 7))
    assert mask.rio.crs == region.rio.crs
    expected = np.zeros((23, 31), bool)
    for (r, c), s in zip(ps.origins, ps.split):
        if s == "test":
            expected[r : r + 8, c : c + 8] = True
    np.testing.assert_array_equal(mask.values, expected)
    with pytest.raises(GridMismatchError):
        ps.core_mask("test", like=make_region(24, 31))


# --------------------------------------------------------------------------- PatchDataset


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_items_equal_oracle_crop(backend):
    region = make_region(23, 31)
    ps = make_patches(region, GEOM)
    src = region if backend == "numpy" else region.chunk({"y": 7, "x": 9, "feature": 2})
    for split in ("train", "val", "test"):
        ds = PatchDataset(src, ps, split, oversample=False)
        for i in range(len(ds)):
            item = ds[i]
            k = item["index"]
            assert k == ds.ids[i]
            assert item["features"].dtype == torch.float32
            assert item["features"].shape == (3, 14, 14)
            assert item["offsets"].dtype == torch.int8
            assert item["offsets"].shape == (2, 2, 14, 14)
            assert item["label"].dtype == torch.int8
            assert_item_equal(item, oracle_item(region, ps, k))
    # an interior patch and the bottom-right corner patch were both covered
    assert {(8, 8), (16, 24)} <= set(ps.origins)


def test_generator_index_matches_xbatcher_slices():
    region = make_region(23, 31, offsets=False)
    ps = make_patches(region, GEOM)
    ds = PatchDataset(region, ps, "train")
    ds[0]
    gen = ds._generators["features"]
    h = GEOM.halo
    for k in range(len(ps)):
        sel = gen._batch_selectors.selectors[ds.generator_index(k)][0]
        y0, y1, x0, x1 = ps.window(k)
        assert (sel["y"], sel["x"]) == (slice(y0 + h, y1 + h), slice(x0 + h, x1 + h))


def test_dataset_without_offsets_and_variable_choice():
    region = make_region(23, 31, offsets=False)
    ps = make_patches(region, GEOM)
    item = PatchDataset(region, ps, "val")[0]
    assert set(item) == {"features", "label", "index"}
    item = PatchDataset(make_region(23, 31), ps, "val", variables=("features",))[0]
    assert set(item) == {"features", "index"}


def test_dataset_input_errors():
    region = make_region(23, 31)
    ps = make_patches(region, GEOM)
    with pytest.raises(GridMismatchError, match="shape"):
        PatchDataset(make_region(24, 31), ps)
    with pytest.raises(ValueError, match="unknown split"):
        PatchDataset(region, ps, "validation")
    with pytest.raises(RegionError, match="only one of"):
        PatchDataset(region.drop_vars("uphill_dx"), ps)
    with pytest.raises(RegionError, match="label"):
        make_patches(region.drop_vars("label"), GEOM)


def test_dask_item_is_one_compute():
    region = make_region(23, 31).chunk({"y": 7, "x": 9})
    ps = make_patches(region, GEOM)
    ds = PatchDataset(region, ps, "train")
    with raise_if_dask_computes(max_computes=1):
        ds[len(ds) - 1]


def _source(region, backend, tmp_path):
    if backend == "numpy":
        return region
    if backend == "dask":
        return region.chunk({"y": 7, "x": 9})
    store = tmp_path / "region.zarr"
    # object-dtype names are stored as zarr v3 variable-length strings (a specified dtype)
    region = region.assign_coords(feature=region["feature"].astype(object))
    region.chunk({"y": 8, "x": 8}).to_zarr(store, consolidated=False)
    return xr.open_zarr(store, chunks=None, consolidated=False)


@pytest.mark.parametrize("backend", ["numpy", "dask", "zarr"])
def test_dataloader_two_workers_sees_each_index_once(backend, tmp_path):
    region = make_region(23, 31)
    src = _source(region, backend, tmp_path)
    ps = make_patches(src, GEOM)
    ds = PatchDataset(src, ps, "train", oversample=False)
    ds[0]  # generators built in the parent are dropped when pickled, rebuilt in workers
    loader = torch.utils.data.DataLoader(ds, batch_size=3, shuffle=True, num_workers=2)
    seen = []
    for batch in loader:
        assert batch["features"].shape[1:] == (3, 14, 14)
        assert batch["offsets"].shape[1:] == (2, 2, 14, 14)
        for j, k in enumerate(batch["index"].tolist()):
            expected = oracle_item(region, ps, k)
            np.testing.assert_array_equal(batch["label"][j].numpy(), expected["label"])
        seen.extend(batch["index"].tolist())
    assert sorted(seen) == sorted(ps.indices("train"))


@pytest.mark.parametrize("backend", ["dask", "zarr"])
def test_dataset_pickles(backend, tmp_path):
    """Spawned DataLoader workers receive the dataset pickled."""
    region = make_region(23, 31)
    ds = PatchDataset(_source(region, backend, tmp_path), make_patches(region, GEOM), "test")
    ds[0]
    back = pickle.loads(pickle.dumps(ds))
    assert back._generators is None
    assert_item_equal(back[0], oracle_item(region, ds.patchset, ds.ids[0]))


def test_reads_from_zarr_store_without_dask(tmp_path):
    region = make_region(23, 31)
    lazy = _source(region, "zarr", tmp_path)
    assert lazy["features"].chunks is None  # lazily indexed numpy, no dask
    ps = make_patches(lazy, GEOM)
    assert ps == make_patches(region, GEOM)
    ds = PatchDataset(lazy, ps, "train", oversample=False)
    with dask.config.set(scheduler=_no_dask):
        for i in range(len(ds)):
            item = ds[i]
            assert_item_equal(item, oracle_item(region, ps, item["index"]))


def _no_dask(*args, **kwargs):  # a scheduler that must not run
    raise AssertionError("a lazily indexed region must be read without dask")


def test_padded_lazy_array_strided_and_integer_indexing():
    from xlandslide.patches import _pad_variable

    a = np.arange(5 * 6, dtype="float32").reshape(5, 6)
    var = xr.Variable(("y", "x"), a)
    padded = xr.DataArray(_pad_variable(var, {"y": (2, 3), "x": (1, 4)}, np.nan))
    oracle = np.pad(a, ((2, 3), (1, 4)), constant_values=np.nan)
    np.testing.assert_array_equal(padded.values, oracle)
    for sel in (
        {"y": slice(1, 9, 2), "x": slice(0, 11, 3)},
        {"y": 0, "x": slice(2, 5)},
        {"y": 4, "x": 6},
        {"y": slice(None, None, -1)},
        {"y": [0, 3, 9], "x": slice(1, 3)},
    ):
        np.testing.assert_array_equal(
            padded.isel(sel).values,
            xr.DataArray(oracle)
            .isel({"dim_0": sel.get("y", slice(None)), "dim_1": sel.get("x", slice(None))})
            .values,
        )
