"""Helpers shared by the sub-commands."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, OutputIsInputError


def same_path(a, b) -> bool:
    """Whether two paths name the same file or folder."""
    return Path(a).resolve() == Path(b).resolve()


def check_output(out, inputs, *, option: str = "--out") -> None:
    """Refuse an output that is, holds or lies inside one of the ``inputs``.

    ``inputs`` maps a description (``"the region store"``) to a path.  Raises
    :class:`~xlandslide.errors.OutputIsInputError` before anything is read or written.
    """
    from ..io.atomic import overlaps

    for what, path in inputs.items():
        if path is None:
            continue
        if overlaps(out, path):
            relation = (
                "is"
                if same_path(out, path)
                else "lies inside"
                if Path(path).resolve() in Path(out).resolve().parents
                else "holds"
            )
            raise OutputIsInputError(
                f"{option} {str(out)!r} {relation} {what} {str(path)!r}, which is never "
                f"replaced or written into; choose another {option}"
            )


def check_device(device) -> None:
    """A ``--device`` this machine has (a user's mistake otherwise, not a traceback)."""
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(
            f"--device {device!r} is not a torch device ({err}); use cpu or cuda"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device!r}: CUDA is not available here; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(
            f"--device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )


PRESETS = ("default", "paper", "points")


def add_training_options(p) -> None:
    """The training options shared by ``train`` and ``cv``."""
    p.add_argument(
        "--preset",
        choices=PRESETS,
        default="default",
        help="training settings: the package's defaults (AdamW, warm-up + cosine, clipping, "
        "early stopping; the LLR fitted exactly; networks with a linear path started from "
        "the LLR, GroupNorm in the U-Net), the paper's (Table 1, its networks as published), "
        "or those for point inventories",
    )
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    p.add_argument(
        "--batch-size", type=int, default=None, help="patches per step (default: the preset's)"
    )
    p.add_argument(
        "--max-batches-per-epoch",
        type=int,
        default=None,
        metavar="N",
        help="stop each epoch after N batches (quick runs; default: every patch)",
    )
    p.add_argument(
        "--early-stopping",
        type=int,
        default=None,
        metavar="N",
        help="stop after N epochs without a better validation loss (default: the preset's)",
    )
    p.add_argument(
        "--base-width",
        type=int,
        default=None,
        help="U-Net channels of the first level (default: 16)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights, patch order and split")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA if any)")
    p.add_argument(
        "--keep-degenerate",
        action="store_true",
        help="exit 0 even when a trained model is flagged degenerate (no better than the "
        "Naive model on validation pixels, or a nearly constant map)",
    )


def training_settings(name: str, args) -> tuple:
    """``(TrainConfig or None, model options, seeds or None)`` of model ``name`` from the
    options of :func:`add_training_options`."""
    from ..models import model_entry
    from ..train import TrainConfig
    from ..train.presets import point_inventory

    entry = model_entry(name)
    if not entry.trained:
        return None, {}, None
    options, seeds = {}, None
    if entry.backend != "torch":  # fitted on a pixel table: no training settings to choose
        return TrainConfig.default(name, seed=args.seed), {}, None
    if args.preset == "points":
        p = point_inventory(name)
        config, options, seeds = p["config"], dict(p["model_config"]), p["seeds"]
    elif args.preset == "paper":  # Table 1 and the paper's networks: no linear path, no norm
        config = TrainConfig.paper(name)
        if not entry.linear:
            options = {"linear_skip": False}
            if not entry.pixelwise:
                options["norm"] = None
    else:
        config = TrainConfig.default(name)
    given = {
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "max_batches_per_epoch": args.max_batches_per_epoch,
        "early_stopping": args.early_stopping,
        "device": args.device,
        "accept_margin": getattr(args, "accept_margin", None),
    }
    config = config.replace(seed=args.seed, **{k: v for k, v in given.items() if v is not None})
    if args.base_width is not None and not entry.pixelwise:
        options["base_width"] = args.base_width
    return config, options, seeds


def degenerate_exit(models, keep: bool) -> int:
    """0, or 3 after one line per degenerate model (unless ``keep``)."""
    from ..train.quality import is_degenerate

    bad = [name for name, m in models.items() if is_degenerate(m)]
    if not bad:
        return 0
    for name in bad:
        print(
            f"xlandslide: the {name} model is degenerate (see the warning above); it was "
            "written all the same: pass --keep-degenerate to accept it, or change the "
            "settings (--lr, --epochs, --preset default)"
        )
    return 0 if keep else 3


def check_split_geometry(geometry, args, split) -> None:
    """--core / --halo that disagree with the split being reused are an error, not ignored."""

    asked = {"--core": (args.core, geometry.core), "--halo": (args.halo, geometry.halo)}
    differ = [f"{k} {v} (the split has {s})" for k, (v, s) in asked.items() if v not in (None, s)]
    if differ:
        raise ConfigError(
            f"the patch split {str(split)!r} exists and is reused, but {', '.join(differ)}; "
            "drop the option to train on that split, or give --split a new path (or delete "
            "that file) to cut patches of the new size"
        )


def split_patches(region, args, split, *, write: bool = True):
    """The patch split at ``split`` when it exists (checked against ``--core``/``--halo``),
    else a new one: ``--core`` (default: the largest that leaves 3 patches per split,
    :func:`xlandslide.grid.geometry_for`, said in one line) and ``--halo``, written to
    ``split`` when ``write``."""
    from pathlib import Path

    from ..grid import HALO, PatchGeometry, geometry_for
    from ..patches import PatchSet, make_patches

    if split is not None and Path(split).exists():
        patches = PatchSet.from_json(split)
        check_split_geometry(patches.geometry, args, split)
        print(f"reusing the patch split {split}")
        return patches
    halo = HALO if args.halo is None else args.halo
    if args.core is None:
        geometry, why = geometry_for((region.sizes["y"], region.sizes["x"]), halo)
        if why:
            print(f"xlandslide: {why} (--core sets it)")
    else:
        geometry = PatchGeometry(args.core, halo)
    patches = make_patches(region, geometry, seed=args.seed)
    if split is not None and write:
        patches.to_json(split)
        print(f"wrote the patch split {split}")
    return patches
