"""``xlandslide zone``: susceptibility classes of a map (a classed GeoTIFF, a zoning table)."""

from __future__ import annotations

from pathlib import Path

from .._progress import dask_progress
from ..errors import ConfigError
from ._cluster import dask_client
from ._common import can_draw, check_figure, check_output
from ._options import FOREIGN, OVERWRITE, SCHEDULER

#: The first columns of the zoning table (:func:`xlandslide.zoning_table`).
ZONING_HEADER = "class,name,lower,upper,"


def register(sub) -> None:
    z = sub.add_parser(
        "zone",
        parents=[FOREIGN, OVERWRITE, SCHEDULER],
        help="susceptibility classes of a map (a classed GeoTIFF)",
        description="Class a susceptibility map (breaks from its values, or given) into a "
        "classed GeoTIFF with its colour table and its figure (OUT with .png: the classed map "
        "and, with --store, the landslide density per class) and, with --store, the zoning "
        "table (area and landslides per class). Long computations print a line with the ETA.",
    )
    z.add_argument("map", help="a susceptibility map (.zarr or .tif)")
    z.add_argument(
        "--out",
        required=True,
        help="the classed GeoTIFF (.tif); its figure goes beside it (OUT with .png)",
    )
    z.add_argument(
        "--method",
        default="quantile",
        choices=("quantile", "natural_breaks", "equal_interval"),
        help="how the class breaks are chosen (ignored with --breaks)",
    )
    z.add_argument("--classes", type=int, default=None, help="number of classes (default: 5)")
    z.add_argument(
        "--breaks",
        type=float,
        nargs="+",
        default=None,
        help="inner thresholds, probabilities in [0, 1], increasing",
    )
    z.add_argument("--store", default=None, help="a region store: adds the zoning table")
    z.add_argument("--table", default=None, help="zoning table CSV (default: OUT with .csv)")
    z.set_defaults(func=zone)


def _check(args, out: Path) -> Path | None:
    """The outputs and settings, refused before any work; returns the table's path."""
    from ..io.atomic import check_outputs, replaceable_table
    from ..io.classed import check_classed_output

    inputs = {"the map": args.map, "the region store": args.store}
    check_output(out, inputs)
    check_classed_output(out, overwrite=args.overwrite)
    check_figure(out.with_suffix(".png"), inputs, overwrite=args.overwrite)
    if args.table and not args.store:
        raise ConfigError("--table is the zoning table, which needs --store (the labels)")
    path = None
    if args.store:
        path = Path(args.table) if args.table else out.with_suffix(".csv")
        check_output(path, inputs, option="--table")
        if path.suffix.lower() != ".csv":
            raise ConfigError(f"--table {str(path)!r}: the zoning table is a .csv file")
        check_outputs({path: replaceable_table(ZONING_HEADER)}, overwrite=args.overwrite)
    if args.breaks and args.classes is not None and args.classes != len(args.breaks) + 1:
        raise ConfigError(
            f"--classes {args.classes} and {len(args.breaks)} --breaks ({len(args.breaks) + 1} "
            "classes) disagree: give one of them"
        )
    return path


def zone(args) -> int:
    """The command: its outputs refused before any work, then the classes (computed on
    ``--scheduler``'s cluster when given)."""
    out = Path(args.out)
    path = _check(args, out)
    with dask_client(args.scheduler):
        return _zone(args, out, path)


def _zone(args, out: Path, path: Path | None) -> int:
    from ..evaluate.zoning import zoning, zoning_table
    from ..io import open_map, open_region
    from ..io.atomic import atomic_output, replaceable_table
    from ..io.classed import write_classed
    from ..plot import zoning_figure

    prob = open_map(args.map, foreign=args.foreign)
    classes = 5 if args.classes is None else args.classes
    with dask_progress("zone", min_seconds=1.0):
        zones = zoning(prob, args.method, classes, breaks=args.breaks)
        write_classed(zones, out, overwrite=args.overwrite)
    print(f"wrote {args.out} ({zones.attrs['method']} breaks {zones.attrs['breaks']})")
    label = table = None
    if path is not None:
        label = open_region(args.store)["label"]
        with dask_progress("zoning table", min_seconds=1.0):
            table = zoning_table(zones, label)
        replaceable = replaceable_table(ZONING_HEADER)
        with atomic_output(path, overwrite=args.overwrite, replaceable=replaceable) as tmp:
            table.to_csv(tmp, index=False)
        cols = ["name", "area_km2", "area_pct", "landslide_pct", "frequency_ratio"]
        print(table[cols].round(3).to_string(index=False))
        print(f"wrote {path}")
    if can_draw("zoning figure"):
        with dask_progress("zoning figure", min_seconds=1.0):
            figure = zoning_figure(
                zones, out.with_suffix(".png"), label=label, table=table, overwrite=args.overwrite
            )
        print(f"wrote {figure}")
    return 0
