"""The exception tree: families a user can catch by meaning, all exported from the root."""

from __future__ import annotations

import inspect

import pytest

import xlandslide
from xlandslide import errors


def _defined():
    return {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, (Exception, Warning))
        if obj.__module__ == errors.__name__
    }


def test_every_exception_and_warning_is_exported_from_errors_and_the_root():
    assert set(errors.__all__) == _defined()
    assert set(errors.__all__) <= set(xlandslide.__all__)
    for name in errors.__all__:
        assert getattr(xlandslide, name) is getattr(errors, name)


@pytest.mark.parametrize(
    ("child", "family"),
    [
        ("CheckpointNotFoundError", "CheckpointError"),
        ("CheckpointMismatchError", "CheckpointError"),
        ("GridMismatchError", "GridError"),
        ("CRSUnitsError", "GridError"),
        ("HaloError", "GridError"),
        ("RegionNotFoundError", "RegionError"),
        ("LegacyStoreError", "RegionError"),
        ("LabelError", "LayerError"),
        ("NodataError", "LayerError"),
        ("ImplausibleValuesError", "LayerError"),
        ("ConfigNotFoundError", "ConfigError"),
        ("ForeignOutputError", "StoreExistsError"),
        ("IncompleteStoreError", "StoreIntegrityError"),
        ("CorruptChunkError", "StoreIntegrityError"),
    ],
)
def test_each_error_is_caught_by_its_family(child, family):
    assert issubclass(getattr(errors, child), getattr(errors, family))


def test_every_error_is_an_xlandslide_error_and_a_builtin():
    for name in errors.__all__:
        cls = getattr(errors, name)
        if issubclass(cls, Warning):
            assert issubclass(cls, errors.XLandslideWarning)
            continue
        assert issubclass(cls, errors.XLandslideError)
        if cls is not errors.XLandslideError:
            builtins = [c for c in cls.__mro__ if c.__module__ == "builtins"]
            assert set(builtins) - {Exception, BaseException, object}, name
