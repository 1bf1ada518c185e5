"""Model sub-commands: ``train`` (a checkpoint) and ``predict`` (a susceptibility map)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, StoreExistsError
from ..grid import HALO
from ._common import (
    add_training_options,
    check_device,
    check_output,
    degenerate_exit,
    split_patches,
    training_settings,
)


def register(sub) -> None:
    t = sub.add_parser(
        "train",
        help="train a model on a region store",
        description="Train one model on a region store and write its checkpoint. An aligned "
        "model (lann, lacnn) first fits an LLR (exactly, in seconds) whose weights choose the "
        "features read uphill, unless --aligned or --llr is given; offsets missing from the "
        "store are computed for the run.",
    )
    t.add_argument("store", help="the region store (.zarr)")
    t.add_argument(
        "--model",
        default="lacnn",
        help="model name: naive, llr, nn, lann, cnn, lacnn, or another of xlandslide.models.MODELS",
    )
    t.add_argument("--out", required=True, help="checkpoint path (.pt)")
    add_training_options(t)
    t.add_argument(
        "--core",
        type=int,
        default=None,
        help="patch core, pixels (default: the paper's 500, or the largest core leaving at "
        "least 3 patches in each split of a small region)",
    )
    t.add_argument("--halo", type=int, default=None, help=f"patch halo, pixels (default: {HALO})")
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
    t.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    t.add_argument(
        "--split",
        default=None,
        help="patch split JSON: reused when it exists, else written there "
        "(default: next to the checkpoint, MODEL.split.json)",
    )

    t.set_defaults(func=train)

    r = sub.add_parser("predict", help="write a susceptibility map")
    r.add_argument("store", help="the region store (.zarr)")
    r.add_argument("model", help="a checkpoint written by `train` (.pt)")
    r.add_argument("--out", required=True, help="output .zarr or .tif")
    r.add_argument("--overwrite", action="store_true", help="replace a map xlandslide wrote")
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue a map (.zarr or .tif) whose write was killed: only the missing blocks "
        "are computed",
    )
    r.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA if any)")
    r.add_argument(
        "--core",
        type=int,
        default=None,
        help="prediction tile core, pixels (CNN, LACNN; default: the training core)",
    )
    r.add_argument(
        "--block-size", type=int, default=None, help="block side, pixels (default: 1024)"
    )
    r.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="tiles per forward call (default: 4 on CPU, sized to GPU memory on CUDA)",
    )
    r.set_defaults(func=predict)


def train(args) -> int:
    import warnings

    from ..checkpoint import load_model
    from ..io import open_region
    from ..io.atomic import check_writable
    from ..models import canonical_name, model_entry

    name = canonical_name(args.model)
    entry = model_entry(name)
    check_device(args.device)
    split = Path(args.split) if args.split else Path(args.out).with_suffix(".split.json")
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
            f"the {name} model is not trained: --resume, --save-every and --warm-start do not "
            "apply to it"
        )
    region = open_region(args.store, chunks=None)
    config, options, _ = training_settings(name, args)
    kwargs = {}
    if entry.trained:
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
        raise ConfigError(f"the {name} model uses no LLR: --llr does not apply")
    if args.aligned and not entry.needs_offsets:
        raise ConfigError(f"the {name} model reads no aligned features: --aligned does not apply")
    patches = split_patches(region, args, split)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        model = region.landslide.fit(
            name, patches=patches, aligned=args.aligned, checkpoint=args.out, **kwargs
        )
    if model.spec.aligned:
        print(f"aligned features ({len(model.spec.aligned)}): {', '.join(model.spec.aligned)}")
    print(f"wrote {args.out}")
    return degenerate_exit({name: model}, args.keep_degenerate)


def predict(args) -> int:
    from ..checkpoint import load_model
    from ..io import open_region, write_map
    from ..io.atomic import check_writable

    check_output(args.out, {"the region store": args.store, "the model": args.model})
    check_writable(args.out)
    check_device(args.device)
    model = load_model(args.model, device=args.device)
    region = open_region(args.store)
    kwargs = {
        k: v
        for k, v in (
            ("core", args.core),
            ("block_size", args.block_size),
            ("batch_size", args.batch_size),
        )
        if v is not None
    }
    prob = region.landslide.predict(model, **kwargs)
    write_map(prob, args.out, overwrite=args.overwrite, resume=args.resume)
    print(f"wrote {args.out}")
    _check_spread(args.out)
    return 0


def _check_spread(path) -> None:
    """Print the map's deciles; warn when they are flat (a degenerate model's map)."""
    from ..evaluate.zoning import warn_if_flat, zoning_breaks
    from ..io import open_map

    deciles = zoning_breaks(open_map(path), "quantile", 10)
    print("deciles: " + " ".join(f"{d:.4g}" for d in deciles))
    warn_if_flat(deciles, f"the deciles of {path}")
