"""``xlandslide synthetic``: write a built-in synthetic region store."""

from __future__ import annotations

from .._progress import dask_progress
from ..grid import PAPER_DISTANCES
from ._common import progress
from ._options import OVERWRITE, SEED


def register(sub) -> None:
    s = sub.add_parser(
        "synthetic", parents=[SEED, OVERWRITE], help="write a synthetic region store"
    )
    s.add_argument("store", help="the region store to write (.zarr)")
    s.add_argument(
        "--shape",
        type=int,
        nargs=2,
        default=(1024, 1024),
        metavar=("NY", "NX"),
        help="rows and columns, pixels",
    )
    s.add_argument("--pixel-size", type=float, default=10.0, help="pixel side, metres")
    s.add_argument(
        "--distances",
        type=float,
        nargs="*",
        default=PAPER_DISTANCES,
        help="looking distances of the uphill offsets, metres (none given: no offsets)",
    )
    s.set_defaults(func=synthetic)


def synthetic(args) -> int:
    from ..io import write_region
    from ..synthetic import synthetic_region

    region = synthetic_region(shape=tuple(args.shape), seed=args.seed, pixel_size=args.pixel_size)
    if args.distances:
        region = region.landslide.with_offsets(tuple(args.distances))
    with dask_progress(progress(args, f"writing {args.store}"), min_seconds=1.0):
        write_region(region, args.store, overwrite=args.overwrite)
    print(f"wrote {args.store}")
    return 0
