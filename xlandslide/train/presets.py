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
from .defaults import (
    DEFAULT_MODEL_CONFIG,
    DEFAULT_SETTINGS,
    POINT_ACCEPT_MARGIN,
    POINT_SETTINGS,
    point_config,
)

# The settings above live in train/defaults.py (data only), which TrainConfig reads without
# importing this module; they are re-exported here.

#: Core of the patches for point inventories (pixels).
POINT_CORE = 64
#: Seeds of the ensemble for point inventories.
POINT_SEEDS = (0, 1, 2)
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
    config = TrainConfig(**point_config(name)).replace(**changes)
    opts = POINT_SETTINGS[name][1]
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
