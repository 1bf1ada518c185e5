"""Settings for landslide inventories of points rather than polygons.

The paper trains on polygon inventories: millions of labelled pixels, patches of 500 pixels,
Table 1's learning rates.  A point inventory (a few hundred presence / absence points, every
other pixel unknown) gives each patch a handful of labelled pixels: the paper's settings
then fit the noise of a few points.  :func:`point_inventory` gives the settings measured
on such data (the Ecuador example: 350 points on a 383 x 415 grid of 10 m, k-means spatial
folds; see the user guide, "Honest skill"): small patches, small and regularised networks, more
epochs with early stopping on spatially separate validation pixels, a seed ensemble, and a
network that replaces its warm start (the LLR) only when it beats it on the validation
points by more than noise.
"""

from __future__ import annotations

from ..errors import ConfigError
from .config import TrainConfig
from .defaults import DEFAULT_MODEL_CONFIG, DEFAULT_SETTINGS

# DEFAULT_SETTINGS and DEFAULT_MODEL_CONFIG live in train/defaults.py (data only), which
# TrainConfig.default reads without importing this module; they are re-exported here.

#: Per model: TrainConfig changes and model options for point inventories.
POINT_SETTINGS = {
    "llr": ({"optimizer": "adam", "lr": 0.05, "epochs": 30, "batch_size": 8}, {}),
    "nn": (
        {"optimizer": "adam", "lr": 0.01, "epochs": 30, "batch_size": 8},
        {"hidden": [16], "dropout": 0.3, "linear_skip": True},
    ),
    "lann": (
        {"optimizer": "adam", "lr": 0.01, "epochs": 30, "batch_size": 8},
        {"hidden": [16], "dropout": 0.3, "linear_skip": True},
    ),
    "cnn": (
        {"optimizer": "adam", "lr": 0.003, "epochs": 30, "batch_size": 4},
        {"base_width": 4, "depth": 2, "dropout": 0.3, "linear_skip": True},
    ),
    "lacnn": (
        {"optimizer": "adam", "lr": 0.003, "epochs": 30, "batch_size": 4},
        {"base_width": 4, "depth": 2, "dropout": 0.3, "linear_skip": True},
    ),
}
#: Core of the patches for point inventories (pixels).
POINT_CORE = 64
#: Seeds of the ensemble for point inventories.
POINT_SEEDS = (0, 1, 2)
#: Epochs without a better validation loss before training stops.
POINT_PATIENCE = 6
#: A warm start (the fold's LLR) gives way to the trained network only when the network's
#: validation loss is lower by more than this many standard errors of the paired per-point
#: difference (:mod:`xlandslide.train.accept`): the best of 30 noisy epochs on ~70 points
#: beats the LLR by chance alone.
POINT_ACCEPT_MARGIN = 2.0
#: Positive patches are not repeated: balanced points put a landslide in nearly every patch.
POINT_OVERSAMPLE = 1


def point_inventory(model: str, **changes) -> dict:
    """Settings of ``model`` for a point inventory.

    Returns
    -------
    dict
        ``config`` (a :class:`TrainConfig` with early stopping), ``model_config`` (model
        options) — pass both to :func:`xlandslide.fit` or, per model, to
        :func:`xlandslide.cross_validate` — ``core`` (patch core, pixels), ``seeds`` (of a
        seed ensemble: one for the convex LLR) and ``oversample`` (1).  ``changes`` replace
        TrainConfig fields.
    """
    from ..models import canonical_name, model_entry

    name = canonical_name(model)
    if name not in POINT_SETTINGS:
        raise ConfigError(f"the {name} model is not trained; it needs no settings")
    cfg, opts = POINT_SETTINGS[name]
    config = TrainConfig(
        **{
            **cfg,
            "weight_decay": 1e-3,
            "early_stopping": POINT_PATIENCE,
            "patience": 3,
            "accept_margin": POINT_ACCEPT_MARGIN,
        },
    ).replace(**changes)
    return {
        "config": config,
        "model_config": dict(opts),
        "core": POINT_CORE,
        "seeds": (0,) if model_entry(name).linear else POINT_SEEDS,
        "oversample": POINT_OVERSAMPLE,
    }


__all__ = [
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_SETTINGS",
    "POINT_ACCEPT_MARGIN",
    "POINT_CORE",
    "POINT_OVERSAMPLE",
    "POINT_SEEDS",
    "POINT_SETTINGS",
    "point_inventory",
]
