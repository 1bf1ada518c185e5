"""``xlandslide train``: train one model on a region store and write its checkpoint."""

from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import ConfigError, StoreExistsError
from ._cluster import cluster_keywords, dask_client
from ._common import check_device, check_output, degenerate_exit, split_patches, training_settings
from ._options import OVERWRITE, SCHEDULER, TRAINING_PARENTS


def register(sub) -> None:
    t = sub.add_parser(
        "train",
        parents=[*TRAINING_PARENTS, OVERWRITE, SCHEDULER],
        help="train a model on a region store",
        description="Train one model on a region store and write its checkpoint. An aligned "
        "model (lann, lacnn) first fits an LLR (exactly, in seconds) whose weights choose the "
        "features read uphill, unless --aligned or --llr is given; offsets missing from the "
        "store are computed for the run. Progress: one line per epoch and, per batch, a bar "
        "(a terminal) or a line with the ETA every ~30 s (a log).",
    )
    t.add_argument(
        "--model",
        default="lacnn",
        help="model name: naive, llr, nn, lann, cnn, lacnn, or another of xlandslide.models.MODELS",
    )
    t.add_argument("--out", required=True, help="checkpoint path (.pt)")
    t.add_argument(
        "--aligned",
        nargs="+",
        default=None,
        help="aligned feature names (default: chosen by an LLR)",
    )
    t.add_argument(
        "--llr",
        default=None,
        metavar="PATH",
        help="a trained LLR checkpoint whose weights choose the aligned features (reused, "
        "not refitted)",
    )
    t.add_argument(
        "--warm-start",
        default=None,
        metavar="PATH",
        help="start from this checkpoint: the model's base (a CNN for the LACNN, an NN for "
        "the LANN; aligned channels start at zero), the same model, or an LLR (models with "
        "a linear path)",
    )
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue the run whose checkpoint is --out (killed or stopped), to the same "
        "weights as an uninterrupted run",
    )
    t.add_argument(
        "--save-every",
        type=int,
        default=None,
        metavar="N",
        help="also write the checkpoint every N batches (default: at the end of each epoch)",
    )
    t.add_argument(
        "--split",
        default=None,
        help="patch split JSON: reused when it exists, else written there "
        "(default: next to the checkpoint, MODEL.split.json)",
    )
    t.set_defaults(func=train)


def _check_args(args, entry, split: Path) -> None:
    """Everything that can be refused before the store is read."""
    from ..io.atomic import check_writable

    check_device(args.device)
    inputs = {"the region store": args.store, "the LLR": args.llr, "the start": args.warm_start}
    check_output(args.out, inputs)
    check_writable(args.out)  # said now, not after the training
    if not split.exists():  # written by this run
        check_output(split, inputs, option="--split")
        check_writable(split)
    if args.resume and args.overwrite:
        raise ConfigError("--resume continues the run in --out, --overwrite replaces it: give one")
    if args.save_every is not None and args.save_every < 1:
        raise ConfigError(
            f"--save-every must be a positive number of batches, got {args.save_every}"
        )
    if Path(args.out).exists() and not (args.resume or args.overwrite):
        raise StoreExistsError(
            f"{args.out!r} exists; pass --resume to continue that run, --overwrite to replace "
            "it, or choose another --out"
        )
    if not entry.trained and (args.resume or args.save_every is not None or args.warm_start):
        raise ConfigError(
            f"the {entry.name} model is not trained: --resume, --save-every and --warm-start "
            "do not apply to it"
        )


def _fit_options(args, entry, region) -> dict:
    """The keywords of ``fit`` beyond the patches (saying what is done behind the scenes)."""
    from ..checkpoint import load_model

    kwargs = {"progress": not args.quiet}
    if entry.trained:
        config, options, _ = training_settings(entry.name, args)
        kwargs.update(
            config=config,
            model_config=options or None,
            resume=args.out if args.resume else None,
            save_every=args.save_every,
        )
    if args.warm_start:
        kwargs["warm_start"] = load_model(args.warm_start)
    if entry.needs_offsets and not region.landslide.offset_distances():
        print(
            "the store holds no uphill offsets: computing them for this run "
            "(`xlandslide offsets STORE --out NEW` stores them once)"
        )
    if args.llr:
        kwargs["llr"] = load_model(args.llr)
    starts = entry.trained and entry.backend == "torch" and not entry.linear
    starts = starts and not args.warm_start
    if (entry.needs_offsets and not args.aligned) or starts:
        if not args.llr:
            print(
                "fitting an LLR (L-BFGS, seconds) to choose the aligned features and to start "
                "the network from (--llr PATH reuses one)"
            )
    elif args.llr:
        raise ConfigError(f"the {entry.name} model uses no LLR: --llr does not apply")
    if args.aligned and not entry.needs_offsets:
        raise ConfigError(
            f"the {entry.name} model reads no aligned features: --aligned does not apply"
        )
    return kwargs


def train(args) -> int:
    from ..io import open_region
    from ..models import canonical_name, model_entry

    entry = model_entry(canonical_name(args.model))
    split = Path(args.split) if args.split else Path(args.out).with_suffix(".split.json")
    _check_args(args, entry, split)
    with dask_client(args.scheduler) as client:
        region = open_region(args.store, chunks=None)
        kwargs = {**_fit_options(args, entry, region), **cluster_keywords(client, entry)}
        patches = split_patches(region, args, split)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            model = region.landslide.fit(
                entry.name, patches=patches, aligned=args.aligned, checkpoint=args.out, **kwargs
            )
    if model.spec.aligned:
        print(f"aligned features ({len(model.spec.aligned)}): {', '.join(model.spec.aligned)}")
    print(f"wrote {args.out}")
    return degenerate_exit({entry.name: model}, args.keep_degenerate)
