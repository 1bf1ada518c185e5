"""The region data model: building, layout, normalisation, offsets lookup, the one-hot view."""

from __future__ import annotations

import hashlib
import json

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import custom_region, raise_if_dask_computes
from tests.strategies import layouts, random_region, regions, yx_chunks
from xlandslide.catalog import INSPIRE, NODATA_CODE, FeatureLayout
from xlandslide.errors import LegacyStoreError, RegionError
from xlandslide.region import (
    REGION_LAYOUT,
    expand_codes,
    feature_layout,
    get_normalisation,
    offset_distances,
    onehot_features,
    positive_ratio,
    region_dataset,
    select_offsets,
    stacked_offsets,
)
from xlandslide.synthetic import synthetic_region
from xlandslide.validate import validate_region

LAYOUT = FeatureLayout(("a", "b"), {"soil": ("clay", "sand", "silt"), "cover": ("x", "y")})


def onehot_oracle(ds, layout):
    """The one-hot view the obvious way: layer by layer, class by class (NaN at code 255)."""
    planes = [ds["continuous"].values[i] for i in range(len(layout.continuous))]
    for g, (_, classes) in enumerate(layout.groups):
        codes = ds["categorical"].values[g]
        for k in range(len(classes)):
            planes.append(np.where(codes == 255, np.nan, np.where(codes == k, 1.0, 0.0)))
    return np.stack(planes).astype(np.float32)


def with_offsets(ds, distances=(30.0, 100.0, 300.0), seed=0):
    rng = np.random.default_rng(seed)
    shape = (len(distances), ds.sizes["y"], ds.sizes["x"])
    dy = rng.integers(-30, 31, shape).astype(np.int8)
    dx = rng.integers(-30, 31, shape).astype(np.int8)
    return ds.assign(
        uphill_dy=(("distance", "y", "x"), dy), uphill_dx=(("distance", "y", "x"), dx)
    ).assign_coords(distance=("distance", np.asarray(distances, dtype=float)))


# ---------------------------------------------------------------------------- region_dataset
def test_region_dataset_builds_the_data_model():
    region = custom_region((6, 7), continuous=("a", "b"), groups={"soil": 3, "cover": 2})
    assert set(region.data_vars) == {"dem", "label", "continuous", "categorical"}
    assert region.continuous.dims == ("layer", "y", "x") and region.continuous.dtype == np.float32
    assert region.categorical.dims == ("group", "y", "x") and region.categorical.dtype == np.uint8
    assert region.dem.attrs["units"] == "m" and region.label.attrs["flag_values"] == [-1, 0, 1]
    assert region.layer.values.tolist() == ["a", "b"]
    assert region.group.values.tolist() == ["soil", "cover"]
    assert region.categorical.attrs["classes"] == {
        "soil": ["c0", "c1", "c2"],
        "cover": ["c0", "c1"],
    }
    assert region.categorical.attrs["nodata"] == NODATA_CODE
    assert region.attrs["xlandslide_region"] == REGION_LAYOUT == 2
    assert region.attrs["normalisation"] == {
        "a": {"mean": 0.0, "std": 1.0},
        "b": {"mean": 0.0, "std": 1.0},
    }
    assert validate_region(region, check_values=True) is region


def test_region_dataset_is_lazy_and_coerces_normalisation():
    rng = np.random.default_rng(0)
    shape = (8, 9)
    cont = da.from_array(rng.standard_normal((2, *shape)).astype(np.float32), chunks=(1, 4, 4))
    codes = da.from_array(rng.integers(0, 2, (2, *shape)).astype(np.uint8), chunks=4)
    with raise_if_dask_computes():
        ds = region_dataset(
            dem=da.zeros(shape, dtype=np.float32, chunks=4),
            label=da.zeros(shape, dtype=np.int8, chunks=4),
            layout=FeatureLayout(("a", "b"), {"g": ("p", "q"), "h": ("r", "s")}),
            continuous=cont,
            categorical=codes,
            coords={"y": np.arange(9.0, 1, -1), "x": np.arange(9.0)},
            normalisation={"a": {"mean": np.float32(1.5), "std": 2}, "b": {"mean": 0, "std": 1}},
            attrs={"title": "t"},
        )
    assert ds.continuous.chunks is not None and ds.attrs["title"] == "t"
    a = ds.attrs["normalisation"]["a"]
    assert a == {"mean": 1.5, "std": 2.0} and type(a["mean"]) is float
    assert (
        "normalisation"
        not in region_dataset(
            dem=np.zeros(shape, np.float32),
            label=np.zeros(shape, np.int8),
            layout=FeatureLayout((), {"g": ("p",)}),
            categorical=np.zeros((1, *shape), np.uint8),
            coords={"y": np.arange(8.0), "x": np.arange(9.0)},
        ).attrs
    )


def test_region_dataset_layouts_without_layers_or_groups():
    cont_only = random_region(FeatureLayout(("slope", "dem")), (5, 6))
    assert "categorical" not in cont_only and "group" not in cont_only.coords
    assert feature_layout(cont_only) == FeatureLayout(("slope", "dem"))
    codes_only = random_region(FeatureLayout((), {"g": ("p", "q")}), (5, 6))
    assert "continuous" not in codes_only and "layer" not in codes_only.coords
    assert feature_layout(codes_only).names == ("g_p", "g_q")
    validate_region(cont_only)
    validate_region(codes_only)


def test_region_dataset_errors():
    kw = {
        "dem": np.zeros((3, 3), np.float32),
        "label": np.zeros((3, 3), np.int8),
        "coords": {"y": [3.0, 2.0, 1.0], "x": [1.0, 2.0, 3.0]},
    }
    with pytest.raises(RegionError, match=r"continuous layers \('a', 'b'\) but none came"):
        region_dataset(layout=LAYOUT, categorical=np.zeros((2, 3, 3), np.uint8), **kw)
    with pytest.raises(RegionError, match=r"groups .*'soil', 'cover'.* but no codes came"):
        region_dataset(layout=LAYOUT, continuous=np.zeros((2, 3, 3), np.float32), **kw)


# ---------------------------------------------------------------------------- feature_layout
def test_feature_layout_of_regions():
    assert feature_layout(synthetic_region((8, 8))) == INSPIRE
    region = random_region(LAYOUT, (4, 5))
    assert feature_layout(region) == LAYOUT
    # class names stored as JSON (foreign stores) are read too
    as_json = region.copy()
    as_json["categorical"].attrs["classes"] = json.dumps(dict(LAYOUT.groups))
    assert feature_layout(as_json) == LAYOUT


def test_feature_layout_refuses_a_legacy_one_hot_region():
    legacy = xr.Dataset({"features": (("feature", "y", "x"), np.zeros((3, 2, 2), np.float32))})
    with pytest.raises(LegacyStoreError, match=r"one-hot 'features'.*Rebuild it"):
        feature_layout(legacy)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: _set_classes(d, None), r"needs attrs\['classes'\]"),
        (lambda d: _set_classes(d, {"soil": ["clay", "sand", "silt"]}), r"groups \['cover'\]"),
        (lambda d: d.drop_vars("layer"), "no 'layer' coordinate.*assign_coords"),
        (lambda d: d.drop_vars("group"), "no 'group' coordinate"),
        (lambda d: d.assign_coords(layer=[1, 2]), "must hold strings"),
        (lambda d: d.assign_coords(group=["soil", "soil"]), r"unique; repeated: \['soil'\]"),
    ],
)
def test_feature_layout_errors(change, match):
    with pytest.raises(RegionError, match=match):
        feature_layout(change(random_region(LAYOUT, (3, 4))))


def _set_classes(ds, classes):
    ds = ds.copy()
    ds["categorical"] = ds["categorical"].copy()
    if classes is None:
        del ds["categorical"].attrs["classes"]
    else:
        ds["categorical"].attrs["classes"] = classes
    return ds


# ------------------------------------------------------------------------- get_normalisation
def test_get_normalisation_dict_json_and_absent():
    region = random_region(LAYOUT, (3, 4))
    norm = {"a": {"mean": 0.0, "std": 1.0}, "b": {"mean": 0.0, "std": 1.0}}
    assert get_normalisation(region) == norm
    assert get_normalisation(region.assign_attrs(normalisation=json.dumps(norm))) == norm
    assert get_normalisation(region.assign_attrs(normalisation=json.dumps(norm).encode())) == norm
    ints = region.assign_attrs(normalisation={"a": {"mean": 3, "std": np.float64(2)}})
    assert get_normalisation(ints) == {"a": {"mean": 3.0, "std": 2.0}}
    assert get_normalisation(xr.Dataset()) == {}


@pytest.mark.parametrize(
    "raw, match",
    [
        ("{nope", "not valid JSON"),
        ({"slope": 3.0}, r"must map layer names to \{'mean'"),
        ({"slope": {"mean": 1.0}}, "'std'"),
        ({"slope": {"mean": "x", "std": 1}}, "mean"),
        ([1, 2], "must map"),
    ],
)
def test_get_normalisation_errors(raw, match):
    with pytest.raises(RegionError, match=match):
        get_normalisation(xr.Dataset(attrs={"normalisation": raw}))


# -------------------------------------------------------------------- offsets (the one rule)
def test_offset_distances_the_one_rule():
    region = random_region(LAYOUT, (4, 5))
    assert offset_distances(region) == ()
    full = with_offsets(region)
    assert offset_distances(full) == (30.0, 100.0, 300.0)
    assert all(type(d) is float for d in offset_distances(full))
    # half a pair, or no distance coordinate: no offsets held
    assert offset_distances(full.drop_vars("uphill_dx")) == ()
    assert offset_distances(full.drop_vars("distance")) == ()


def test_select_offsets_order_subset_and_tolerance():
    full = with_offsets(random_region(LAYOUT, (4, 5)))
    sub = select_offsets(full, [300, 30])
    assert sub.distance.values.tolist() == [300.0, 30.0]
    np.testing.assert_array_equal(sub.uphill_dy.values[0], full.uphill_dy.values[2])
    np.testing.assert_array_equal(sub.uphill_dx.values[1], full.uphill_dx.values[0])
    near = select_offsets(full, [100.0 * (1 + 1e-12)])  # float noise from a round trip
    assert near.distance.values.tolist() == [100.0]
    assert select_offsets(full, []).sizes["distance"] == 0


def test_select_offsets_error_names_the_missing_and_the_fix():
    full = with_offsets(random_region(LAYOUT, (4, 5)))
    with pytest.raises(RegionError) as info:
        select_offsets(full, [30, 50, 1000])
    msg = str(info.value)
    assert "lacks uphill offsets for distances [50.0, 1000.0] m" in msg
    assert "it holds [30.0, 100.0, 300.0] m" in msg
    assert "region.landslide.with_offsets([30.0, 50.0, 1000.0])" in msg
    with pytest.raises(RegionError, match=r"it holds none.*with_offsets"):
        select_offsets(random_region(LAYOUT, (4, 5)), [30])


def test_stacked_offsets_numpy_and_lazy_dask():
    full = with_offsets(random_region(LAYOUT, (6, 7)))
    got = stacked_offsets(full, [100, 30])
    assert isinstance(got, np.ndarray) and got.shape == (2, 2, 6, 7) and got.dtype == np.int8
    np.testing.assert_array_equal(got[0, 0], full.uphill_dy.values[1])
    np.testing.assert_array_equal(got[0, 1], full.uphill_dx.values[1])
    np.testing.assert_array_equal(got[1, 0], full.uphill_dy.values[0])
    np.testing.assert_array_equal(got[1, 1], full.uphill_dx.values[0])
    with raise_if_dask_computes():
        lazy = stacked_offsets(full.chunk({"y": 4, "x": 3}), [100, 30])
    assert isinstance(lazy, da.Array) and lazy.dtype == np.int8
    assert lazy.chunks[2:] == ((4, 2), (3, 3, 1))
    np.testing.assert_array_equal(lazy.compute(), got)
    with pytest.raises(RegionError, match="with_offsets"):
        stacked_offsets(full, [200])


# ---------------------------------------------------------------------------- positive_ratio
def _ratio_oracle(label, mask=None):
    known = label >= 0 if mask is None else (label >= 0) & mask
    return np.count_nonzero(label[known] == 1) / np.count_nonzero(known)


def test_positive_ratio_against_numpy_counts():
    region = random_region(LAYOUT, (30, 40), seed=4)
    label = region.label.values
    mask = np.random.default_rng(1).random(label.shape) < 0.5
    assert positive_ratio(region.label) == pytest.approx(_ratio_oracle(label), rel=1e-15)
    assert positive_ratio(label) == positive_ratio(region.label)  # a bare numpy array
    got = positive_ratio(region.label, mask)
    assert got == pytest.approx(_ratio_oracle(label, mask), rel=1e-15)
    assert got != positive_ratio(region.label)
    lazy_label = region.label.chunk({"y": 7, "x": 11})
    lazy_mask = xr.DataArray(mask, dims=("y", "x")).chunk(9)
    with raise_if_dask_computes(max_computes=1):  # the two counts, in one pass
        assert positive_ratio(lazy_label, lazy_mask) == got
    assert 0.0 < got < 1.0


def test_positive_ratio_without_known_pixels_is_nan():
    assert np.isnan(positive_ratio(np.full((3, 4), -1, dtype=np.int8)))
    label = np.zeros((3, 4), dtype=np.int8)
    assert np.isnan(positive_ratio(label, np.zeros((3, 4), dtype=bool)))
    assert positive_ratio(label) == 0.0


# ------------------------------------------------------------------------------ expand_codes
def test_expand_codes_hand_example():
    cont = np.array([[[0.5, np.nan, -1.0]]], dtype=np.float32)  # (1, 1, 3)
    codes = np.array([[[0, 1, 255]], [[1, 255, 0]]], dtype=np.uint8)  # (2, 1, 3)
    out = expand_codes(cont, codes, (2, 2))
    nan = np.nan
    expected = np.array(
        [
            [[0.5, nan, -1.0]],
            [[1.0, 0.0, nan]],  # group 0 class 0
            [[0.0, 1.0, nan]],  # group 0 class 1
            [[0.0, nan, 1.0]],  # group 1 class 0
            [[1.0, nan, 0.0]],  # group 1 class 1
        ],
        dtype=np.float32,
    )
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(expand_codes(None, codes, (2, 2)), expected[1:])
    np.testing.assert_array_equal(expand_codes(cont, None, ()), expected[:1])


# --------------------------------------------------------------------------- onehot_features
def test_onehot_features_values_names_coords():
    region = random_region(LAYOUT, (9, 11), seed=2)
    view = onehot_features(region)
    assert view.dims == ("feature", "y", "x") and view.dtype == np.float32
    assert view.name == "features" and "long_name" in view.attrs
    assert view.feature.values.tolist() == list(LAYOUT.names)
    assert isinstance(view.data, da.Array) and view.data.chunks == ((7,), (9,), (11,))
    xr.testing.assert_identical(view.y, region.y)
    assert view.rio.crs == region.rio.crs
    values = view.values
    np.testing.assert_array_equal(values, onehot_oracle(region, LAYOUT))
    codes = region.categorical.values
    assert np.isnan(values[2:5][:, codes[0] == 255]).all()
    assert np.isnan(values[5:7][:, codes[1] == 255]).all()
    assert (np.nansum(values[2:5], axis=0)[codes[0] != 255] == 1).all()
    # a subset, in the order asked
    sub = onehot_features(region, ["cover_y", "a", "soil_clay"])
    assert sub.feature.values.tolist() == ["cover_y", "a", "soil_clay"]
    np.testing.assert_array_equal(sub.values, values[[6, 0, 2]])
    with pytest.raises(KeyError):
        onehot_features(region, ["soil_loam"])


def test_onehot_features_is_lazy_and_keeps_the_regions_chunks():
    region = random_region(LAYOUT, (20, 30), seed=3).chunk({"y": 8, "x": 13})
    with raise_if_dask_computes():
        view = onehot_features(region)
        sub = onehot_features(region, ["b", "cover_x"])
    assert view.chunks == ((7,), (8, 8, 4), (13, 13, 4)) and sub.chunks[1:] == view.chunks[1:]
    # a numpy region gets 1024 x 1024 chunks (lazy too)
    big = random_region(FeatureLayout((), {"g": ("p",)}), (1030, 5))
    with raise_if_dask_computes():
        assert onehot_features(big).chunks == ((1,), (1024, 6), (5,))


def test_onehot_features_names_are_deterministic_and_distinct():
    a = random_region(LAYOUT, (6, 7), seed=1).chunk(4)
    b = random_region(LAYOUT, (6, 7), seed=2).chunk(4)
    assert onehot_features(a).data.name == onehot_features(a).data.name
    assert onehot_features(a).data.name != onehot_features(b).data.name
    va, vb = dask.compute(onehot_features(a), onehot_features(b))
    np.testing.assert_array_equal(va.values, onehot_oracle(a, LAYOUT))
    np.testing.assert_array_equal(vb.values, onehot_oracle(b, LAYOUT))


@settings(max_examples=30, deadline=None)
@given(data=st.data(), region=regions())
def test_onehot_features_any_layout_any_chunking(data, region):
    layout = feature_layout(region)
    expected = onehot_oracle(region, layout)
    cy, cx = data.draw(yx_chunks((region.sizes["y"], region.sizes["x"])))
    lazy = region.chunk({"y": cy, "x": cx})
    with raise_if_dask_computes():
        view = onehot_features(lazy)
    assert view.chunks[1:] == (cy, cx)
    assert view.feature.values.tolist() == list(layout.names)
    np.testing.assert_array_equal(view.compute(scheduler="sync").values, expected)


@settings(max_examples=10, deadline=None)
@given(lay=layouts(max_continuous=0), seed=st.integers(0, 100))
def test_onehot_features_categorical_only(lay, seed):
    region = random_region(lay, (5, 6), seed=seed)
    codes = region.categorical.values
    view = onehot_features(region).values
    o = 0
    for g, n in enumerate(lay.n_classes):
        for k in range(n):
            np.testing.assert_array_equal(
                view[o + k], np.where(codes[g] == 255, np.nan, (codes[g] == k) * 1.0)
            )
        o += n


# ------------------------------------------------------------- the synthetic INSPIRE region
@pytest.fixture(scope="module")
def inspire():
    return synthetic_region((40, 50), seed=3, chunks=16)


def test_inspire_view_is_the_expanded_codes_one_class_per_group(inspire):
    with raise_if_dask_computes():
        view = inspire.landslide.features()
    assert view.shape == (94, 40, 50) and view.feature.values.tolist() == list(INSPIRE.names)
    values = view.values
    codes = inspire.categorical.values
    np.testing.assert_array_equal(
        values, expand_codes(inspire.continuous.values, codes, INSPIRE.n_classes)
    )
    np.testing.assert_array_equal(values, onehot_oracle(inspire, INSPIRE))
    valid = inspire.label.values >= 0
    assert valid.any() and (~valid).any()
    o = 2
    for n in INSPIRE.n_classes:
        block = values[o : o + n]
        assert set(np.unique(block[:, valid])) == {0.0, 1.0}
        np.testing.assert_array_equal(block[:, valid].sum(axis=0), 1.0)
        assert np.isnan(block[:, ~valid]).all()
        o += n
    assert np.isnan(values[:2, ~valid]).all() and np.isfinite(values[:2, valid]).all()


def test_inspire_view_equals_the_old_one_hot_features(inspire):
    """Bit-for-bit the ``features`` of xlandslide 0.1 (commit 11bfc4f), in today's order.

    The reference was computed with the old package: ``synthetic_region((40, 50), seed=3,
    chunks=16).features.sel(feature=INSPIRE.names)``, NaN replaced by -9999, as little-endian
    float32 bytes -> sha256; the hard values are read from the same array.
    """
    view = inspire.landslide.features().values
    canonical = np.where(np.isnan(view), np.float32(-9999), view).astype("<f4")
    assert hashlib.sha256(canonical.tobytes()).hexdigest() == (
        "5fe09afaebd49e7bd7811e350b14dd5d0f382e3f6a4408b54050a80768e67459"
    )
    assert np.isnan(view).sum() == 8460 and (inspire.label.values >= 0).sum() == 1910
    names = INSPIRE.names
    hard = {
        (0, 0): (0.639232337474823, -0.45113322138786316, "gravel", "middle_pleistocene"),
        (20, 25): (0.24916823208332062, -0.5772907733917236, "marlstone", None),
        (39, 10): (-0.3639073371887207, -0.6544166207313538, "alluvium", "holocene"),
    }
    for (i, j), (slope_z, dem_z, lithology, age) in hard.items():
        assert view[0, i, j] == np.float32(slope_z) and view[1, i, j] == np.float32(dem_z)
        on = [names[k] for k in np.flatnonzero(view[:, i, j] == 1)]
        assert f"lithology_{lithology}" in on and len(on) == 4
        assert "land_cover_forest_and_semi_natural_areas" in on
        assert "rock_family_sedimentary" in on
        if age is not None:
            assert f"rock_age_{age}" in on
    assert np.isnan(view[:, 0, 48]).all()  # the sea along the east edge
