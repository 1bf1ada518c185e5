"""``import xlandslide``: light, every public name the function or class it names (never a
submodule, in any import order), typed errors, missing optional packages naming their extra."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

import xlandslide

HEAVY = ("torch", "matplotlib", "rasterio", "numba", "xbatcher", "sklearn", "geopandas")

# Run in a fresh interpreter: ORDER decides whether every public name is first looked up
# before or after every submodule of the package is imported.
NAMES_SCRIPT = r"""
import importlib, json, pkgutil, sys, types
import xlandslide

order = sys.argv[1]
names = sorted(set(xlandslide.__all__) | set(xlandslide._LAZY))
problems = []

def check(stage):
    for name in names:
        value = getattr(xlandslide, name)
        if isinstance(value, types.ModuleType):
            problems.append([stage, name, "a module: " + value.__name__])
        elif name in xlandslide._LAZY:
            home = importlib.import_module("xlandslide." + xlandslide._LAZY[name])
            if value is not getattr(home, name):
                problems.append([stage, name, "not the object of " + home.__name__])
            elif not callable(value):
                problems.append([stage, name, "not a function or class"])

if order == "names-first":
    check("first access, before the submodules")
for info in pkgutil.walk_packages(xlandslide.__path__, "xlandslide."):
    if info.name.rsplit(".", 1)[-1] != "__main__":  # that one runs the command line
        importlib.import_module(info.name)
check("after every submodule, first access" if order != "names-first" else "second access")
check("after every submodule, again")
print(json.dumps(problems))
"""


def test_import_stays_light():
    code = f"import sys, xlandslide; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("order", ["names-first", "submodules-first"])
def test_public_names_stay_functions_after_importing_every_submodule(order):
    """The old bug: ``xlandslide.calibration`` was the function, then the submodule."""
    out = subprocess.run(
        [sys.executable, "-c", NAMES_SCRIPT, order], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_public_names_in_this_process():
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(xlandslide.__path__, "xlandslide."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    for _ in range(2):
        for name in xlandslide.__all__:
            value = getattr(xlandslide, name)
            assert value is not None and not isinstance(value, types.ModuleType), name
    for name in ("calibration", "evaluate", "predict", "fit", "slope", "validate_region"):
        assert callable(getattr(xlandslide, name)), name
    assert set(xlandslide._LAZY) <= set(dir(xlandslide))


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute"):
        xlandslide.not_a_function


def test_errors_subclass_builtins():
    assert issubclass(xlandslide.RegionError, ValueError)
    assert issubclass(xlandslide.GridMismatchError, xlandslide.GridError)
    assert issubclass(xlandslide.MissingOptionalDependency, ImportError)
    assert issubclass(xlandslide.StoreExistsError, FileExistsError)
    assert issubclass(xlandslide.RegionNotFoundError, FileNotFoundError)
    for cls in (xlandslide.EvaluationError, xlandslide.ShapeError, xlandslide.ConfigError):
        assert issubclass(cls, ValueError)
    for cls in (
        xlandslide.RegionError,
        xlandslide.HaloError,
        xlandslide.CheckpointError,
        xlandslide.LegacyStoreError,
        xlandslide.PatchError,
    ):
        assert issubclass(cls, xlandslide.XLandslideError)


def test_missing_matplotlib_names_the_plot_extra(monkeypatch):
    import xarray as xr

    from xlandslide.plot import plot_roc, plot_susceptibility

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    grid = xr.DataArray([[0.1, 0.2], [0.3, 0.4]], dims=("y", "x"))
    for draw in (lambda: plot_roc({}), lambda: plot_susceptibility(grid, grid)):
        with pytest.raises(xlandslide.MissingOptionalDependency) as info:
            draw()
        assert "xlandslide[plot]" in str(info.value)
        assert isinstance(info.value, ImportError)


def test_missing_geopandas_names_the_vector_extra(monkeypatch):
    import numpy as np
    import rioxarray  # noqa: F401
    import xarray as xr

    monkeypatch.setitem(sys.modules, "geopandas", None)
    like = xr.DataArray(
        np.zeros((3, 3), np.float32),
        dims=("y", "x"),
        coords={"y": [25.0, 15.0, 5.0], "x": [5.0, 15.0, 25.0]},
    ).rio.write_crs("EPSG:32632")
    for burn in (
        lambda: xlandslide.labels_from_points("points.gpkg", like, "slide"),
        lambda: xlandslide.labels_from_polygons("slides.gpkg", like),
    ):
        with pytest.raises(xlandslide.MissingOptionalDependency) as info:
            burn()
        assert "xlandslide[vector]" in str(info.value)
