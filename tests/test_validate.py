"""validate_region (the data model, metadata and values) and check_fits (a model on a region)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from tests.helpers import raise_if_dask_computes
from tests.strategies import random_region
from xlandslide.catalog import FeatureLayout
from xlandslide.errors import (
    CheckpointMismatchError,
    GridError,
    HaloError,
    LegacyStoreError,
    RegionError,
)
from xlandslide.grid import PatchGeometry
from xlandslide.validate import check_fits, validate_region

LAYOUT = FeatureLayout(("a", "b"), {"soil": ("clay", "sand", "silt"), "cover": ("x", "y")})
DISTANCES = (30.0, 100.0)


@pytest.fixture
def region():
    return random_region(LAYOUT, (12, 14), seed=0)


def _offsets(ds, distances=DISTANCES):
    shape = (len(distances), ds.sizes["y"], ds.sizes["x"])
    zeros = np.zeros(shape, dtype=np.int8)
    return ds.assign(
        uphill_dy=(("distance", "y", "x"), zeros), uphill_dx=(("distance", "y", "x"), zeros)
    ).assign_coords(distance=("distance", list(distances)))


def _attrs(var, **changes):
    var = var.copy()
    var.attrs = {**var.attrs, **changes}
    return var


def _legacy(ny=4, nx=5):
    """A region of the one-hot layout of xlandslide 0.1 (commit 11bfc4f)."""
    import rioxarray  # noqa: F401

    names = ["slope", "lithology_gneiss", "dem"]
    return xr.Dataset(
        {
            "features": (("feature", "y", "x"), np.zeros((3, ny, nx), np.float32)),
            "dem": (("y", "x"), np.zeros((ny, nx), np.float32)),
            "label": (("y", "x"), np.zeros((ny, nx), np.int8)),
        },
        coords={
            "feature": np.array(names, dtype=object),
            "y": 100.0 - 10 * np.arange(ny),
            "x": 10.0 * np.arange(nx),
        },
        attrs={"normalisation": {"slope": {"mean": 0, "std": 1}, "dem": {"mean": 0, "std": 1}}},
    ).rio.write_crs("EPSG:32632")


# ---------------------------------------------------------------------------- validate_region
def test_valid_regions_pass_without_computing(region):
    assert validate_region(region) is region
    assert validate_region(_offsets(region)) is not None
    lazy = _offsets(region).chunk(5)
    with raise_if_dask_computes():
        assert validate_region(lazy) is lazy
    assert validate_region(
        region.assign_attrs(
            normalisation='{"a": {"mean": 0, "std": 1}, "b": {"mean": 1, "std": 2}}'
        )
    )


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda d: d.continuous, RegionError, "is an xarray.Dataset"),
        (lambda d: d.drop_vars("label"), RegionError, "no 'label' variable.*synthetic_region"),
        (lambda d: d.drop_vars("dem"), RegionError, "no 'dem' variable"),
        (
            lambda d: d.drop_vars(["continuous", "categorical"]),
            RegionError,
            "no input layers",
        ),
        (lambda d: d.assign(dem=d.dem.astype("float64")), RegionError, r"astype\('float32'\)"),
        (lambda d: d.assign(label=d.label.astype("int16")), RegionError, r"astype\('int8'\)"),
        (
            lambda d: d.assign(continuous=d.continuous.astype("float64")),
            RegionError,
            "'continuous' has dtype float64, expected float32",
        ),
        (
            lambda d: d.assign(categorical=d.categorical.astype("int16")),
            RegionError,
            r"'categorical' has dtype int16, expected uint8.*astype\('uint8'\)",
        ),
        (
            lambda d: d.assign(continuous=d.continuous.transpose("y", "x", "layer")),
            RegionError,
            r"transpose\('layer', 'y', 'x'\)",
        ),
        (
            lambda d: d.assign(categorical=_attrs(d.categorical, nodata=0)),
            RegionError,
            "no-data code 0; the data model reserves 255",
        ),
        (
            lambda d: d.assign(categorical=_attrs(d.categorical, classes={"soil": ["a"]})),
            RegionError,
            r"lacks the class names of groups \['cover'\]",
        ),
        (lambda d: d.assign_coords(layer=["a", "a"]), RegionError, "unique"),
        (lambda d: d.drop_vars("spatial_ref"), GridError, "write_crs"),
        (lambda d: d.isel(y=slice(None, None, -1)), GridError, "'y' must be descending"),
        (lambda d: d.isel(x=slice(None, None, -1)), GridError, "'x' must be ascending"),
        (lambda d: d.assign_coords(x=d.x * 2), GridError, "not square"),
        (lambda d: d.drop_vars("x"), GridError, "no 'x' coordinate"),
        (lambda d: d.assign_attrs(normalisation={}), RegionError, r"\['a'\] = \{'mean'"),
        (
            lambda d: d.assign_attrs(
                normalisation={"a": {"mean": 0, "std": 0}, "b": {"mean": 0, "std": 1}}
            ),
            RegionError,
            "std': float > 0",
        ),
        (
            lambda d: d.assign_attrs(
                normalisation={"a": {"mean": np.nan, "std": 1}, "b": {"mean": 0, "std": 1}}
            ),
            RegionError,
            "normalisation'\\]\\['a'\\]",
        ),
        (lambda d: _offsets(d).drop_vars("uphill_dx"), RegionError, "not its pair"),
        (
            lambda d: _offsets(d).assign(uphill_dx=_offsets(d).uphill_dx.astype("int16")),
            RegionError,
            "'uphill_dx' has dtype int16, expected int8",
        ),
        (
            lambda d: _offsets(d).assign(
                uphill_dy=_offsets(d).uphill_dy.transpose("y", "x", "distance")
            ),
            RegionError,
            "expected \\('distance', 'y', 'x'\\)",
        ),
        (
            lambda d: _offsets(d).drop_vars("distance"),
            RegionError,
            "numeric 'distance' coordinate",
        ),
    ],
)
def test_validate_metadata_errors(region, change, error, match):
    with pytest.raises(error, match=match):
        validate_region(change(region))


def test_legacy_one_hot_region_in_memory_is_refused_with_how_to_rebuild():
    with pytest.raises(LegacyStoreError) as info:
        validate_region(_legacy())
    msg = str(info.value)
    assert "one-hot 'features'" in msg and "Rebuild it in the compact layout" in msg
    assert "xlandslide synthetic STORE" in msg and "write_region" in msg
    assert isinstance(info.value, RegionError) and isinstance(info.value, ValueError)


def test_legacy_one_hot_zarr_store_is_refused(tmp_path):
    _legacy().to_zarr(tmp_path / "old.zarr", zarr_format=3, consolidated=False)
    ds = xr.open_zarr(tmp_path / "old.zarr", consolidated=False)
    with pytest.raises(LegacyStoreError, match="Rebuild it"):
        validate_region(ds)


def test_check_values_catches_labels_outside_the_data_model(region):
    assert validate_region(region, check_values=True) is region
    label = region.label.values.copy()
    label[3, 4] = 2
    label[5, 6] = -3
    bad = region.assign(label=(("y", "x"), label))
    validate_region(bad)  # metadata only: not seen
    with pytest.raises(RegionError, match="2 label pixels hold a value other than 1"):
        validate_region(bad, check_values=True)


def test_check_values_catches_codes_beyond_the_class_count(region):
    codes = region.categorical.values.copy()
    codes[0, 0, :3] = 3  # soil has 3 classes: codes 0..2
    codes[1, 2, 2] = 2  # cover has 2
    bad = region.assign(categorical=region.categorical.copy(data=codes))
    with pytest.raises(RegionError, match="3 pixels of group 'soil' hold a code of no class"):
        validate_region(bad, check_values=True)
    codes[0, 0, :3] = 255  # no data is fine
    bad = region.assign(categorical=region.categorical.copy(data=codes))
    with pytest.raises(RegionError, match=r"1 pixels of group 'cover'.*codes 0..1"):
        validate_region(bad, check_values=True)


def test_check_values_catches_offsets_off_their_ring(region):
    real = region.landslide.with_offsets(DISTANCES, halo=10)  # radii 3 and 10 pixels
    validate_region(real, check_values=True)
    dy = real.uphill_dy.values.copy()
    assert ((dy != 0) | (real.uphill_dx.values != 0)).any()
    dy[0, 4, 4], dy[0, 5, 5] = 7, -128  # beyond the 3-pixel ring of 30 m
    bad = real.assign(uphill_dy=real.uphill_dy.copy(data=dy))
    validate_region(bad)  # metadata only
    with pytest.raises(RegionError, match=r"2 pixels hold uphill offsets for 30 m .*radius 3"):
        validate_region(bad, check_values=True)
    with pytest.raises(RegionError, match=r"with_offsets\(\[30.0, 100.0\]\)"):
        validate_region(bad, check_values=True)


def test_check_values_is_one_streaming_pass(region):
    lazy = region.landslide.with_offsets(DISTANCES, halo=10).chunk({"y": 5, "x": 6})
    with raise_if_dask_computes(max_computes=1):
        validate_region(lazy, check_values=True)


# ---------------------------------------------------------------------------------- check_fits
def _spec(name="llr", layout=LAYOUT, **kw):
    from xlandslide.model import ModelSpec

    kw.setdefault("pixel_size", 10.0)
    kw.setdefault("normalisation", {"a": {"mean": 0.0, "std": 1.0}, "b": {"mean": 0.0, "std": 1.0}})
    if name in ("lann", "lacnn"):
        kw.setdefault("aligned", ("a", "soil_sand"))
        kw.setdefault("distances", DISTANCES)
        kw.setdefault("geometry", PatchGeometry(core=16, halo=10))
    return ModelSpec(name, layout, **kw)


def test_check_fits_accepts_a_matching_model(region):
    check_fits(region, _spec())
    check_fits(_offsets(region), _spec("lann"))
    check_fits(region, _spec("lann"), require_offsets=False)  # predict adds them itself
    with raise_if_dask_computes():
        check_fits(_offsets(region).chunk(4), _spec("lacnn"))


@pytest.mark.parametrize(
    "spec_kw, match",
    [
        ({"layout": FeatureLayout(("b", "a"), dict(LAYOUT.groups))}, "continuous layers"),
        (
            {"layout": FeatureLayout(("a", "b"), {**dict(LAYOUT.groups), "rock": ("r",)})},
            "lacks the categorical group 'rock'",
        ),
        (
            {"layout": FeatureLayout(("a", "b"), {"soil": ("clay", "sand"), "cover": ("x", "y")})},
            r"classes of group 'soil' differ between the region \(3\) and the model \(2\)",
        ),
        (
            {
                "layout": FeatureLayout(
                    ("a", "b"), {"cover": ("x", "y"), "soil": LAYOUT.classes("soil")}
                )
            },
            "differ in order or number",
        ),
        (
            {"layout": FeatureLayout(("a", "b"), {"soil": LAYOUT.classes("soil")})},
            "order or number",
        ),
        ({"pixel_size": 30.0}, "pixel size is 10 but the model was trained at 30"),
        (
            {"normalisation": {"a": {"mean": 0.0, "std": 1.0}, "c": {"mean": 0.0, "std": 1.0}}},
            "no normalisation statistics for 'c'",
        ),
        (
            {"normalisation": {"a": {"mean": 0.5, "std": 1.0}}},
            "'a' is standardised with mean 0 in the region but 0.5 in the model",
        ),
        ({"normalisation": {"b": {"mean": 0.0, "std": 2.0}}}, "std 1 in the region but 2"),
    ],
)
def test_check_fits_mismatches(region, spec_kw, match):
    with pytest.raises(CheckpointMismatchError, match=match):
        check_fits(region, _spec(**spec_kw))


def test_check_fits_missing_offsets(region):
    with pytest.raises(CheckpointMismatchError, match=r"lacks uphill offsets.*with_offsets"):
        check_fits(region, _spec("lann"))
    with pytest.raises(CheckpointMismatchError, match=r"distances \[100.0\] m"):
        check_fits(_offsets(region, (30.0,)), _spec("lann"))


def test_check_fits_refuses_a_halo_too_small_for_the_distances(region):
    spec = _spec("lann", geometry=PatchGeometry(core=16, halo=8))  # 100 m = 10 px > 8
    with pytest.raises(HaloError, match=r"the lann model: .*halo of 8 pixels.*halo=10"):
        check_fits(_offsets(region), spec)
    with pytest.raises(HaloError):
        check_fits(region, spec, require_offsets=False)


def test_check_fits_on_a_legacy_region():
    with pytest.raises(CheckpointMismatchError, match=r"not usable.*Rebuild"):
        check_fits(_legacy(), _spec())
