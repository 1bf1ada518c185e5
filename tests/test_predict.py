"""Lazy whole-region prediction: patch-wise oracles per model kind, chunk invariance, laziness.

The oracle is the module itself run on the items of :class:`xlandslide.PatchDataset` (the
training patches): prediction must give, on every patch core, what the model gives on that
patch.  Per-pixel models (Naive, LLR, NN, LANN) see exactly the same inputs per pixel, so
they agree to the last float32 bits that torch's kernels leave free: a convolution's order
of accumulation depends on the tensor's shape (a strip is not a patch), which moves a
result by an ulp or so — :data:`MAX_ULP` bounds it, and the Naive constant is exact.  For
the same blocks, any chunking of the input gives identical bits.  Convolutional models
(CNN, LACNN) agree within 1e-5 (batched forwards).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import custom_region, raise_if_dask_computes, tiny_region
from tests.strategies import yx_chunks

torch = pytest.importorskip("torch")

import xlandslide as xl  # noqa: E402
from xlandslide.errors import CheckpointMismatchError, ConfigError, HaloError  # noqa: E402
from xlandslide.grid import PatchGeometry  # noqa: E402
from xlandslide.model import LandslideModel, spec_for_region  # noqa: E402
from xlandslide.patches import PatchDataset, make_patches  # noqa: E402
from xlandslide.predict import halo_overhead, predict  # noqa: E402
from xlandslide.region import select_offsets  # noqa: E402

#: the module (``xlandslide.predict`` is the function)
predict_module = importlib.import_module("xlandslide.predict")

GEOM = PatchGeometry(core=16, halo=8)
DISTANCES = (30.0, 60.0)  # rings of 3 and 6 pixels at 10 m: inside the halo of 8
SMALL = {"cnn": {"base_width": 4}, "lacnn": {"base_width": 4}, "nn": {"hidden": [8]}}
SMALL["lann"] = {"hidden": [8]}
PIXELWISE = ("naive", "llr", "nn", "lann")
#: float32 units in the last place a per-pixel result may move with the shape of the tensor
MAX_ULP = 4
TILED = ("cnn", "lacnn")


def make_model(name, region, geometry=GEOM, *, distances=DISTANCES, aligned=None, seed=0):
    """An untrained (seeded) model of kind ``name`` for ``region``'s layout."""
    fields = {"geometry": geometry, "model_config": SMALL.get(name, {})}
    if name in ("lann", "lacnn"):
        layout = xl.feature_layout(region)
        fields["aligned"] = aligned or (layout.names[0], layout.names[-1])
        fields["distances"] = distances
    spec = spec_for_region(name, region, **fields)
    torch.manual_seed(seed)
    module = spec.build_module()
    if name == "naive":
        module.init_prior(0.03)
    return LandslideModel(module, spec)


def patchwise(region, model, geometry=None):
    """Oracle: the module on every PatchDataset item; the cores pasted into a map.

    Returns the map (NaN where no patch core lies) — pixels outside the region included,
    which ``predict`` then masks.
    """
    spec = model.spec
    geometry = geometry or spec.geometry
    patches = make_patches(region, geometry)
    src = select_offsets(region, spec.distances) if spec.needs_offsets else region
    out = np.full((region.sizes["y"], region.sizes["x"]), np.nan, dtype=np.float32)
    g = geometry
    for split in ("train", "val", "test"):
        items = PatchDataset(src, patches, split, oversample=False, offsets=spec.needs_offsets)
        for item in items:
            with torch.no_grad():
                logits = model.module(
                    item["continuous"][None], item["categorical"][None], _offsets(item)
                )
            p = torch.sigmoid(logits)[0].numpy()
            r, c = patches.origins[item["index"]]
            ch, cw = min(g.core, out.shape[0] - r), min(g.core, out.shape[1] - c)
            out[r : r + ch, c : c + cw] = p[g.halo : g.halo + ch, g.halo : g.halo + cw]
    return out


def _offsets(item):
    return item["offsets"][None] if "offsets" in item else None


def outside(region):
    """Pixels outside the region by the data model: DEM or a continuous layer NaN."""
    mask = np.isnan(region["dem"].values)
    if "continuous" in region:
        mask |= np.isnan(region["continuous"].values).any(axis=0)
    return mask


@pytest.fixture(scope="module")
def inspire():
    """A synthetic region of the paper's layout (94 features) with offsets, numpy-backed."""
    region = tiny_region((70, 83), seed=2, chunks=32, distances=DISTANCES, halo=GEOM.halo)
    return region.compute()


@pytest.fixture(scope="module")
def small():
    """A region of random layers (2 continuous, 2 groups), 10 % outside, with offsets."""
    region = custom_region((45, 53), seed=4).landslide.with_offsets(DISTANCES, halo=GEOM.halo)
    return region.compute()


# ------------------------------------------------------------------ oracle per model kind


@pytest.mark.parametrize("name", PIXELWISE + TILED)
def test_equals_the_module_on_the_patches(inspire, name):
    model = make_model(name, inspire)
    prob = predict(inspire, model).values
    want = patchwise(inspire, model)
    covered = np.isfinite(want) & ~outside(inspire)
    assert covered.mean() > 0.8  # most of the region lies in patch cores
    if name == "naive":
        np.testing.assert_array_equal(prob[covered], want[covered])
    elif name in PIXELWISE:
        np.testing.assert_array_max_ulp(prob[covered], want[covered], maxulp=MAX_ULP)
    else:
        np.testing.assert_allclose(prob[covered], want[covered], rtol=0, atol=1e-5)
    # NaN exactly outside the region; probabilities inside
    np.testing.assert_array_equal(np.isnan(prob), outside(inspire))
    assert ((prob[~outside(inspire)] >= 0) & (prob[~outside(inspire)] <= 1)).all()


@pytest.mark.parametrize("name", ["llr", "lann", "cnn"])
@pytest.mark.parametrize("kind", ["groups only", "continuous only"])
def test_layouts_without_one_kind_of_layer(kind, name):
    if kind == "groups only":
        region = custom_region((40, 37), seed=5, continuous=(), groups={"soil": 3, "use": 4})
    else:
        region = custom_region((40, 37), seed=5).drop_vars(["categorical", "group"])
    region = region.landslide.with_offsets(DISTANCES, halo=GEOM.halo).compute()
    model = make_model(name, region)
    prob = predict(region, model).values
    want = patchwise(region, model)
    covered = np.isfinite(want) & ~outside(region)
    assert covered.mean() > 0.8
    np.testing.assert_allclose(prob[covered], want[covered], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(prob), outside(region))


def test_naive_is_the_constant_ratio(small):
    model = make_model("naive", small)
    prob = predict(small, model).values
    inside = ~outside(small)
    np.testing.assert_allclose(prob[inside], 0.03, rtol=1e-6)
    assert np.isnan(prob[~inside]).all()


def test_nan_where_a_continuous_layer_is_missing(small):
    """A pixel with a DEM but no slope (region_from_dem's rim) is outside the region too."""
    region = small.copy(deep=True)
    region["continuous"].values[0, 20, 30] = np.nan
    assert np.isfinite(region["dem"].values[20, 30])
    for name in ("llr", "cnn"):
        prob = predict(region, make_model(name, region)).values
        assert np.isnan(prob[20, 30])
        np.testing.assert_array_equal(np.isnan(prob), outside(region))


@pytest.mark.parametrize("name", ["lacnn", "cnn"])
def test_core_parameter(small, name):
    model = make_model(name, small)
    default = predict(small, model).values
    np.testing.assert_allclose(
        default, predict(small, model, core=GEOM.core).values, rtol=0, atol=1e-6
    )
    bigger = predict(small, model, core=32).values
    inside = ~outside(small)
    assert np.isfinite(bigger[inside]).all() and np.isnan(bigger[~inside]).all()
    # other tile borders: slightly different values ...
    diff = np.abs(bigger - default)[inside]
    assert diff.max() > 1e-6 and diff.mean() < 0.05
    # ... exactly those of 32-pixel tiles with the model's halo
    want = patchwise(small, model, PatchGeometry(32, GEOM.halo))
    np.testing.assert_allclose(bigger[inside], want[inside], rtol=0, atol=1e-5)


def test_core_is_ignored_by_per_pixel_models(small):
    model = make_model("lann", small)
    np.testing.assert_array_equal(
        predict(small, model, core=40).values, predict(small, model).values
    )


def test_halo_overhead():
    assert halo_overhead(128, 64) == 4.0
    assert halo_overhead(512, 64) == pytest.approx(1.5625)


# ------------------------------------------------------------------ chunk independence


@pytest.fixture(scope="module")
def references(small):
    lann, lacnn = make_model("lann", small), make_model("lacnn", small)
    return {
        "lann": (lann, predict(small, lann).values),
        "lacnn": (lacnn, predict(small, lacnn).values),
    }


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_per_pixel_chunk_invariant(small, references, data):
    model, ref = references["lann"]
    chunks = data.draw(yx_chunks((45, 53)), label="chunks")
    block = data.draw(st.sampled_from([None, 9, 16, 30]), label="block_size")
    region = small.chunk({"y": chunks[0], "x": chunks[1]})
    got = predict(region, model, block_size=block).values
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_array_max_ulp(got[ok], ref[ok], maxulp=MAX_ULP)
    # the input chunks do not matter at all for a given block size
    np.testing.assert_array_equal(got, predict(small, model, block_size=block).values)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_tiles_chunk_invariant(small, references, data):
    model, ref = references["lacnn"]
    chunks = data.draw(yx_chunks((45, 53)), label="chunks")
    block = data.draw(st.sampled_from([None, 4, 16, 40]), label="block_size")
    region = small.chunk({"y": chunks[0], "x": chunks[1]})
    got = predict(region, model, block_size=block).values
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
    # the input chunks do not matter at all for a given block size
    np.testing.assert_array_equal(got, predict(small, model, block_size=block).values)


def test_blocks_stay_on_the_core_grid(small):
    """A last block shorter than the halo joins its neighbour (not a block off the grid)."""
    model = make_model("cnn", small)
    prob = predict(small, model, block_size=16)  # 45 = 16 + 16 + 13; 53 = 16 * 3 + 5
    assert prob.chunks == ((16, 16, 13), (16, 16, 21))
    assert predict(small, model, block_size=5).chunks[0] == (16, 16, 13)  # whole cores


def test_per_pixel_strips_are_exact(small, references, monkeypatch):
    model, ref = references["lann"]
    monkeypatch.setattr(predict_module, "STRIP_BYTES", 1)  # one row per strip
    got = predict(small, model).values
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_array_max_ulp(got[ok], ref[ok], maxulp=MAX_ULP)


# ------------------------------------------------------------------ laziness and metadata


def test_lazy_until_asked_and_metadata(small):
    region = small.chunk({"y": 20, "x": 20})
    for name in ("llr", "lacnn"):
        model = make_model(name, region)
        with raise_if_dask_computes():
            prob = predict(region, model)
            numpy_backed = predict(small, model)
        assert prob.dims == ("y", "x") and prob.dtype == np.float32
        assert prob.name == "susceptibility" and prob.attrs["units"] == "1"
        assert prob.attrs["model"] == name and "long_name" in prob.attrs
        assert prob.rio.crs == small.rio.crs
        np.testing.assert_array_equal(prob.x.values, small.x.values)
        np.testing.assert_array_equal(prob.y.values, small.y.values)
        assert numpy_backed.chunks is not None  # lazy on a numpy region too
        with raise_if_dask_computes(max_computes=1):
            values = prob.compute()
        np.testing.assert_array_equal(values.values, numpy_backed.values)


def test_tiles_are_batched(small, monkeypatch):
    model = make_model("cnn", small)
    calls = []
    original = model.predict_proba

    def counting(*args, **kwargs):
        calls.append(args[0].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "predict_proba", counting)
    region = small.isel(y=slice(0, 32), x=slice(0, 32))
    ref = predict(region, model, block_size=32, batch_size=4).compute(scheduler="sync")
    assert calls == [4]  # one block of 2 x 2 cores: one forward of 4 tiles
    calls.clear()
    got = predict(region, model, block_size=32, batch_size=3).compute(scheduler="sync")
    assert calls == [3, 1]
    np.testing.assert_allclose(got.values, ref.values, rtol=0, atol=1e-6)


BAD_SETTINGS = [
    {"block_size": 0},
    {"block_size": -3},
    {"block_size": 2.5},
    {"batch_size": 0},
    {"batch_size": "4"},
    {"core": 0},
    {"core": True},
]


@pytest.mark.parametrize("kwargs", BAD_SETTINGS)
def test_bad_settings(small, kwargs):
    with pytest.raises(ConfigError, match="positive integer"):
        predict(small, make_model("cnn", small), **kwargs)


def test_check_false_skips_the_checks_only(small):
    model = make_model("lacnn", small)
    np.testing.assert_array_equal(
        predict(small, model, check=False).values, predict(small, model).values
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["llr", "lacnn"])
def test_cuda_equals_cpu(small, name):
    model = make_model(name, small)
    cpu = predict(small, model).values
    gpu = predict(small, model, device="cuda").values
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=1e-4)


def test_not_a_model(small):
    with pytest.raises(ConfigError, match="LandslideModel"):
        predict(small, "lacnn.pt")


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("name", ["lann", "lacnn"])
def test_refuses_distances_beyond_the_halo(small, name):
    # 300 m is a ring of 30 pixels, beyond the model's halo of 8: training would have read
    # padding where prediction reads terrain (seams); fit refuses it, so does predict
    region = small.landslide.with_offsets((300.0,), halo=32)
    model = make_model(name, region, distances=(300.0,))
    with pytest.raises(HaloError, match="halo of 8"):
        predict(region, model)
    with pytest.raises(HaloError):
        region.landslide.predict(model)
    with pytest.raises(HaloError):  # the façade adding offsets refuses too
        small.drop_vars(["uphill_dy", "uphill_dx", "distance"]).landslide.predict(model)


@pytest.mark.parametrize("name", ["lann", "lacnn"])
def test_refuses_a_region_lacking_the_offsets_and_the_facade_adds_them(small, name):
    bare = small.drop_vars(["uphill_dy", "uphill_dx", "distance"])
    model = make_model(name, small)
    with pytest.raises(CheckpointMismatchError, match=r"with_offsets\(\[30.0, 60.0\]\)"):
        predict(bare, model)
    other = bare.landslide.with_offsets((30.0,), halo=GEOM.halo)
    with pytest.raises(CheckpointMismatchError, match=r"lacks uphill offsets for distances \[60"):
        predict(other, model)
    lazy = bare.chunk({"y": 20, "x": 20})
    with raise_if_dask_computes():
        prob = lazy.landslide.predict(model)
    np.testing.assert_array_equal(prob.values, predict(small, model).values)


def test_refuses_a_region_of_another_layout(small):
    model = make_model("llr", small)
    other = small.assign_coords(layer=["a", "zz"])
    other.attrs["normalisation"] = {"a": {"mean": 0, "std": 1}, "zz": {"mean": 0, "std": 1}}
    with pytest.raises(CheckpointMismatchError, match="continuous layers"):
        predict(other, model)
    with pytest.raises(CheckpointMismatchError, match="pixel size"):
        predict(small.assign_coords(x=small.x * 2, y=small.y * 2), model)


# ------------------------------------------------------------------ the model in the graph


@pytest.mark.parametrize("name", ["llr", "lacnn"])
def test_the_model_is_one_key_of_the_graph_not_a_copy_per_task(small, name):
    import cloudpickle
    from dask.base import tokenize

    model = make_model(name, small)
    prob = predict(small.chunk(16), model, block_size=16)
    graph = dict(prob.__dask_graph__())
    model_keys = [k for k in graph if str(k).startswith(f"('xlandslide-model-{name}")]
    model_keys += [k for k in graph if str(k).startswith(f"xlandslide-model-{name}")]
    assert len(model_keys) == 1
    weights = len(cloudpickle.dumps(model))
    tasks = [v for k, v in graph.items() if "xlandslide-predict" in str(k)]
    assert len(tasks) == len(prob.chunks[0]) * len(prob.chunks[1])
    # every block task refers to the model key; none carries the weights
    assert max(len(cloudpickle.dumps(v)) for v in tasks) < weights / 2
    # the key is named by the weights: stable, and new when they change
    assert tokenize(model) == tokenize(model)
    before = tokenize(model)
    with torch.no_grad():
        next(model.module.parameters()).add_(1.0)
    assert tokenize(model) != before


# ------------------------------------------------------------------ regions without dask


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The ``small`` region written to a store, opened lazily indexed (no dask)."""
    region = custom_region((45, 53), seed=4).landslide.with_offsets(DISTANCES, halo=GEOM.halo)
    path = tmp_path_factory.mktemp("stored") / "region.zarr"
    xl.write_region(region, path)
    return xl.open_region(path, chunks=None), xl.open_region(path)


@pytest.mark.parametrize("name", ["llr", "lann", "lacnn"])
def test_a_region_without_dask_is_read_inside_the_block_tasks(stored, name):
    lazy, chunked = stored
    model = make_model(name, lazy)
    prob = predict(lazy, model, block_size=32)
    graph = dict(prob.__dask_graph__())
    # no input array in the graph: each block task reads its own window (halo included)
    prefixes = {str(k[0] if isinstance(k, tuple) else k).rsplit("-", 1)[0] for k in graph}
    assert all(p.startswith("xlandslide-") for p in prefixes), prefixes
    tasks = [k for k in graph if str(k).startswith("('xlandslide-predict")]
    assert len(tasks) == len(prob.chunks[0]) * len(prob.chunks[1]) == 4
    # the same map as through dask's overlap, for any block size
    want = predict(chunked, model, block_size=32).values
    np.testing.assert_array_equal(prob.values, want)
    other = predict(lazy, model, block_size=48 if name != "lacnn" else 16).values
    if name in PIXELWISE:
        np.testing.assert_array_max_ulp(other, want, maxulp=MAX_ULP)
    else:
        np.testing.assert_allclose(other, want, rtol=0, atol=1e-5)


def test_a_region_without_dask_is_never_loaded_whole(stored, monkeypatch):
    import xlandslide.region as region_module

    lazy, _ = stored
    model = make_model("llr", lazy)
    reads = []
    real = region_module.read_padded

    def counting(var, y0, y1, x0, x1, fill):
        reads.append((y1 - y0) * (x1 - x0))
        return real(var, y0, y1, x0, x1, fill)

    monkeypatch.setattr(importlib.import_module("xlandslide.windows"), "read_padded", counting)
    prob = predict(lazy, model, block_size=16)
    prob.compute(scheduler="sync")
    # one window per block and variable (continuous, categorical, dem), none whole
    assert len(reads) == 3 * len(prob.chunks[0]) * len(prob.chunks[1]) == 36
    assert max(reads) == 16 * 16
