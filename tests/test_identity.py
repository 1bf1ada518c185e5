"""What names data across processes (issue 18, items 6-7): manifest tokens and content
hashes, never object ids (``xlandslide.io.identity``)."""

from __future__ import annotations

import numpy as np

import xlandslide as xl
from tests.faultkit import region as _region
from xlandslide.io.identity import region_identity, variable_identity
from xlandslide.io.integrity import manifest_token, read_manifest


def test_a_store_variable_is_named_by_its_manifest_not_its_object(tmp_path):
    store = xl.write_region(_region((32, 32)), tmp_path / "r.zarr", chunks=16)
    a, b = xl.open_region(store, chunks=None), xl.open_region(store, chunks=None)
    assert a.encoding["xlandslide_manifest_token"] == manifest_token(read_manifest(store))
    d = xl.open_region(store)  # dask-backed: the same data, the same name
    for name in ("dem", "label", "continuous", "uphill_dy"):
        assert variable_identity(a[name]) == variable_identity(b[name])
        assert variable_identity(a[name]) == variable_identity(d[name])
    assert variable_identity(a.dem) != variable_identity(a.label)
    # a selection is part of the name (and nothing is read)
    assert variable_identity(a.uphill_dy.isel(distance=0)) == variable_identity(
        b.uphill_dy.isel(distance=0)
    )
    assert variable_identity(a.uphill_dy.isel(distance=0)) != variable_identity(
        a.uphill_dy.isel(distance=1)
    )
    # a copy of the store elsewhere holds the same data: the same name
    import shutil

    shutil.copytree(store, tmp_path / "copy.zarr")
    c = xl.open_region(tmp_path / "copy.zarr", chunks=None)
    assert variable_identity(c.label) == variable_identity(a.label)
    assert region_identity(c) == region_identity(a)


def test_other_labels_give_another_identity(tmp_path):
    one = _region((32, 32))
    two = one.copy()
    two["label"] = one.label.copy(data=np.roll(one.label.values, 1, axis=0))
    assert variable_identity(one.label) == variable_identity(one.label.copy(deep=True))
    assert region_identity(one) != region_identity(two)
    s1 = xl.write_region(one, tmp_path / "1.zarr")
    s2 = xl.write_region(two, tmp_path / "2.zarr")
    r1, r2 = xl.open_region(s1, chunks=None), xl.open_region(s2, chunks=None)
    assert r1.attrs.get("normalisation") == r2.attrs.get("normalisation")
    assert region_identity(r1) != region_identity(r2)
    assert region_identity(xl.open_region(s1)) == region_identity(xl.open_region(s1))
