"""``xlandslide cv``: spatial cross-validation of models on a region store."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ._cluster import dask_client
from ._common import can_draw, check_device, training_settings
from ._cv_outputs import CV_FIGURE, cv_output, save_cv_models, write_csv
from ._options import OVERWRITE, SCHEDULER, TRAINING_PARENTS, add_chain

FOLD_CHOICES = ("kmeans", "blocks", "random")


def register(sub) -> None:
    c = sub.add_parser(
        "cv",
        parents=[*TRAINING_PARENTS, OVERWRITE, SCHEDULER],
        help="spatial cross-validation of models on a region store",
        description="Train and score each model on each spatial fold (a per-fold and a mean "
        "± sd table) and draw the CV figure (OUT/cv.png: every fold's ROC curve beside the "
        "fold map). Progress: one line per fold and model, the training's per-epoch lines "
        "and per-batch progress, a line with the ETA for each long computation.",
    )
    c.add_argument("--models", nargs="+", default=["llr"], help="model names, e.g. llr lann lacnn")
    c.add_argument(
        "--out", required=True, help="folder: cv_table.csv, cv_summary.csv, folds.json, cv.png"
    )
    c.add_argument(
        "--folds",
        default="kmeans",
        help="kmeans, blocks or random, or a folds JSON written by an earlier run",
    )
    c.add_argument("--k", type=int, default=5, help="number of folds")
    c.add_argument(
        "--buffer",
        type=float,
        default=0.0,
        help="metres around each test fold excluded from training",
    )
    c.add_argument(
        "--block-size",
        type=float,
        default=None,
        help="--folds blocks: block side, metres (required there)",
    )
    c.add_argument("--compare-random", action="store_true", help="also random folds, beside")
    c.add_argument(
        "--save-models",
        action="store_true",
        help="also write every fold's model (OUT/models/MODEL_foldF.pt, one per seed) and each "
        "model's out-of-fold map (OUT/oof_MODEL.zarr): inputs of `uncertainty`, `zone`",
    )
    add_chain(c)
    c.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=None,
        help="seeds of an ensemble per fold (default: --seed alone; points preset: 3 seeds)",
    )
    c.add_argument(
        "--accept-margin",
        type=float,
        default=None,
        metavar="Z",
        help="a network replaces its warm start (the fold's LLR) only when it beats it on the "
        "validation pixels by more than Z standard errors (points preset: 2)",
    )
    c.set_defaults(func=cv)


def _folds(region, args):
    from ..patches.folds import SpatialFolds, check_fold_support, spatial_folds

    if Path(args.folds).suffix == ".json":
        folds = SpatialFolds.from_json(args.folds)
        check_fold_support(folds)  # as spatial_folds does for new folds
        return folds
    if args.folds not in FOLD_CHOICES:
        raise ConfigError(
            f"--folds {args.folds!r}: use kmeans, blocks, random or a folds JSON file"
        )
    return spatial_folds(
        region, args.folds, k=args.k, seed=args.seed, buffer=args.buffer, block_size=args.block_size
    )


def _geometry(region, args):
    """The patches' geometry: ``None`` (cross_validate's default,
    :func:`xlandslide.grid.cv_geometry`) unless --core or --halo ask otherwise; each then
    replaces its part of that default (the halo covering the store's offsets)."""
    import dataclasses

    from ..grid import cv_geometry, pixel_size
    from ..region import offset_distances

    if args.core is None and args.halo is None:
        return None
    distances = offset_distances(region)
    default = cv_geometry(distances, pixel_size(region) if distances else 1.0)
    asked = {"core": args.core, "halo": args.halo}
    return dataclasses.replace(default, **{k: v for k, v in asked.items() if v is not None})


def _settings(names, args) -> dict:
    """The keywords of ``cross_validate`` that the options choose."""
    from ..train.presets import POINT_OVERSAMPLE

    configs, options, seeds = {}, {}, {}
    for name in names:
        cfg, opts, member_seeds = training_settings(name, args)
        if cfg is not None:
            configs[name], options[name] = cfg, opts
        if member_seeds is not None:
            seeds[name] = member_seeds
    if args.seeds:
        seeds = {n: tuple(args.seeds) for n in names}
    return {
        "configs": configs,
        "model_configs": options,
        "seeds": seeds or (0,),
        "oversample": POINT_OVERSAMPLE if args.preset == "points" else 5,
        "chain": args.chain,
        "progress": not args.quiet,
    }


def _write_tables(results, folds, out: Path) -> list:
    import pandas as pd

    tables = [res.table.assign(split=label) for label, res in results.items()]
    write_csv(pd.concat(tables), out / "cv_table.csv", index=False)
    summary = pd.concat({label: res.summary() for label, res in results.items()})
    write_csv(summary, out / "cv_summary.csv")
    print(f"wrote {out / 'cv_table.csv'}, {out / 'cv_summary.csv'}, {out / 'folds.json'}")
    return tables


def cv(args) -> int:
    """The command: its outputs refused before any work, then the CV (on ``--scheduler``'s
    cluster when given)."""
    from ..models import canonical_name

    check_device(args.device)
    out = cv_output(args)
    names = [canonical_name(m) for m in args.models]
    with dask_client(args.scheduler) as client:
        return _cv(args, out, names, client)


def _cv(args, out: Path, names, client) -> int:
    import pandas as pd

    from ..io import open_region
    from ..patches.folds import spatial_folds
    from ..workflows.cv import compare, cross_validate

    region = open_region(args.store, chunks=None)
    folds = _folds(region, args)
    kwargs = {"geometry": _geometry(region, args), **_settings(names, args), "client": client}
    out.mkdir(parents=True, exist_ok=True)
    results = {"spatial": cross_validate(region, names, folds, **kwargs)}
    folds.to_json(out / "folds.json")
    print(f"{folds.method} folds (k = {folds.k}, buffer {folds.buffer:g} m): {folds.counts}")
    print(results["spatial"].format())
    for f, names_f in sorted(results["spatial"].aligned.items()):
        print(f"fold {f + 1}: aligned features ({len(names_f)}): {', '.join(names_f)}")
    if args.compare_random:
        rnd = spatial_folds(region, "random", k=folds.k, seed=args.seed)
        results["random"] = cross_validate(region, names, rnd, **kwargs)
        print("random folds:")
        print(results["random"].format())
        print(compare(results).round(3).to_string())
    tables = _write_tables(results, folds, out)
    if can_draw("CV figure"):
        from ..plot import cv_figure

        cv_figure(results["spatial"], out / CV_FIGURE, region=region, overwrite=args.overwrite)
        print(f"wrote {out / CV_FIGURE}")
    if args.save_models:
        save_cv_models(results["spatial"], out, overwrite=args.overwrite, quiet=args.quiet)
    bad = pd.concat(tables)
    bad = bad[bad["degenerate"].astype(bool)]
    for _, row in bad.iterrows():
        print(f"xlandslide: the {row['model']} model of fold {row['fold']} is degenerate")
    if len(bad) and not args.keep_degenerate:
        print("xlandslide: degenerate models in the CV (pass --keep-degenerate to exit 0)")
        return 3
    return 0
