"""``xlandslide predict``: write a susceptibility map of a region store."""

from __future__ import annotations

from ..plot.decor import STRETCHES
from ._cluster import dask_client
from ._common import check_device, check_figure, check_output, progress
from ._options import DEVICE, OVERWRITE, SCHEDULER, STORE


def register(sub) -> None:
    r = sub.add_parser(
        "predict",
        parents=[STORE, DEVICE, OVERWRITE, SCHEDULER],
        help="write a susceptibility map",
        description="Write a model's susceptibility map of a region store, block by block "
        "(a bar on a terminal, else a line with the ETA every ~30 s), then print its deciles; "
        "with --figure, draw it.",
    )
    r.add_argument("model", help="a checkpoint written by `train` (.pt)")
    r.add_argument("--out", required=True, help="output .zarr or .tif")
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue a map (.zarr or .tif) whose write was killed: only the missing blocks "
        "are computed",
    )
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
    r.add_argument(
        "--figure",
        default=None,
        metavar="PNG",
        help="also draw the map (.png): the probabilities (--stretch) with the base rate "
        "marked on the colour bar, beside the landslide inventory; axes in the CRS's units, "
        "scale bar and north arrow",
    )
    r.add_argument(
        "--stretch",
        choices=STRETCHES,
        default="log",
        help="--figure's colour scale: log, logarithmic between the 2nd and 98th "
        "percentiles (a map of rare landslides spans decades); percentile, linear between "
        "them; linear, from 0 to the maximum",
    )
    r.set_defaults(func=predict)


def predict(args) -> int:
    """The command: its outputs refused before any work, then the map (computed on
    ``--scheduler``'s cluster when given)."""
    from ..io.atomic import check_writable

    inputs = {"the region store": args.store, "the model": args.model}
    check_output(args.out, inputs)
    check_writable(args.out)
    if args.figure is not None:
        inputs["the map (--out)"] = args.out
        check_figure(args.figure, inputs, overwrite=args.overwrite, option="--figure")
        from ..plot._base import _figure_class

        _figure_class()  # matplotlib, asked for: refused before any work when missing
    check_device(args.device)
    with dask_client(args.scheduler):
        return _predict(args)


def _predict(args) -> int:
    from ..checkpoint import load_model
    from ..io import open_region, write_map

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
    write_map(
        prob,
        args.out,
        overwrite=args.overwrite,
        resume=args.resume,
        progress=progress(args, f"predicting {model.name}"),
    )
    print(f"wrote {args.out}")
    _check_spread(args.out)
    if args.figure is not None:
        from .._progress import dask_progress
        from ..plot import susceptibility_figure

        with dask_progress("map figure", min_seconds=1.0):
            susceptibility_figure(
                args.out,
                args.figure,
                label=region["label"],
                title=f"landslide susceptibility: {model.name}",
                stretch=args.stretch,
                overwrite=args.overwrite,
            )
        print(f"wrote {args.figure}")
    return 0


def _check_spread(path) -> None:
    """Print the map's deciles; warn when they are flat (a degenerate model's map)."""
    from ..evaluate.zoning import warn_if_flat, zoning_breaks
    from ..io import open_map

    deciles = zoning_breaks(open_map(path), "quantile", 10)
    print("deciles: " + " ".join(f"{d:.4g}" for d in deciles))
    warn_if_flat(deciles, f"the deciles of {path}")
