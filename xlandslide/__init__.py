"""xlandslide: landslide susceptibility for whole regions, native to xarray and Dask.

Implements "Predicting Landslides Using Locally Aligned Convolutional Neural Networks"
(Hajimoradlou, Roberti, Poole) — the LACNN and its baselines — on chunked, lazy rasters.

``import xlandslide`` stays light: numba, torch and matplotlib load only when the function
that needs them is first used.  Importing the package registers the ``landslide`` accessor
on :class:`xarray.Dataset`.

``predict`` and ``evaluate`` (light modules) are imported eagerly so that the package
attributes are the functions, never the submodules of the same name.
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
    RegionNotFoundError,
    StoreExistsError,
    XLandslideError,
)
from .evaluate import evaluate, naive_nll, nll, roc_auc, roc_curve
from .grid import CORE, HALO, PatchGeometry
from .predict import predict

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "open_region": "io",
    "write_region": "io",
    "validate_region": "io",
    "region_from_dem": "io",
    "get_normalisation": "io",
    "labels_from_points": "vector",
    "labels_from_polygons": "vector",
    "synthetic_region": "synthetic",
    "calibration": "calibration",
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
    "RegionNotFoundError",
    "StoreExistsError",
    "XLandslideError",
    "__version__",
    "evaluate",
    "naive_nll",
    "nll",
    "predict",
    "roc_auc",
    "roc_curve",
    *sorted(_LAZY),
]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'xlandslide' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
