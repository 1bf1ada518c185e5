"""The ``landslide`` accessor: every method forwards to its public function; the one-hot view;
the façades ``fit`` (offsets + LLR selection + fit) and ``predict`` (offsets added lazily)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xlandslide as xl
from tests.helpers import custom_region, raise_if_dask_computes, tiny_region
from xlandslide.errors import HaloError, RegionError

torch = pytest.importorskip("torch")

GEOM = xl.PatchGeometry(core=48, halo=16)
DISTANCES = (30.0, 100.0)


@pytest.fixture(scope="module")
def region():
    return tiny_region((96, 112), seed=0, chunks=48)


def quick(name, **changes):
    return xl.TrainConfig.paper(name, epochs=1, batch_size=4, seed=0, **changes)


# ------------------------------------------------------------------ forwarding methods


def test_validate_and_layout(region):
    assert region.landslide.validate() is region
    assert region.landslide.validate(check_values=True) is region
    assert region.landslide.layout() == xl.feature_layout(region) == xl.INSPIRE
    with pytest.raises(RegionError, match="label"):
        region.drop_vars("label").landslide.validate()


def test_features_is_the_one_hot_view():
    ds = custom_region((20, 24), seed=1, groups={"soil": 3, "cover": 2}, chunks=8)
    with raise_if_dask_computes():
        feats = ds.landslide.features()
    assert feats.dims == ("feature", "y", "x") and feats.dtype == np.float32
    layout = ds.landslide.layout()
    assert tuple(feats.feature.values) == layout.names
    assert layout.names == ("a", "b", "soil_c0", "soil_c1", "soil_c2", "cover_c0", "cover_c1")
    # oracle: one channel per class, 1 where the code is that class, NaN where no class
    cont, codes = ds["continuous"].values, ds["categorical"].values
    want = [cont[0], cont[1]]
    for g, n in enumerate((3, 2)):
        for k in range(n):
            want.append(np.where(codes[g] == 255, np.nan, (codes[g] == k).astype(np.float32)))
    np.testing.assert_array_equal(feats.values, np.stack(want))
    np.testing.assert_array_equal(feats.values, xl.onehot_features(ds).values)
    sub = ds.landslide.features(["cover_c1", "a"])
    assert list(sub.feature.values) == ["cover_c1", "a"]
    np.testing.assert_array_equal(sub.values, np.stack([want[6], want[0]]))


def test_paper_layout_has_the_94_features(region):
    feats = region.landslide.features()
    assert feats.sizes["feature"] == 94 and tuple(feats.feature.values) == xl.INSPIRE.names
    assert tuple(feats.feature.values[:2]) == ("slope", "dem")


def test_slope_and_offsets_forward(region):
    xr.testing.assert_identical(region.landslide.slope(), xl.slope(region["dem"]))
    offs = region.landslide.uphill_offsets(DISTANCES, halo=16)
    xr.testing.assert_identical(offs, xl.uphill_offsets(region["dem"], DISTANCES, halo=16))
    assert region.landslide.offset_distances() == ()
    with raise_if_dask_computes():
        ds = region.landslide.with_offsets(DISTANCES, halo=16)
    assert ds.landslide.offset_distances() == DISTANCES == xl.offset_distances(ds)
    np.testing.assert_array_equal(ds["uphill_dy"].values, offs["dy"].values)
    np.testing.assert_array_equal(ds["uphill_dx"].values, offs["dx"].values)
    # other distances replace the ones held
    again = ds.landslide.with_offsets((30.0,), halo=16)
    assert again.landslide.offset_distances() == (30.0,)
    np.testing.assert_array_equal(again["uphill_dy"].values[0], offs["dy"].values[0])
    with pytest.raises(HaloError, match="halo of 8"):
        region.landslide.with_offsets((300.0,), halo=8)


def test_aligned_features_forward(region):
    ds = region.landslide.with_offsets(DISTANCES, halo=16)
    got = ds.landslide.aligned_features(["slope", "dem"])
    offs = xr.Dataset({"dy": ds["uphill_dy"], "dx": ds["uphill_dx"]})
    want = xl.aligned_features(ds.landslide.features(), offs, ["slope", "dem"])
    assert list(got.feature.values) == ["slope@30m", "dem@30m", "slope@100m", "dem@100m"]
    np.testing.assert_array_equal(got.values, want.values)
    with pytest.raises(RegionError, match="with_offsets"):
        region.landslide.aligned_features(["slope"])


def test_patches_forward(region):
    got = region.landslide.patches(GEOM, seed=3, fractions=(0.5, 0.25, 0.25), oversample=2)
    assert got == xl.make_patches(region, GEOM, seed=3, fractions=(0.5, 0.25, 0.25), oversample=2)
    # the default: the paper's 500 + 2 x 64 unless the region is too small for it
    from xlandslide.grid import geometry_for

    want, why = geometry_for((region.sizes["y"], region.sizes["x"]))
    assert why is not None
    with pytest.warns(xl.GeometryWarning, match="core"):
        assert region.landslide.patches().geometry == want


def test_evaluate_and_to_store_forward(region, tmp_path):
    prob = xr.full_like(region["dem"], 0.1).where(region["dem"].notnull())
    mask = region["label"] >= 0
    assert region.landslide.evaluate(prob, mask) == xl.evaluate(prob, region["label"], mask)
    path = region.landslide.to_store(tmp_path / "r.zarr")
    back = xl.open_region(path)
    xr.testing.assert_equal(back["continuous"], region["continuous"])
    np.testing.assert_array_equal(back["categorical"].values, region["categorical"].values)
    with pytest.raises(xl.StoreExistsError):
        region.landslide.to_store(tmp_path / "r.zarr")


# ------------------------------------------------------------------ the façades


@pytest.fixture(scope="module")
def chain(region):
    """The explicit chain: offsets, patches, an LLR, its aligned features, the LACNN started
    from that LLR (its linear path, the default)."""
    ds = region.landslide.with_offsets(DISTANCES, halo=GEOM.halo)
    patches = xl.make_patches(ds, GEOM, seed=0)
    selection = xl.select_aligned_features(
        ds, patches, config=quick("llr", lr=0.05), max_features=5, progress=False
    )
    model = xl.fit(
        ds,
        "lacnn",
        patches=patches,
        aligned=selection.names,
        distances=DISTANCES,
        config=quick("lacnn"),
        model_config={"base_width": 4},
        warm_start=selection.llr,
        progress=False,
    )
    return ds, patches, selection, model


def test_select_aligned_features_forwards(chain):
    ds, patches, selection, _ = chain
    again = ds.landslide.select_aligned_features(patches, llr=selection.llr, max_features=5)
    assert again.names == selection.names and again.llr is selection.llr
    assert 1 <= len(selection.names) <= 5


def test_fit_facade_chains_offsets_and_the_llr_selection(region, chain):
    _, patches, selection, explicit = chain
    assert "uphill_dy" not in region  # the façade adds the offsets itself
    model = region.landslide.fit(
        "lacnn",
        patches=patches,
        distances=DISTANCES,
        llr_config=quick("llr", lr=0.05),
        max_aligned=5,
        config=quick("lacnn"),
        model_config={"base_width": 4},
        progress=False,
    )
    assert model.spec.aligned == selection.names
    assert model.spec.distances == DISTANCES and model.spec.geometry == GEOM
    # seeded, on the CPU: the same weights as the explicit chain
    for (k, a), b in zip(model.module.state_dict().items(), explicit.module.state_dict().values()):
        assert torch.equal(a, b), k


def test_fit_facade_for_a_plain_model(region, chain):
    _, patches, _, _ = chain
    model = region.landslide.fit("llr", patches=patches, config=quick("llr"), progress=False)
    want = xl.fit(region, "llr", patches=patches, config=quick("llr"), progress=False)
    assert model.spec.aligned == () and model.spec.distances == ()
    assert torch.equal(model.module.body.weight, want.module.body.weight)


def test_predict_facade_adds_the_offsets_lazily(region, chain):
    ds, _, _, model = chain
    with raise_if_dask_computes():
        lazy = region.landslide.predict(model)  # the region holds no offsets
    want = xl.predict(ds, model).values
    np.testing.assert_array_equal(lazy.values, want)
    with pytest.raises(xl.CheckpointMismatchError, match="with_offsets"):
        xl.predict(region, model)  # the function itself refuses
    np.testing.assert_array_equal(ds.landslide.predict(model).values, want)
