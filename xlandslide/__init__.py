"""xlandslide: landslide susceptibility for whole regions, native to xarray and Dask.

Implements "Predicting Landslides Using Locally Aligned Convolutional Neural Networks"
(Hajimoradlou, Roberti, Poole) — the LACNN and its baselines — on chunked, lazy rasters.

``import xlandslide`` stays light: numba, torch and matplotlib load only when the function
that needs them is first used.  Importing the package registers the ``landslide`` accessor
on :class:`xarray.Dataset`.
"""

from __future__ import annotations

import importlib

from . import accessor as _accessor  # noqa: F401  (registers ds.landslide)
from .catalog import FEATURE_NAMES, LABEL_LANDSLIDE, LABEL_STABLE, LABEL_UNKNOWN
from .errors import (
    CheckpointError,
    CheckpointMismatchError,
    GridError,
    GridMismatchError,
    HaloError,
    MissingOptionalDependency,
    RegionError,
    StoreExistsError,
    XLandslideError,
)
from .grid import CORE, HALO, PatchGeometry

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "open_region": "io",
    "write_region": "io",
    "validate_region": "io",
    "synthetic_region": "synthetic",
    "slope": "terrain",
    "uphill_offsets": "features",
    "aligned_features": "features",
    "ring_offsets": "kernels.uphill",
    "make_patches": "patches",
    "PatchSet": "patches",
    "PatchDataset": "patches",
    "fit": "train",
    "TrainConfig": "train",
    "LandslideModel": "train",
    "load_model": "train",
    "predict": "predict",
    "evaluate": "evaluate",
    "roc_curve": "evaluate",
    "roc_auc": "evaluate",
    "nll": "evaluate",
    "naive_nll": "evaluate",
}

__all__ = [
    "CORE",
    "FEATURE_NAMES",
    "HALO",
    "LABEL_LANDSLIDE",
    "LABEL_STABLE",
    "LABEL_UNKNOWN",
    "CheckpointError",
    "CheckpointMismatchError",
    "GridError",
    "GridMismatchError",
    "HaloError",
    "MissingOptionalDependency",
    "PatchGeometry",
    "RegionError",
    "StoreExistsError",
    "XLandslideError",
    "__version__",
    *sorted(_LAZY),
]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        # importing a submodule binds it on the package (xlandslide.evaluate, .predict);
        # bind the public function instead so the name stays the function
        globals()[name] = value
        return value
    raise AttributeError(f"module 'xlandslide' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
