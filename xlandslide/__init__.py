"""xlandslide: landslide susceptibility for whole regions, native to xarray and Dask.

Implements "Predicting Landslides Using Locally Aligned Convolutional Neural Networks"
(Hajimoradlou, Roberti, Poole) — the LACNN and its baselines — on chunked, lazy rasters.

``import xlandslide`` stays light: numba, torch and matplotlib load only when the function
that needs them is first used.  Importing the package registers the ``landslide`` accessor
on :class:`xarray.Dataset`.

Public names are looked up in :data:`_LAZY` on first access and then kept in the package
namespace.  ``predict`` and ``evaluate`` share their names with modules of the package, so
they are imported eagerly: the package attributes are always the functions, never the
submodules (a test checks every public name after importing every submodule).
"""

from __future__ import annotations

import importlib

from . import accessor as _accessor  # noqa: F401  (registers ds.landslide)
from . import errors as _errors
from ._version import __version__
from .catalog import (
    FEATURE_NAMES,
    INSPIRE,
    LABEL_LANDSLIDE,
    LABEL_STABLE,
    LABEL_UNKNOWN,
    NODATA_CODE,
    FeatureLayout,
)
from .errors import *  # noqa: F403  (every exception and warning, eagerly: errors is cheap)
from .evaluate import evaluate
from .grid import CORE, HALO, PatchGeometry
from .predict import predict

# public name -> module that defines it (imported on first access)
_LAZY = {
    # the region data model
    "validate_region": "validate",
    "check_fits": "validate",
    "feature_layout": "region",
    "onehot_features": "region",
    "get_normalisation": "region",
    "offset_distances": "region",
    # io
    "open_region": "io.store",
    "write_region": "io.store",
    "region_from_dem": "io.build",
    "build_region": "io.build",
    "CategoricalLayer": "io.layers",
    "RasterLayer": "io.raster",
    "read_raster": "io.raster",
    "ingest_region": "io.ingest",
    "read_ingest_config": "io.ingest",
    "class_mapping": "mapping",
    "ClassMapping": "mapping",
    "labels_from_points": "io.vector",
    "labels_from_polygons": "io.vector",
    "write_map": "io.maps",
    "write_classed": "io.classed",
    "open_classed": "io.classed",
    "open_map": "io.maps",
    # stages
    "synthetic_region": "synthetic.world",
    "slope": "terrain",
    "uphill_offsets": "features",
    "aligned_features": "features",
    "ring_offsets": "kernels.uphill",
    "make_patches": "patches.grid",
    "PatchSet": "patches.grid",
    "PatchDataset": "patches.dataset",
    "split_sizes": "patches.splits",
    "spatial_folds": "patches.folds",
    "SpatialFolds": "patches.folds",
    "mask_patches": "patches.grid",
    # models and training
    "ModelSpec": "model",
    "LandslideModel": "model",
    "save_model": "checkpoint",
    "load_model": "checkpoint",
    "fit": "train.fit",
    "TrainConfig": "train.config",
    "select_aligned_features": "train.select",
    "rank_aligned": "train.select",
    # evaluation
    "calibration": "evaluate.calibration",
    "cross_validate": "workflows.cv",
    "zoning": "evaluate.zoning",
    "zoning_breaks": "evaluate.zoning",
    "zoning_table": "evaluate.zoning",
    "rate_curve": "evaluate.rates",
    "paper_report": "workflows.report",
    "llr_weights": "evaluate.importance",
    "permutation_importance": "evaluate.importance",
    "uncertainty_map": "evaluate.importance",
    "fit_ensemble": "train.ensemble",
    "EnsembleModel": "train.ensemble",
    "average_precision": "evaluate.metrics",
    "brier_score": "evaluate.metrics",
    "naive_nll": "evaluate.metrics",
    "naive_ratio": "evaluate.metrics",
    "nll": "evaluate.metrics",
    "roc_auc": "evaluate.metrics",
    "roc_curve": "evaluate.metrics",
}

__all__ = [
    "CORE",
    "FEATURE_NAMES",
    "HALO",
    "INSPIRE",
    "LABEL_LANDSLIDE",
    "LABEL_STABLE",
    "LABEL_UNKNOWN",
    "NODATA_CODE",
    "FeatureLayout",
    "PatchGeometry",
    "__version__",
    "evaluate",
    "predict",
    *_errors.__all__,
    *sorted(_LAZY),
]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value  # later lookups find the function, never a submodule
        return value
    raise AttributeError(f"module 'xlandslide' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
