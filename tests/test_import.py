import subprocess
import sys

import pytest

import xlandslide

HEAVY = ("torch", "matplotlib", "rasterio", "numba", "xbatcher", "sklearn")


def test_import_stays_light():
    code = f"import sys, xlandslide; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve():
    for name in xlandslide.__all__:
        assert getattr(xlandslide, name) is not None


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute"):
        xlandslide.not_a_function


def test_errors_subclass_builtins():
    assert issubclass(xlandslide.RegionError, ValueError)
    assert issubclass(xlandslide.GridMismatchError, xlandslide.GridError)
    assert issubclass(xlandslide.MissingOptionalDependency, ImportError)
    assert issubclass(xlandslide.StoreExistsError, FileExistsError)
    for cls in (xlandslide.RegionError, xlandslide.HaloError, xlandslide.CheckpointError):
        assert issubclass(cls, xlandslide.XLandslideError)


def test_function_names_stay_functions():
    import xlandslide.evaluate
    import xlandslide.predict

    for _ in range(2):
        assert callable(xlandslide.evaluate) and callable(xlandslide.predict)
        assert not isinstance(xlandslide.evaluate, type(xlandslide))
