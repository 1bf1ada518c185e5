"""The package's default training settings and model options, as plain data.

:meth:`xlandslide.TrainConfig.default` reads :data:`DEFAULT_SETTINGS`; :func:`xlandslide.fit`,
:func:`xlandslide.cross_validate` and the paper report add :data:`DEFAULT_MODEL_CONFIG`.
The settings of point inventories (:data:`POINT_SETTINGS`, :func:`point_config`) are here
too.  A module of data (it imports nothing), so that :mod:`xlandslide.train.config` and
:mod:`xlandslide.train.presets` both read it without importing each other.
"""

from __future__ import annotations

_NETWORK = {
    "optimizer": "adamw",
    "weight_decay": 1e-4,
    "schedule": "cosine",
    "warmup": 0.05,
    "clip_norm": 1.0,
    "early_stopping": 5,
}
#: The package's default training settings per model (:meth:`TrainConfig.default`), for
#: polygon inventories of any pixel size: AdamW (decoupled weight decay), a 5 % linear
#: warm-up then cosine decay, the gradient's norm clipped at 1, early stopping after 5
#: epochs without a better validation loss; the LLR fitted exactly (L-BFGS, L2 1e-4).
#: ``accept_margin`` stays None (any lower validation loss replaces the warm start): on the
#: synthetic 30 m region (5 block folds of 2.5 km, the skill table's small budget) a 1-SE
#: paired margin changed one decision of ten, reverting a LACNN whose test AUC was 0.0016
#: above its CNN start (validation z 0.74), and kept every CNN (validation z 1.76-4.78);
#: the per-pixel errors of polygon inventories are optimistic (neighbours are alike), so a
#: margin in them is no firmer guard.  Point inventories use 2 (``presets``).
DEFAULT_SETTINGS = {
    "llr": {"solver": "lbfgs", "weight_decay": 1e-4, "epochs": 1},
    "nn": {**_NETWORK, "lr": 3e-3, "epochs": 20, "batch_size": 8},
    "lann": {**_NETWORK, "lr": 3e-3, "epochs": 20, "batch_size": 8},
    "cnn": {**_NETWORK, "lr": 2e-3, "epochs": 20, "batch_size": 4},
    "lacnn": {**_NETWORK, "lr": 2e-3, "epochs": 20, "batch_size": 4},
    # the learners are fitted on a pixel table (their options are model options); only
    # the seed of the table's sample is read
    **{
        name: {"epochs": 1}
        for learner in ("fr", "woe", "gam", "gbm")
        for name in (learner, "la" + learner)
    },
}
#: Model options that :func:`xlandslide.fit` adds by default (the caller's win): a linear
#: path beside every network (wide and deep: warm-started from the LLR, the untrained
#: network *is* the LLR, and the deep part is kept only where it lowers the validation
#: loss) and group normalisation in the U-Net of the convolutional models.
DEFAULT_MODEL_CONFIG = {
    "nn": {"linear_skip": True},
    "lann": {"linear_skip": True},
    "cnn": {"norm": "group", "linear_skip": True},
    "lacnn": {"norm": "group", "linear_skip": True},
}

#: Whether an aligned model whose base is trained beside it (the CNN for the LACNN, the NN
#: for the LANN) starts from that base (:func:`xlandslide.cross_validate`'s and
#: :func:`xlandslide.paper_report`'s ``chain``).  Off: both start from the LLR and train
#: with the same budget, so the only difference between them is the aligned gather (the
#: ablation).  Chained, the aligned model trains a second budget on top of its base's, and
#: the comparison mixes the gather with the extra training.  Measured on the synthetic 10 m
#: region (5 block folds of 2.5 km, the skill table's small budget, 3 seeds): the chained
#: LACNN lost 0.0007 AUC to its CNN on one fold, where the CNN trained a second budget the
#: same way lost 0.0015 and the LACNN beat that CNN by 0.0008 (the extra training, not the
#: gather, cost the fold); unchained, the LACNN is above the CNN on all five folds.
CHAIN_ALIGNED = False

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
#: Epochs without a better validation loss before training stops.
POINT_PATIENCE = 6
#: A warm start (the fold's LLR) gives way to the trained network only when the network's
#: validation loss is lower by more than this many standard errors of the paired per-point
#: difference (:mod:`xlandslide.train.accept`): the best of 30 noisy epochs on ~70 points
#: beats the LLR by chance alone.
POINT_ACCEPT_MARGIN = 2.0


def point_config(name: str) -> dict:
    """The :class:`~xlandslide.TrainConfig` keywords of model ``name`` (a canonical name of
    :data:`POINT_SETTINGS`) for a point inventory
    (:func:`xlandslide.train.presets.point_inventory`)."""
    return {
        **POINT_SETTINGS[name][0],
        "weight_decay": 1e-3,
        "early_stopping": POINT_PATIENCE,
        "patience": 3,
        "accept_margin": POINT_ACCEPT_MARGIN,
    }


__all__ = [
    "CHAIN_ALIGNED",
    "DEFAULT_MODEL_CONFIG",
    "DEFAULT_SETTINGS",
    "POINT_ACCEPT_MARGIN",
    "POINT_PATIENCE",
    "POINT_SETTINGS",
    "point_config",
]
