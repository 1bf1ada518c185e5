"""The options several sub-commands share, each declared once (argparse ``parents=``).

A sub-command lists the groups it takes: ``sub.add_parser(..., parents=[STORE, TRAINING,
SEED, DEVICE, PATCHES])``; every sub-command gets :data:`QUIET` (``cli._parser`` adds it).
Defaults come from the library (:mod:`xlandslide.grid`, :mod:`xlandslide.train.presets`).
"""

from __future__ import annotations

import argparse

from ..grid import CORE, CORE_CHOICES, CV_CORE, HALO, MIN_HALO, MIN_PATCHES_PER_SPLIT

#: Training presets (``--preset``), read by :meth:`xlandslide.TrainConfig.from_options`.
PRESETS = ("default", "paper", "points")


def _group() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


#: ``--quiet``: every sub-command.
QUIET = _group()
QUIET.add_argument(
    "--quiet",
    action="store_true",
    help="no progress on stderr: no bars, no progress lines with their ETA, no per-epoch lines",
)

#: The region store, the first argument of the commands that read one.
STORE = _group()
STORE.add_argument("store", help="the region store (.zarr; read, never modified)")

#: ``--device``.
DEVICE = _group()
DEVICE.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA if any)")

#: ``--seed``.
SEED = _group()
SEED.add_argument(
    "--seed",
    type=int,
    default=0,
    help="random seed (of the weights, the patch order, the split and the folds; of the "
    "shuffles for importance; of the terrain for synthetic)",
)

#: ``--overwrite``.
OVERWRITE = _group()
OVERWRITE.add_argument(
    "--overwrite",
    action="store_true",
    help="replace outputs that xlandslide wrote (anything else at the path is refused)",
)

#: ``--foreign``: the commands that read a map.
FOREIGN = _group()
FOREIGN.add_argument(
    "--foreign",
    action="store_true",
    help="read a map xlandslide did not write (its completeness cannot be checked)",
)

#: ``--core`` and ``--halo`` of the training patches.
PATCHES = _group()
PATCHES.add_argument(
    "--core",
    type=int,
    default=None,
    help=f"patch core, pixels (default: the paper's {CORE}, or the largest of "
    f"{' '.join(map(str, CORE_CHOICES[1:]))} leaving {MIN_PATCHES_PER_SPLIT} patches in each "
    f"split of a smaller region; cv: {CV_CORE})",
)
PATCHES.add_argument(
    "--halo",
    type=int,
    default=None,
    help=f"patch halo, pixels (default: {HALO}; cv: the largest ring radius of the store's "
    f"offsets, at least {MIN_HALO})",
)

#: The training settings of ``train``, ``cv`` and ``report``.
TRAINING = _group()
TRAINING.add_argument(
    "--preset",
    choices=PRESETS,
    default="default",
    help="training settings: the package's defaults (AdamW, warm-up + cosine, clipping, "
    "early stopping; the LLR fitted exactly; networks with a linear path started from "
    "the LLR, GroupNorm in the U-Net), the paper's (Table 1, its networks as published), "
    "or those for point inventories",
)
TRAINING.add_argument(
    "--epochs",
    type=int,
    default=None,
    help="passes over the training patches (default: the preset's)",
)
TRAINING.add_argument(
    "--lr", type=float, default=None, help="learning rate, per step (default: the preset's)"
)
TRAINING.add_argument(
    "--batch-size", type=int, default=None, help="patches per step (default: the preset's)"
)
TRAINING.add_argument(
    "--max-batches-per-epoch",
    type=int,
    default=None,
    metavar="N",
    help="stop each epoch after N batches (quick runs; default: every patch)",
)
TRAINING.add_argument(
    "--early-stopping",
    type=int,
    default=None,
    metavar="N",
    help="stop after N epochs without a better validation loss (default: the preset's)",
)
TRAINING.add_argument(
    "--base-width", type=int, default=None, help="U-Net channels of the first level (default: 16)"
)
TRAINING.add_argument(
    "--keep-degenerate",
    action="store_true",
    help="exit 0 even when a trained model is flagged degenerate (no better than the "
    "Naive model on validation pixels, or a nearly constant map)",
)

#: ``--scheduler``: the commands that train or compute maps (opened by
#: :func:`xlandslide.cli._cluster.dask_client`).
SCHEDULER = _group()
SCHEDULER.add_argument(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="address of a running dask.distributed scheduler, e.g. tcp://10.0.0.5:8786; or "
    "'local:N' to start a LocalCluster of N worker processes for this command. The "
    "command's dask computations run there, and the models that train on a cluster (gbm, "
    "lagbm) train on its workers (default: this process's threads)",
)

#: Everything ``train``, ``cv`` and ``report`` share, in the order of ``--help``.
TRAINING_PARENTS = (STORE, TRAINING, SEED, DEVICE, PATCHES)


def add_chain(parser) -> None:
    """``--chain`` / ``--no-chain`` (``cv``, ``report``): whether an aligned model starts from
    its base model (:data:`xlandslide.train.defaults.CHAIN_ALIGNED` by default)."""
    from ..train.defaults import CHAIN_ALIGNED

    parser.add_argument(
        "--chain",
        action=argparse.BooleanOptionalAction,
        default=CHAIN_ALIGNED,
        help="start each aligned model from its base model trained beside it (the LACNN from "
        "the CNN, the LANN from the NN) and train its own budget on top; --no-chain: both "
        "start from the LLR with the same budget, so their gap is the aligned gather's alone",
    )


__all__ = [
    "DEVICE",
    "FOREIGN",
    "OVERWRITE",
    "PATCHES",
    "PRESETS",
    "QUIET",
    "SCHEDULER",
    "SEED",
    "STORE",
    "TRAINING",
    "TRAINING_PARENTS",
    "add_chain",
]
