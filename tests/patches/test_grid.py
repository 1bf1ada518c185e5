"""Tests of xlandslide.patches.grid: the patch grid, its split, flags, JSON, core masks."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers .rio)
from hypothesis import given, settings

from tests.helpers import raise_if_dask_computes
from tests.patches.common import GEOM, make_region
from tests.strategies import yx_chunks
from xlandslide.errors import ConfigError, GridMismatchError, PatchError, RegionError
from xlandslide.grid import PatchGeometry
from xlandslide.patches import PatchSet, make_patches, split_sizes


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
    assert [ps.grid_index(k) for k in range(len(ps))] == [
        (i, j) for i in range(grid[0]) for j in range(grid[1])
    ]
    assert ps.n_dropped == 0 and ps.shape == shape


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
    region["label"][16, 25] = 0  # one known pixel is enough to keep it
    assert (16, 24) in make_patches(region, GEOM).origins


def test_oversampling_indices_and_counts():
    region = make_region(48, 56)
    ps = make_patches(region, GEOM, oversample=5)
    train = ps.indices("train")
    over = ps.indices("train", oversample=True)
    assert sorted(set(over)) == train
    for k in train:
        assert over.count(k) == (5 if ps.positive[k] else 1)
    assert len(over) == ps.counts()["train"]["oversampled"]
    # repeats are consecutive
    for k in train:
        first = over.index(k)
        assert over[first : first + over.count(k)] == [k] * over.count(k)
    assert ps.indices("val") == sorted(ps.indices("val"))


@pytest.mark.parametrize("backend", ["numpy", "dask"])
def test_make_patches_reads_only_the_label(backend):
    """One dask computation, of the label alone (the continuous layers would raise)."""
    region = make_region(23, 31)

    def boom(block):
        raise AssertionError("make_patches read a variable other than label")

    for name in ("continuous", "categorical", "uphill_dy", "dem"):
        var = region[name]
        lazy = da.map_blocks(boom, da.zeros(var.shape, dtype=var.dtype, chunks=8), dtype=var.dtype)
        region[name] = (var.dims, lazy)
    if backend == "dask":
        region["label"] = region["label"].chunk({"y": 7, "x": 9})
    with raise_if_dask_computes(max_computes=1):
        ps = make_patches(region, GEOM)
    assert len(ps) == 12


@settings(max_examples=10, deadline=None)
@given(chunks=yx_chunks((23, 31)))
def test_same_patches_for_any_chunking(chunks):
    region = make_region(23, 31, offsets=False)
    want = make_patches(region, GEOM, seed=2)
    got = make_patches(region.chunk({"y": chunks[0], "x": chunks[1]}), GEOM, seed=2)
    assert got == want


def test_make_patches_errors():
    region = make_region(23, 31)
    with pytest.raises(RegionError, match="no 'label'"):
        make_patches(region.drop_vars("label"), GEOM)
    with pytest.raises(RegionError, match="dims"):
        make_patches(region.assign(label=region["continuous"]), GEOM)
    with pytest.raises(ConfigError, match="geometry must be a PatchGeometry"):
        make_patches(region, (8, 3))
    with pytest.raises(ConfigError, match="oversample"):
        make_patches(region, GEOM, oversample=0)
    with pytest.raises(ConfigError, match="sum to 1"):
        make_patches(region, GEOM, fractions=(0.5, 0.1, 0.1))


def test_patchset_validation():
    base = make_patches(make_region(23, 31), GEOM).to_dict()

    def build(**changes):
        d = {k: v for k, v in base.items() if k not in ("format", "version")}
        return PatchSet(**{**d, **changes})

    assert build().geometry == GEOM  # a geometry dict is accepted
    with pytest.raises(ConfigError, match="not on the core grid"):
        build(origins=[[1, 0], *base["origins"][1:]])
    with pytest.raises(ConfigError, match="differ in length"):
        build(split=base["split"][:-1])
    with pytest.raises(ConfigError, match="unknown split names"):
        build(split=["validation"] * len(base["split"]))
    with pytest.raises(ConfigError, match="shape"):
        build(shape=(0, 31))
    with pytest.raises(ConfigError, match="oversample"):
        build(oversample=0)
    with pytest.raises(ConfigError, match="unknown split"):
        build().indices("training")


def test_json_round_trip(tmp_path):
    ps = make_patches(make_region(48, 56), GEOM, seed=11, fractions=(0.6, 0.2, 0.2))
    path = ps.to_json(tmp_path / "split.json")
    back = PatchSet.from_json(path)
    assert back == ps
    assert back.geometry == GEOM and back.fractions == (0.6, 0.2, 0.2)
    d = json.loads(path.read_text())
    assert d["format"] == "xlandslide.PatchSet" and d["seed"] == 11
    with pytest.raises(PatchError, match="not a patch set"):
        PatchSet.from_dict({"origins": []})
    with pytest.raises(PatchError, match="newer"):
        PatchSet.from_dict({**d, "version": 99})


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: {k: v for k, v in d.items() if k != "origins"}, "damaged.*no 'origins'"),
        (lambda d: {**d, "geometry": {"size": 14}}, "damaged.*TypeError"),
        (lambda d: {**d, "origins": [[1, 1]] * len(d["origins"])}, "not on the core grid"),
        (lambda d: {**d, "version": "1"}, "not an integer"),
    ],
)
def test_damaged_patch_sets(mutate, match, tmp_path):
    d = make_patches(make_region(23, 31), GEOM).to_dict()
    with pytest.raises(PatchError, match=match):
        PatchSet.from_dict(mutate(d))
    path = tmp_path / "split.json"
    path.write_text('{"format": "xlandslide.PatchSet", "ver')
    with pytest.raises(PatchError, match=r"not a patch set written by PatchSet\.to_json"):
        PatchSet.from_json(path)


def test_window_and_core_mask():
    region = make_region(23, 31).chunk({"y": 10, "x": 12})
    ps = make_patches(region, GEOM)
    k = ps.origins.index((16, 24))
    assert ps.window(k) == (13, 27, 21, 35)
    with raise_if_dask_computes():
        mask = ps.core_mask("test", like=region)
    assert mask.chunks == ((10, 10, 3), (12, 12, 7))
    assert mask.rio.crs == region.rio.crs
    np.testing.assert_array_equal(mask["x"].values, region["x"].values)
    expected = np.zeros((23, 31), bool)
    for (r, c), s in zip(ps.origins, ps.split):
        if s == "test":
            expected[r : r + 8, c : c + 8] = True
    np.testing.assert_array_equal(mask.values, expected)
    # the masks of the three splits partition the kept cores
    total = sum(ps.core_mask(s).values.astype(int) for s in ("train", "val", "test"))
    kept = np.zeros((23, 31), int)
    for r, c in ps.origins:
        kept[r : r + 8, c : c + 8] = 1
    np.testing.assert_array_equal(total, kept)
    with pytest.raises(GridMismatchError):
        ps.core_mask("test", like=make_region(24, 31))


@settings(max_examples=10, deadline=None)
@given(chunks=yx_chunks((23, 31)))
def test_core_mask_any_chunking(chunks):
    region = make_region(23, 31, offsets=False)
    ps = make_patches(region, GEOM)
    want = ps.core_mask("train").values
    like = region.chunk({"y": chunks[0], "x": chunks[1]})
    mask = ps.core_mask("train", like=like)
    assert mask.chunks == chunks
    np.testing.assert_array_equal(mask.values, want)


# --------------------------------------------------------------------------- mask_patches


def test_mask_patches_holds_the_cores_of_each_mask():
    from xlandslide.patches import PatchDataset
    from xlandslide.patches.grid import mask_patches

    region = make_region(23, 31, offsets=False)
    lab = region["label"].values
    rows = np.arange(23)[:, None] + 0 * np.arange(31)[None, :]
    train = region["label"].copy(data=rows < 9)
    val = region["label"].copy(data=(rows >= 9) & (rows < 12))
    test = region["label"].copy(data=rows >= 12)
    ps = mask_patches(region.chunk(10), GEOM, train=train, val=val, test=test, oversample=3)
    for split, m in (("train", train), ("val", val), ("test", test)):
        want, pos = set(), set()
        for i in range(0, 23, 8):
            for j in range(0, 31, 8):
                core = (m.values & (lab >= 0))[i : i + 8, j : j + 8]
                if core.any():
                    want.add((i, j))
                if (core & (lab == 1)[i : i + 8, j : j + 8]).any():
                    pos.add((i, j))
        got = [k for k in range(len(ps)) if ps.split[k] == split]
        assert {ps.origins[k] for k in got} == want
        assert {ps.origins[k] for k in got if ps.positive[k]} == pos
    # row 8 of cores holds train (row 8) and val (rows 9-11) pixels: listed in both
    assert ps.origins.count((8, 0)) >= 2
    assert PatchSet.from_dict(json.loads(json.dumps(ps.to_dict()))) == ps
    # the loss sees only the mask's pixels: the dataset's labels are masked
    ds = PatchDataset(region, ps, "val", label_mask=val)
    k = ps.indices("val")[0]
    item = ds[0]
    y0, _, x0, _ = ps.window(k)
    want = np.where(val.values, lab, -1)
    h = GEOM.halo
    core = item["label"].numpy()[h : h + 8, h : h + 8]
    np.testing.assert_array_equal(
        core, want[y0 + h : y0 + h + 8, x0 + h : x0 + h + 8][: core.shape[0]]
    )
    with pytest.raises(GridMismatchError):
        mask_patches(region, GEOM, train=train.isel(y=slice(0, 5)), val=val)
