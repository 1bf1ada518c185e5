"""Lazy whole-region prediction: tiling, chunk invariance, laziness, edges.

A fake model whose output at a pixel depends on its whole input tile (the tile's mean) is the
strictest oracle for seams: any change in how the map is cut into tiles changes values.
Tests with real torch models live at the end.
"""

from __future__ import annotations

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr
from conftest import raise_if_dask_computes

from xlandslide.grid import PatchGeometry
from xlandslide.predict import predict


class TileModel:
    """Stand-in for LandslideModel: p = sigmoid(x0 + tile mean of x1 + 0.1 * dy at 1st dist)."""

    name = "tile"

    def __init__(self, geometry, feature_names, needs_offsets=False, distances=()):
        self.geometry = geometry
        self.feature_names = tuple(feature_names)
        self.needs_offsets = needs_offsets
        self.distances = tuple(distances)
        self.calls = 0

    def check_region(self, region, *, require_offsets=True):
        pass

    def predict_proba(self, features, offsets, *, device=None, batch_size=None):
        self.calls += 1
        x = np.nan_to_num(features)
        z = x[:, 0] + x[:, 1].mean(axis=(1, 2))[:, None, None]
        if self.needs_offsets:
            z = z + 0.1 * offsets[:, 0, 0].astype("float32")
        return (1 / (1 + np.exp(-z))).astype("float32")


def _region(ny=70, nx=90, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(3, ny, nx)).astype("float32")
    dem = np.cumsum(rng.normal(size=(ny, nx)), axis=0).astype("float32")
    dem[:5, :7] = np.nan
    feats[:, :5, :7] = np.nan
    label = rng.integers(0, 2, size=(ny, nx)).astype("int8")
    ds = xr.Dataset(
        {
            "features": (("feature", "y", "x"), feats),
            "dem": (("y", "x"), dem),
            "label": (("y", "x"), label),
        },
        coords={
            "feature": ["slope", "a", "dem"],
            "y": 9000.0 - 10 * np.arange(ny),
            "x": 100.0 + 10 * np.arange(nx),
        },
    )
    return ds.rio.write_crs("EPSG:32632")


def _patchwise(region, model):
    """Oracle: cut NaN-padded tiles on the core grid by hand, predict each, paste cores."""
    g = model.geometry
    ny, nx = region.sizes["y"], region.sizes["x"]
    feats = region["features"].sel(feature=list(model.feature_names)).values
    pad = np.pad(
        feats,
        ((0, 0), (g.halo, g.halo + g.core), (g.halo, g.halo + g.core)),
        constant_values=np.nan,
    )
    out = np.full((ny, nx), np.nan, dtype="float32")
    for i in range(0, ny, g.core):
        for j in range(0, nx, g.core):
            win = pad[None, :, i : i + g.size, j : j + g.size]
            p = model.predict_proba(win, None)[0]
            ch, cw = min(g.core, ny - i), min(g.core, nx - j)
            out[i : i + ch, j : j + cw] = p[g.halo : g.halo + ch, g.halo : g.halo + cw]
    out[np.isnan(region["dem"].values)] = np.nan
    return out


@pytest.mark.parametrize("chunks", [None, 16, 25, (33, 41)])
@pytest.mark.parametrize("block_size", [None, 20])
def test_equals_patchwise_for_any_chunking(chunks, block_size):
    region = _region()
    if chunks is not None:
        region = region.chunk(
            {
                "y": chunks if np.isscalar(chunks) else chunks[0],
                "x": chunks if np.isscalar(chunks) else chunks[1],
            }
        )
    model = TileModel(PatchGeometry(core=20, halo=6), ["slope", "a"])
    prob = predict(region, model, block_size=block_size)
    expected = _patchwise(_region(), model)
    np.testing.assert_allclose(prob.values, expected, rtol=0, atol=1e-6)
    assert np.isnan(prob.values[:5, :7]).all()


def test_lazy_until_asked_and_metadata():
    region = _region().chunk(32)
    model = TileModel(PatchGeometry(core=20, halo=6), ["slope", "a"])
    with raise_if_dask_computes():
        prob = predict(region, model)
    assert model.calls == 0
    assert prob.dims == ("y", "x") and prob.dtype == np.float32
    assert prob.name == "susceptibility" and prob.attrs["units"] == "1"
    assert prob.rio.crs.to_epsg() == 32632
    np.testing.assert_array_equal(prob.x.values, region.x.values)
    # blocks sit on the core grid: whole multiples of the core
    assert all(c % 20 == 0 for c in prob.chunks[0][:-1])
    with raise_if_dask_computes(max_computes=1):
        prob.compute()


def test_one_forward_per_block():
    region = _region(40, 40).chunk(40)
    model = TileModel(PatchGeometry(core=20, halo=6), ["slope", "a"])
    predict(region, model, block_size=40).compute(scheduler="sync")
    assert model.calls == 1  # one block holding 2 x 2 cores, one batched call


def test_offsets_computed_when_absent_and_used_when_stored():
    region = _region()
    model = TileModel(PatchGeometry(core=20, halo=12), ["slope", "a"], True, (100.0,))
    lazy = predict(region.chunk(30), model).values
    from xlandslide.features import uphill_offsets

    offs = uphill_offsets(region["dem"], distances=(100.0,))
    stored = region.assign(uphill_dy=offs["dy"], uphill_dx=offs["dx"])
    np.testing.assert_array_equal(predict(stored, model).values, lazy)
    # a different offset field changes the result: the stored offsets are really read
    other = stored.assign(uphill_dy=stored["uphill_dy"] * 0 + 5)
    assert not np.allclose(np.nan_to_num(predict(other, model).values), np.nan_to_num(lazy))


def _lacnn(geometry, distances=(30.0,)):
    import torch

    from xlandslide.checkpoint import LandslideModel
    from xlandslide.models import build_model

    torch.manual_seed(0)
    names = ["slope", "a", "dem"]
    module = build_model(
        "lacnn",
        3,
        feature_names=names,
        aligned_names=["slope", "dem"],
        n_distances=len(distances),
        base_width=4,
    )
    return LandslideModel(
        module,
        "lacnn",
        feature_names=names,
        aligned_names=["slope", "dem"],
        distances=distances,
        geometry=geometry,
        pixel_size=10.0,
    )


def test_real_lacnn_chunk_invariant_and_patchwise():
    from xlandslide.features import uphill_offsets

    region = _region(50, 61)
    model = _lacnn(PatchGeometry(core=16, halo=8))
    ref = predict(region.chunk(50), model).values
    for chunks in (13, 24, (17, 29)):
        c = (chunks, chunks) if np.isscalar(chunks) else chunks
        got = predict(region.chunk({"y": c[0], "x": c[1]}), model, block_size=32).values
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
    assert np.isnan(ref[:5, :7]).all() and np.isfinite(ref[6:, 8:]).all()
    assert ((ref[6:, 8:] > 0) & (ref[6:, 8:] < 1)).all()

    # oracle: NaN/0-padded tiles on the core grid, one model call each
    g = model.geometry
    offs = uphill_offsets(region["dem"], distances=model.distances)
    off = np.stack([offs["dy"].values, offs["dx"].values], axis=1)  # (D, 2, y, x)
    feats = region["features"].values
    pads = ((g.halo, g.halo + g.core), (g.halo, g.halo + g.core))
    fpad = np.pad(feats, ((0, 0), *pads), constant_values=np.nan)
    opad = np.pad(off, ((0, 0), (0, 0), *pads))
    ny, nx = region.sizes["y"], region.sizes["x"]
    for i in range(0, ny, g.core):
        for j in range(0, nx, g.core):
            p = model.predict_proba(
                fpad[None, :, i : i + g.size, j : j + g.size],
                opad[None, :, :, i : i + g.size, j : j + g.size],
            )[0]
            ch, cw = min(g.core, ny - i), min(g.core, nx - j)
            core = p[g.halo : g.halo + ch, g.halo : g.halo + cw]
            want = np.where(np.isnan(region["dem"].values[i : i + ch, j : j + cw]), np.nan, core)
            np.testing.assert_allclose(ref[i : i + ch, j : j + cw], want, rtol=0, atol=1e-5)


def test_checkpoint_mismatch_refused():
    from xlandslide.errors import CheckpointMismatchError

    region = _region().assign_coords(feature=["slope", "b", "dem"])
    with pytest.raises(CheckpointMismatchError):
        predict(region, _lacnn(PatchGeometry(core=16, halo=8)))


def test_the_model_is_one_key_of_the_graph_not_a_copy_per_task():
    import cloudpickle
    from dask.base import tokenize

    model = _lacnn(PatchGeometry(core=16, halo=8))
    prob = predict(_region(50, 61).chunk(16), model, block_size=16)
    graph = dict(prob.__dask_graph__())
    model_keys = [k for k in graph if str(k).startswith("xlandslide-model-")]
    assert len(model_keys) == 1
    weights = len(cloudpickle.dumps(model))
    predict_tasks = [v for k, v in graph.items() if "xlandslide-predict" in str(k)]
    assert len(predict_tasks) == 16  # 4 x 4 blocks of one core
    # every block task refers to the model key; none carries the weights
    assert max(len(cloudpickle.dumps(v)) for v in predict_tasks) < weights / 4
    # the key is named by the weights: stable, and new when they change
    assert tokenize(model) == tokenize(model)
    before = tokenize(model)
    import torch

    with torch.no_grad():
        next(model.module.parameters()).add_(1.0)
    assert tokenize(model) != before
