"""``xlandslide uncertainty``: the mean and spread of several models' maps."""

from __future__ import annotations

from pathlib import Path

from .._progress import dask_progress
from ._cluster import dask_client
from ._common import can_draw, check_figure, check_output, progress
from ._options import OVERWRITE, SCHEDULER, STORE


def register(sub) -> None:
    u = sub.add_parser(
        "uncertainty",
        parents=[STORE, OVERWRITE, SCHEDULER],
        help="mean and sd of several models' maps (.zarr or .tif), and their figure",
        description="Predict with each model and write the per-pixel mean and standard "
        "deviation of their maps, block by block (a bar on a terminal, else a line with the "
        "ETA every ~30 s), then draw them side by side (OUT with .png).",
    )
    u.add_argument("models", nargs="+", help="two or more checkpoints (.pt)")
    u.add_argument(
        "--out",
        required=True,
        help="a map store (.zarr) with the maps 'mean' and 'std', or a Cloud Optimized "
        "GeoTIFF (.tif) with the bands 'mean' and 'std'; the figure goes beside it (OUT "
        "with .png)",
    )
    u.set_defaults(func=uncertainty)


def uncertainty(args) -> int:
    """The command: its outputs refused before any work, then the maps (computed on
    ``--scheduler``'s cluster when given)."""
    from ..io.maps import check_map_output

    out = Path(args.out)
    inputs = {"the region store": args.store}
    inputs.update({f"the model #{i + 1}": m for i, m in enumerate(args.models)})
    check_output(out, inputs)
    check_map_output(out, overwrite=args.overwrite)
    figure = check_figure(out.with_suffix(".png"), inputs, overwrite=args.overwrite)
    with dask_client(args.scheduler):
        return _uncertainty(args, out, figure)


def _uncertainty(args, out: Path, figure: Path) -> int:
    from ..checkpoint import load_model
    from ..evaluate.importance import uncertainty_map
    from ..io import open_region, write_map

    models = [load_model(m) for m in args.models]
    region = open_region(args.store)
    distances = sorted({d for m in models for d in m.spec.distances})
    if distances and not region.landslide.offset_distances():
        region = region.landslide.with_offsets(distances)
    u = uncertainty_map(region, models)
    desc = progress(args, f"uncertainty of {len(models)} models")
    write_map(u, out, overwrite=args.overwrite, progress=desc)
    print(f"wrote {out} (mean and std of {len(models)} models)")
    if can_draw("uncertainty figure"):
        from ..plot import uncertainty_figure

        with dask_progress("uncertainty figure", min_seconds=1.0):
            uncertainty_figure(out, figure, label=region["label"], overwrite=args.overwrite)
        print(f"wrote {figure}")
    return 0
