"""``xlandslide uncertainty``: the mean and spread of several models' maps."""

from __future__ import annotations

from pathlib import Path

from ._common import check_output, progress
from ._options import OVERWRITE, STORE


def register(sub) -> None:
    u = sub.add_parser(
        "uncertainty",
        parents=[STORE, OVERWRITE],
        help="mean and sd of several models' maps (.zarr)",
        description="Predict with each model and write the per-pixel mean and standard "
        "deviation of their maps, block by block (a bar on a terminal, else a line with the "
        "ETA every ~30 s).",
    )
    u.add_argument("models", nargs="+", help="two or more checkpoints (.pt)")
    u.add_argument(
        "--out",
        required=True,
        help="a map store (.zarr) with 'mean' and 'std', or a GeoTIFF (.tif) of the mean "
        "beside NAME.std.tif",
    )
    u.set_defaults(func=uncertainty)


def uncertainty(args) -> int:
    from ..checkpoint import load_model
    from ..evaluate.importance import uncertainty_map
    from ..io import open_region, write_map
    from ..io.maps import check_map_output

    out = Path(args.out)
    # .zarr: one map store with `mean` and `std`; .tif: the mean, and the sd in NAME.std.tif
    targets = {"mean": out}
    if out.suffix.lower() in (".tif", ".tiff"):
        targets["std"] = out.with_suffix(".std" + out.suffix)
    inputs = {"the region store": args.store}
    inputs.update({f"the model #{i + 1}": m for i, m in enumerate(args.models)})
    for target in targets.values():
        check_output(target, inputs)
        check_map_output(target, overwrite=args.overwrite)
    models = [load_model(m) for m in args.models]
    region = open_region(args.store)
    distances = sorted({d for m in models for d in m.spec.distances})
    if distances and not region.landslide.offset_distances():
        region = region.landslide.with_offsets(distances)
    u = uncertainty_map(region, models)
    desc = progress(args, f"uncertainty of {len(models)} models")
    if len(targets) == 1:
        write_map(u, out, overwrite=args.overwrite, progress=desc)
    else:
        for name, target in targets.items():
            write_map(
                u[name], target, overwrite=args.overwrite, progress=desc and f"{desc}: {name}"
            )
    written = ", ".join(str(t) for t in targets.values())
    print(f"wrote {written} (mean and std of {len(models)} models)")
    return 0
