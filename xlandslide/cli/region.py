"""Region sub-commands: ``ingest`` (a region store from real data, driven by a TOML file),
``synthetic`` (a built-in region store) and ``offsets``."""

from __future__ import annotations

from ..errors import StoreExistsError
from ._common import same_path


def register(sub) -> None:
    i = sub.add_parser(
        "ingest",
        help="build a region store from real data (DEM, rasters, coded polygons, labels)",
        description="Build a region store from the layers a TOML file names (the grid, the "
        "layers, the code mappings, the labels); see examples/ecuador.toml.",
    )
    i.add_argument("config", help="the TOML configuration file")
    i.add_argument("--out", default=None, help="the region store (default: the TOML file's out)")
    i.add_argument(
        "--overwrite", action="store_true", help="replace a region store xlandslide wrote"
    )
    i.add_argument("--quiet", action="store_true", help="no progress bars")
    i.set_defaults(func=ingest)

    s = sub.add_parser("synthetic", help="write a synthetic region store")
    s.add_argument("store", help="the region store to write (.zarr)")
    s.add_argument(
        "--shape",
        type=int,
        nargs=2,
        default=(1024, 1024),
        metavar=("NY", "NX"),
        help="rows and columns, pixels",
    )
    s.add_argument("--seed", type=int, default=0, help="seed of the terrain, geology and labels")
    s.add_argument("--pixel-size", type=float, default=10.0, help="pixel side, metres")
    s.add_argument(
        "--distances",
        type=float,
        nargs="*",
        default=(30, 100, 300),
        help="looking distances of the uphill offsets, metres (none given: no offsets)",
    )
    s.add_argument(
        "--overwrite", action="store_true", help="replace a region store xlandslide wrote"
    )
    s.set_defaults(func=synthetic)

    o = sub.add_parser("offsets", help="add uphill offsets to a region store (a new store)")
    o.add_argument("store", help="the input region store (never modified)")
    o.add_argument("--out", required=True, help="the new region store (.zarr)")
    o.add_argument(
        "--distances",
        type=float,
        nargs="+",
        default=(30, 100, 300),
        help="looking distances, metres",
    )
    o.add_argument("--halo", type=int, default=64, help="largest ring radius allowed, pixels")
    o.add_argument(
        "--overwrite", action="store_true", help="replace a region store xlandslide wrote"
    )
    o.set_defaults(func=offsets)


def synthetic(args) -> int:
    from ..io import write_region
    from ..synthetic import synthetic_region

    region = synthetic_region(shape=tuple(args.shape), seed=args.seed, pixel_size=args.pixel_size)
    if args.distances:
        region = region.landslide.with_offsets(tuple(args.distances))
    write_region(region, args.store, overwrite=args.overwrite)
    print(f"wrote {args.store}")
    return 0


def offsets(args) -> int:
    from ..io import open_region, write_region

    if same_path(args.store, args.out):
        raise StoreExistsError(
            f"--out {args.out!r} is the input store; offsets go to a new store (the input is "
            "never replaced): choose another --out"
        )
    region = open_region(args.store)
    region = region.landslide.with_offsets(tuple(args.distances), halo=args.halo)
    write_region(region, args.out, overwrite=args.overwrite)
    print(f"wrote {args.out} (offsets for {list(args.distances)} m)")
    return 0


def ingest(args) -> int:
    from ..io.ingest import ingest_region
    from ..region import feature_layout

    path, region = ingest_region(
        args.config, args.out, overwrite=args.overwrite, progress=not args.quiet
    )
    layout = feature_layout(region)
    build = region.attrs.get("xlandslide_build", {})
    ny, nx = region.sizes["y"], region.sizes["x"]
    print(f"region {ny} x {nx} pixels, CRS {region.rio.crs.to_string()}")
    if layout.continuous:
        print(f"continuous layers: {', '.join(layout.continuous)}")
    for group, classes in layout.groups:
        gaps = build.get("unclassed_pixels", {}).get(group)
        extra = f"; {gaps} valid pixels without a class" if gaps else ""
        print(f"group {group}: {len(classes)} classes{extra}")
    if "valid_pixels" in build:
        print(
            f"{build['valid_pixels']} valid pixels: {build['landslide_pixels']} landslide, "
            f"{build['stable_pixels']} stable, the rest unknown"
        )
    print(f"wrote {path}")
    return 0
