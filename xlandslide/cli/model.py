"""Model sub-commands: ``train`` (a checkpoint) and ``predict`` (a susceptibility map)."""

from __future__ import annotations

from pathlib import Path

from ._common import check_device, check_output, check_split_geometry


def register(sub) -> None:
    t = sub.add_parser("train", help="train a model on a region store")
    t.add_argument("store")
    t.add_argument("--model", default="lacnn", help="naive, llr, nn, lann, cnn or lacnn")
    t.add_argument("--out", required=True, help="checkpoint path (.pt)")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--core", type=int, default=None, help="patch core, pixels (500)")
    t.add_argument("--halo", type=int, default=None, help="patch halo, pixels (64)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument("--aligned", nargs="+", default=None, help="aligned feature names")
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
    r.add_argument("store")
    r.add_argument("model")
    r.add_argument("--out", required=True, help="output .zarr or .tif")
    r.add_argument("--overwrite", action="store_true", help="replace a map xlandslide wrote")
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue a map (.zarr or .tif) whose write was killed: only the missing blocks "
        "are computed",
    )
    r.add_argument("--device", default=None)
    r.add_argument("--core", type=int, default=None, help="prediction core (CNN, LACNN)")
    r.add_argument("--block-size", type=int, default=None, help="block side, pixels (1024)")
    r.add_argument("--batch-size", type=int, default=None, help="tiles per forward call")
    r.set_defaults(func=predict)


#: Patch geometry of ``train`` when neither --core/--halo nor an existing split gives one.
DEFAULT_CORE, DEFAULT_HALO = 500, 64


def train(args) -> int:
    from ..errors import ConfigError, StoreExistsError
    from ..grid import PatchGeometry
    from ..io import open_region
    from ..io.atomic import check_writable
    from ..models import canonical_name, model_needs_offsets
    from ..patches import PatchSet, make_patches
    from ..train import TrainConfig

    name = canonical_name(args.model)
    check_device(args.device)
    split = Path(args.split) if args.split else Path(args.out).with_suffix(".split.json")
    check_output(args.out, {"the region store": args.store})
    check_writable(args.out)  # said now, not after the training
    if not split.exists():  # written by this run
        check_output(split, {"the region store": args.store}, option="--split")
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
    region = open_region(args.store, chunks=None)
    kwargs = {}
    if model_needs_offsets(name) and not region.landslide.offset_distances():
        print(
            "the store holds no uphill offsets: computing them for this run "
            "(`xlandslide offsets STORE --out NEW` stores them once)"
        )
    if model_needs_offsets(name) and not args.aligned:
        # the LLR that chooses the aligned features: Table 1's row, this run's seed/device
        device = {"device": args.device} if args.device is not None else {}
        kwargs["llr_config"] = TrainConfig.paper("llr", seed=args.seed, **device)
    if name != "naive":
        changes = {
            k: v
            for k, v in (
                ("epochs", args.epochs),
                ("lr", args.lr),
                ("batch_size", args.batch_size),
                ("device", args.device),
            )
            if v is not None
        }
        kwargs["config"] = TrainConfig.paper(name, seed=args.seed, **changes)
        kwargs["resume"] = args.out if args.resume else None
        kwargs["save_every"] = args.save_every
    elif args.resume or args.save_every is not None:
        raise ConfigError(
            "the naive model is not trained by gradient descent: --resume and --save-every "
            "do not apply to it"
        )
    if split.exists():
        patches = PatchSet.from_json(split)
        check_split_geometry(patches.geometry, args, split)
        print(f"reusing the patch split {split}")
    else:
        core = DEFAULT_CORE if args.core is None else args.core
        halo = DEFAULT_HALO if args.halo is None else args.halo
        patches = make_patches(region, PatchGeometry(core, halo), seed=args.seed)
        patches.to_json(split)
        print(f"wrote the patch split {split}")
    region.landslide.fit(name, patches=patches, aligned=args.aligned, checkpoint=args.out, **kwargs)
    print(f"wrote {args.out}")
    return 0


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
    return 0
