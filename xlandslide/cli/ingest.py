"""``xlandslide ingest``: a region store from real data, driven by a TOML file."""

from __future__ import annotations

from .._progress import dask_progress
from ._options import OVERWRITE


def register(sub) -> None:
    i = sub.add_parser(
        "ingest",
        parents=[OVERWRITE],
        help="build a region store from real data (DEM, rasters, coded polygons, labels)",
        description="Build a region store from the layers a TOML file names (the grid, the "
        "layers, the code mappings, the labels); see examples/ecuador.toml. Progress: a bar "
        "on a terminal, else a line with the ETA every ~30 s.",
    )
    i.add_argument("config", help="the TOML configuration file")
    i.add_argument("--out", default=None, help="the region store (default: the TOML file's out)")
    i.set_defaults(func=ingest)


def _summary(region) -> None:
    """The region in words: its size and CRS, the continuous layers, per group the classes
    present with their shares and the codes mapped away
    (:func:`xlandslide.io.summary.summary_lines`), the patch count, the labels."""
    from ..io.summary import summary_lines
    from ..region import feature_layout

    layout = feature_layout(region)
    build = region.attrs.get("xlandslide_build", {})
    ny, nx = region.sizes["y"], region.sizes["x"]
    print(f"region {ny} x {nx} pixels, CRS {region.rio.crs.to_string()}")
    if layout.continuous:
        print(f"continuous layers: {', '.join(layout.continuous)}")
    for line in summary_lines(build):
        print(line)
    if "valid_pixels" in build:
        print(
            f"{build['valid_pixels']} valid pixels: {build['landslide_pixels']} landslide, "
            f"{build['stable_pixels']} stable, the rest unknown"
        )


def ingest(args) -> int:
    from ..io.ingest import ingest_region

    with dask_progress("ingest", min_seconds=1.0):
        path, region = ingest_region(args.config, args.out, overwrite=args.overwrite)
    _summary(region)
    print(f"wrote {path}")
    return 0
