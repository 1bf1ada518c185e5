"""``xlandslide offsets``: a new region store with the uphill offsets added."""

from __future__ import annotations

from .._progress import dask_progress
from ..errors import StoreExistsError
from ..grid import HALO, PAPER_DISTANCES
from ._common import progress, same_path
from ._options import OVERWRITE, STORE


def register(sub) -> None:
    o = sub.add_parser(
        "offsets",
        parents=[STORE, OVERWRITE],
        help="add uphill offsets to a region store (a new store)",
        description="Compute the uphill offsets of the looking distances and write a new "
        "region store with them (the input store is never modified). Progress: a bar on a "
        "terminal, else a line with the ETA every ~30 s.",
    )
    o.add_argument("--out", required=True, help="the new region store (.zarr)")
    o.add_argument(
        "--distances",
        type=float,
        nargs="+",
        default=PAPER_DISTANCES,
        help="looking distances, metres",
    )
    o.add_argument("--halo", type=int, default=HALO, help="largest ring radius allowed, pixels")
    o.set_defaults(func=offsets)


def offsets(args) -> int:
    from ..io import open_region, write_region

    if same_path(args.store, args.out):
        raise StoreExistsError(
            f"--out {args.out!r} is the input store; offsets go to a new store (the input is "
            "never replaced): choose another --out"
        )
    region = open_region(args.store)
    region = region.landslide.with_offsets(tuple(args.distances), halo=args.halo)
    with dask_progress(progress(args, f"writing {args.out}"), min_seconds=1.0):
        write_region(region, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out} (offsets for {list(args.distances)} m)")
    return 0
