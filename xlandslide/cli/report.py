"""``xlandslide report``: the paper's Table 2 and Figures 4-6 for all six models."""

from __future__ import annotations

import warnings
from pathlib import Path

from .._progress import dask_progress
from ._cluster import dask_client
from ._common import check_device, check_output, degenerate_exit, split_patches, training_settings
from ._options import SCHEDULER, TRAINING_PARENTS, add_chain


def register(sub) -> None:
    r = sub.add_parser(
        "report",
        parents=[*TRAINING_PARENTS, SCHEDULER],
        help="the paper's Table 2 and Figures 4-6, all six models",
        description="Train the models on one patch split, predict and score them: Table 2, "
        "the ROC curves, the maps and the calibration. Progress: one line per step, the "
        "training's per-epoch lines and per-batch progress, a line with the ETA for each long "
        "computation.",
    )
    r.add_argument("--out", required=True, help="folder: models, maps, table2.csv, figures")
    r.add_argument(
        "--models", nargs="+", default=None, help="model names (default: all six of the paper)"
    )
    r.add_argument("--split", default=None, help="a patch split JSON to reuse")
    add_chain(r)
    r.set_defaults(func=report)


def report(args) -> int:
    """The command: its outputs refused before any work, then the report (its dask
    computations on ``--scheduler``'s cluster when given)."""
    from ..io.integrity import refuse_inside_store

    check_device(args.device)
    check_output(args.out, {"the region store": args.store})
    refuse_inside_store(Path(args.out) / "table2.csv")
    with dask_client(args.scheduler):
        return _report(args)


def _report(args) -> int:
    from ..io import open_region
    from ..workflows.report import PAPER_MODELS, paper_report

    region = open_region(args.store, chunks=None)
    names = args.models or list(PAPER_MODELS)
    configs, options = {}, {}
    for name in names:
        cfg, opts, _ = training_settings(name, args)
        if cfg is not None:
            configs[name], options[name] = cfg, opts
    patches = split_patches(region, args, args.split)
    with warnings.catch_warnings(), dask_progress("report", min_seconds=1.0):
        warnings.simplefilter("always")
        rep = paper_report(
            region,
            patches,
            models=names,
            configs=configs,
            model_configs=options,
            chain=args.chain,
            out=args.out,
            predict_region=open_region(args.store),
            progress=not args.quiet,
        )
    print(rep.format())
    print(f"wrote {args.out}: table2.csv, roc.png, maps.png, calibration.png, models/, maps/")
    return degenerate_exit(rep.models, args.keep_degenerate)
