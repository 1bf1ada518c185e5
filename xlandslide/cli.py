"""The ``xlandslide`` command line.

``main(argv=None)`` so tests can drive it.  Sub-commands chain the public functions:

- ``xlandslide demo --out DIR``: the whole pipeline on a built-in synthetic region.
- ``xlandslide synthetic STORE --shape NY NX``: write a synthetic region store.
- ``xlandslide offsets STORE``: add uphill offsets to a region store (new store).
- ``xlandslide train STORE --model lacnn --out MODEL.pt``: train and write a checkpoint
  (and the patch split, ``MODEL.split.json``, unless ``--split`` names one to reuse).
- ``xlandslide predict STORE MODEL.pt --out MAP.zarr|MAP.tif``: write a susceptibility map.
- ``xlandslide evaluate STORE MAP.zarr [--split MODEL.split.json]``: metrics of a map against
  the region's labels (on the test cores of a split when given).
"""

from __future__ import annotations

import argparse
import json
import sys


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="xlandslide",
        description="Landslide susceptibility mapping with locally aligned CNNs (LACNN).",
    )
    p.add_argument("--version", action="version", version=f"xlandslide {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run the whole pipeline on a built-in synthetic region")
    d.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    d.add_argument("--size", type=int, default=None, help="region side in pixels (1024)")
    d.add_argument("--seed", type=int, default=None, help="random seed (0)")
    d.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")

    s = sub.add_parser("synthetic", help="write a synthetic region store")
    s.add_argument("store")
    s.add_argument("--shape", type=int, nargs=2, default=(1024, 1024), metavar=("NY", "NX"))
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--distances", type=float, nargs="*", default=(30, 100, 300))
    s.add_argument("--overwrite", action="store_true")

    t = sub.add_parser("train", help="train a model on a region store")
    t.add_argument("store")
    t.add_argument("--model", default="lacnn", help="llr, nn, lann, cnn or lacnn")
    t.add_argument("--out", required=True, help="checkpoint path (.pt)")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--lr", type=float, default=None)
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--core", type=int, default=500)
    t.add_argument("--halo", type=int, default=64)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default=None)
    t.add_argument(
        "--split",
        default=None,
        help="patch split JSON: reused when it exists, else written there "
        "(default: next to the checkpoint, MODEL.split.json)",
    )

    r = sub.add_parser("predict", help="write a susceptibility map")
    r.add_argument("store")
    r.add_argument("model")
    r.add_argument("--out", required=True, help="output .zarr or .tif")
    r.add_argument("--overwrite", action="store_true")
    r.add_argument("--device", default=None)

    e = sub.add_parser("evaluate", help="NLL and ROC AUC of a map against the labels")
    e.add_argument("store")
    e.add_argument("map", help="a susceptibility .zarr written by `predict`")
    e.add_argument("--split", default=None, help="a patch split JSON; evaluate its test cores")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .demo import DemoConfig, run_demo

        cfg = DemoConfig.quick() if args.quick else DemoConfig()
        overrides = {k: v for k, v in (("size", args.size), ("seed", args.seed)) if v is not None}
        if overrides:
            cfg = cfg.replace(**overrides)
        run_demo(args.out, cfg)
        return 0
    if args.command == "synthetic":
        from .io import write_region
        from .synthetic import synthetic_region

        region = synthetic_region(shape=tuple(args.shape), seed=args.seed)
        if args.distances:
            region = region.landslide.with_offsets(tuple(args.distances))
        write_region(region, args.store, overwrite=args.overwrite)
        print(f"wrote {args.store}")
        return 0
    if args.command == "train":
        from .grid import PatchGeometry
        from .io import open_region
        from .train import TrainConfig, fit

        region = open_region(args.store, chunks=None)
        cfg = TrainConfig.paper(args.model)
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
        cfg = cfg.replace(seed=args.seed, **changes)
        from pathlib import Path

        from .patches import PatchSet, make_patches

        split = Path(args.split) if args.split else Path(args.out).with_suffix(".split.json")
        if split.exists():
            patches = PatchSet.from_json(split)
            print(f"reusing the patch split {split}")
        else:
            patches = make_patches(region, PatchGeometry(args.core, args.halo), seed=args.seed)
            patches.to_json(split)
            print(f"wrote the patch split {split}")
        fit(region, args.model, patches=patches, config=cfg, checkpoint=args.out)
        print(f"wrote {args.out}")
        return 0
    if args.command == "predict":
        from .io import open_region
        from .outputs import write_map
        from .train import load_model

        model = load_model(args.model, device=args.device)
        region = open_region(args.store)
        prob = region.landslide.predict(model)
        write_map(prob, args.out, overwrite=args.overwrite)
        print(f"wrote {args.out}")
        return 0
    if args.command == "evaluate":
        import xarray as xr

        from .evaluate import evaluate
        from .io import open_region

        region = open_region(args.store)
        prob = xr.open_zarr(args.map)["susceptibility"]
        mask = None
        if args.split:
            from .patches import PatchSet

            mask = PatchSet.from_json(args.split).core_mask("test", like=region)
        print(json.dumps(evaluate(prob, region["label"], mask), indent=2))
        return 0
    raise AssertionError(args.command)  # pragma: no cover (argparse enforces the choices)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
