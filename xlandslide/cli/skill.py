"""Skill sub-commands: ``evaluate`` (metrics of a map), ``cv`` (spatial cross-validation),
``zone`` (susceptibility classes of a map), ``report`` (the paper's Table 2 and Figures 4-6
for all six models), ``importance`` (LLR weights, permutation importance) and
``uncertainty`` (mean and spread of several models' maps)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import ConfigError
from ._common import add_training_options, degenerate_exit, split_patches, training_settings
from ._cv_outputs import cv_output, save_cv_models, write_csv

FOLD_CHOICES = ("kmeans", "blocks", "random")


def register(sub) -> None:
    e = sub.add_parser("evaluate", help="NLL and ROC AUC of a map against the labels")
    e.add_argument("store", help="the region store whose labels score the map")
    e.add_argument("map", help="a susceptibility map written by `predict` (.zarr or .tif)")
    e.add_argument("--split", default=None, help="a patch split JSON; evaluate its test cores")
    e.add_argument(
        "--foreign",
        action="store_true",
        help="read a map xlandslide did not write (its completeness cannot be checked)",
    )
    e.set_defaults(func=evaluate)

    c = sub.add_parser("cv", help="spatial cross-validation of models on a region store")
    c.add_argument("store", help="the region store (.zarr)")
    c.add_argument("--models", nargs="+", default=["llr"], help="model names, e.g. llr lann lacnn")
    c.add_argument("--out", required=True, help="folder: cv_table.csv, cv_summary.csv, folds")
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
    add_training_options(c)
    c.add_argument("--core", type=int, default=None, help="patch core, pixels (default: 64)")
    c.add_argument(
        "--halo",
        type=int,
        default=None,
        help="patch halo, pixels (default: the largest ring radius, at least 16)",
    )
    c.add_argument(
        "--save-models",
        action="store_true",
        help="also write every fold's model (OUT/models/MODEL_foldF.pt, one per seed) and each "
        "model's out-of-fold map (OUT/oof_MODEL.zarr): inputs of `uncertainty`, `zone`",
    )
    c.add_argument(
        "--no-chain",
        action="store_true",
        help="train the aligned models from scratch instead of from their base's fold model "
        "(the LACNN from the CNN, the LANN from the NN): the ablation",
    )
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
    c.add_argument("--overwrite", action="store_true", help="replace tables xlandslide wrote")
    c.set_defaults(func=cv)

    z = sub.add_parser("zone", help="susceptibility classes of a map (a classed GeoTIFF)")
    z.add_argument("map", help="a susceptibility map (.zarr or .tif)")
    z.add_argument("--out", required=True, help="the classed GeoTIFF (.tif)")
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
    z.add_argument(
        "--foreign",
        action="store_true",
        help="read a map xlandslide did not write (its completeness cannot be checked)",
    )
    z.add_argument("--overwrite", action="store_true", help="replace outputs xlandslide wrote")
    z.set_defaults(func=zone)

    r = sub.add_parser("report", help="the paper's Table 2 and Figures 4-6, all six models")
    r.add_argument("store", help="the region store (.zarr)")
    r.add_argument("--out", required=True, help="folder: models, maps, table2.csv, figures")
    r.add_argument(
        "--models", nargs="+", default=None, help="model names (default: all six of the paper)"
    )
    r.add_argument(
        "--core",
        type=int,
        default=None,
        help="patch core, pixels (default: 500, or the largest leaving 3 patches per split)",
    )
    r.add_argument("--halo", type=int, default=None, help="patch halo, pixels (default: 64)")
    add_training_options(r)
    r.add_argument("--split", default=None, help="a patch split JSON to reuse")
    r.set_defaults(func=report)

    i = sub.add_parser("importance", help="LLR weights, or permutation importance of a model")
    i.add_argument("store", help="the region store (.zarr)")
    i.add_argument("model", help="a checkpoint (.pt)")
    i.add_argument("--out", required=True, help="the importance table (.csv); a bar plot .png")
    i.add_argument(
        "--overwrite", action="store_true", help="replace a table and plot xlandslide wrote"
    )
    i.add_argument("--split", default=None, help="a patch split JSON: score its test cores")
    i.add_argument("--repeats", type=int, default=3, help="shuffles per feature")
    i.add_argument(
        "--metric",
        default="auc",
        choices=("auc", "nll", "pr_auc", "brier"),
        help="the skill whose loss under shuffling is the importance",
    )
    i.add_argument("--seed", type=int, default=0, help="seed of the shuffles")
    i.set_defaults(func=importance)

    u = sub.add_parser("uncertainty", help="mean and sd of several models' maps (.zarr)")
    u.add_argument("store", help="the region store (.zarr)")
    u.add_argument("models", nargs="+", help="two or more checkpoints (.pt)")
    u.add_argument(
        "--out",
        required=True,
        help="a map store (.zarr) with 'mean' and 'std', or a GeoTIFF (.tif) of the mean "
        "beside NAME.std.tif",
    )
    u.add_argument("--overwrite", action="store_true", help="replace maps xlandslide wrote")
    u.set_defaults(func=uncertainty)


def evaluate(args) -> int:
    from ..evaluate import evaluate
    from ..io import open_map, open_region

    region = open_region(args.store)
    prob = open_map(args.map, foreign=args.foreign)
    mask = None
    if args.split:
        from ..patches import PatchSet

        mask = PatchSet.from_json(args.split).core_mask("test", like=region)
    else:
        print(
            "xlandslide: no --split: scoring every labelled pixel, training pixels included "
            "(give the model's split JSON, e.g. --split MODEL.split.json, to score its test "
            "cores)",
            file=sys.stderr,
        )
    print(json.dumps(evaluate(prob, region["label"], mask), indent=2))
    return 0


def cv(args) -> int:
    from ..grid import PatchGeometry
    from ..io import open_region
    from ..models import canonical_name
    from ..patches.folds import SpatialFolds, spatial_folds
    from ..train.presets import POINT_CORE, POINT_OVERSAMPLE
    from ..workflows.cv import compare, cross_validate
    from ._common import check_device

    check_device(args.device)
    out = cv_output(args)
    names = [canonical_name(m) for m in args.models]
    region = open_region(args.store, chunks=None)
    if Path(args.folds).suffix == ".json":
        folds = SpatialFolds.from_json(args.folds)
    elif args.folds in FOLD_CHOICES:
        folds = spatial_folds(
            region,
            args.folds,
            k=args.k,
            seed=args.seed,
            buffer=args.buffer,
            block_size=args.block_size,
        )
    else:
        raise ConfigError(
            f"--folds {args.folds!r}: use kmeans, blocks, random or a folds JSON file"
        )
    configs, options, seeds = {}, {}, {}
    for name in names:
        cfg, opts, member_seeds = training_settings(name, args)
        if cfg is not None:
            configs[name], options[name] = cfg, opts
        if member_seeds is not None:
            seeds[name] = member_seeds
    if args.seeds:
        seeds = {n: tuple(args.seeds) for n in names}
    points = args.preset == "points"
    geometry = None
    if args.core is not None or args.halo is not None or points:
        from ..grid import pixel_size, radius_pixels
        from ..region import offset_distances

        px = pixel_size(region)
        reach = max([16] + [radius_pixels(d, px) for d in offset_distances(region)])
        geometry = PatchGeometry(
            core=args.core or (POINT_CORE if points else 64), halo=args.halo or reach
        )
    kwargs = {
        "geometry": geometry,
        "configs": configs,
        "model_configs": options,
        "seeds": seeds or (0,),
        "oversample": POINT_OVERSAMPLE if points else 5,
        "chain": not args.no_chain,
        "progress": True,
    }
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
    tables = [res.table.assign(split=label) for label, res in results.items()]
    import pandas as pd

    write_csv(pd.concat(tables), out / "cv_table.csv", index=False)
    summary = pd.concat({label: res.summary() for label, res in results.items()})
    write_csv(summary, out / "cv_summary.csv")
    print(f"wrote {out / 'cv_table.csv'}, {out / 'cv_summary.csv'}, {out / 'folds.json'}")
    if args.save_models:
        save_cv_models(results["spatial"], out, overwrite=args.overwrite)
    bad = pd.concat(tables)
    bad = bad[bad["degenerate"].astype(bool)]
    for _, row in bad.iterrows():
        print(f"xlandslide: the {row['model']} model of fold {row['fold']} is degenerate")
    if len(bad) and not args.keep_degenerate:
        print("xlandslide: degenerate models in the CV (pass --keep-degenerate to exit 0)")
        return 3
    return 0


#: The first columns of the zoning table (:func:`xlandslide.zoning_table`).
ZONING_HEADER = "class,name,lower,upper,"


def zone(args) -> int:
    from ..evaluate.zoning import zoning, zoning_table
    from ..io import open_map, open_region
    from ..io.atomic import atomic_output, check_outputs, replaceable_table
    from ..io.classed import check_classed_output, write_classed
    from ._common import check_output

    out = Path(args.out)
    inputs = {"the map": args.map, "the region store": args.store}
    check_output(out, inputs)
    check_classed_output(out, overwrite=args.overwrite)
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
    prob = open_map(args.map, foreign=args.foreign)
    classes = 5 if args.classes is None else args.classes
    zones = zoning(prob, args.method, classes, breaks=args.breaks)
    write_classed(zones, out, overwrite=args.overwrite)
    print(f"wrote {args.out} ({zones.attrs['method']} breaks {zones.attrs['breaks']})")
    if path is not None:
        region = open_region(args.store)
        table = zoning_table(zones, region["label"])
        replaceable = replaceable_table(ZONING_HEADER)
        with atomic_output(path, overwrite=args.overwrite, replaceable=replaceable) as tmp:
            table.to_csv(tmp, index=False)
        cols = ["name", "area_km2", "area_pct", "landslide_pct", "frequency_ratio"]
        print(table[cols].round(3).to_string(index=False))
        print(f"wrote {path}")
    return 0


def report(args) -> int:
    import warnings

    from ..io import open_region
    from ..io.integrity import refuse_inside_store
    from ..workflows.report import PAPER_MODELS, paper_report
    from ._common import check_device, check_output

    check_device(args.device)
    check_output(args.out, {"the region store": args.store})
    refuse_inside_store(Path(args.out) / "table2.csv")
    region = open_region(args.store, chunks=None)
    names = args.models or list(PAPER_MODELS)
    configs, options = {}, {}
    for name in names:
        cfg, opts, _ = training_settings(name, args)
        if cfg is not None:
            configs[name], options[name] = cfg, opts
    patches = split_patches(region, args, args.split)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        rep = paper_report(
            region,
            patches,
            models=names,
            configs=configs,
            model_configs=options,
            out=args.out,
            predict_region=open_region(args.store),
        )
    print(rep.format())
    print(f"wrote {args.out}: table2.csv, roc.png, maps.png, calibration.png, models/, maps/")
    return degenerate_exit(rep.models, args.keep_degenerate)


#: The first columns of the tables ``importance`` writes (LLR weights, permutation).
IMPORTANCE_HEADERS = ("feature,weight,", "name,kind,importance,")


def importance(args) -> int:
    from ..checkpoint import load_model
    from ..evaluate.importance import llr_weights, model_tables, permutation_importance
    from ..io import open_region
    from ..io.atomic import atomic_output, check_outputs, replaceable_figure, replaceable_table
    from ..models import model_entry
    from ..plot import plot_importance, save_figure
    from ._common import check_output

    out = Path(args.out)
    inputs = {"the region store": args.store, "the model": args.model, "the split": args.split}
    figure = out.with_suffix(".png")
    table_check = replaceable_table(*IMPORTANCE_HEADERS)
    for target in (out, figure):
        check_output(target, inputs)
    if out.suffix.lower() != ".csv":
        raise ConfigError(
            f"--out {args.out!r}: the importance table is a CSV file; give a path ending in "
            ".csv (the bar plot goes beside it, .png)"
        )
    check_outputs({out: table_check, figure: replaceable_figure}, overwrite=args.overwrite)
    model = load_model(args.model)
    region = open_region(args.store)
    mask = None
    if args.split:
        from ..patches import PatchSet

        mask = PatchSet.from_json(args.split).core_mask("test", like=region)
    if model_entry(model.name).linear:
        table = llr_weights(model)
        title = "LLR weights"
    else:
        if model.needs_offsets:
            region = region.landslide.with_offsets(model.spec.distances)
        table = permutation_importance(
            region, model, mask, n_repeats=args.repeats, seed=args.seed, metric=args.metric
        )
        title = f"{model.name}: permutation importance ({args.metric}, held-out pixels)"
    with atomic_output(out, overwrite=args.overwrite, replaceable=table_check) as tmp:
        table.to_csv(tmp, index=False)
    save_figure(plot_importance(table, title=title), figure, overwrite=args.overwrite)
    print(table.round(4).to_string(index=False))
    written = [out, figure]
    for kind, frame in model_tables(model).items():
        path = out.with_name(f"{out.stem}.{kind}.csv")
        check_output(path, inputs)
        own = replaceable_table(",".join(map(str, frame.columns)))
        with atomic_output(path, overwrite=args.overwrite, replaceable=own) as tmp:
            frame.to_csv(tmp, index=False)
        written.append(path)
        if kind == "effects" and len(frame):
            from ..plot import plot_partial_effects

            png = path.with_suffix(".png")
            check_output(png, inputs)
            fig = plot_partial_effects(frame, title=f"{model.name}: partial effects")
            save_figure(fig, png, overwrite=args.overwrite)
            written.append(png)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def uncertainty(args) -> int:
    from ..checkpoint import load_model
    from ..evaluate.importance import uncertainty_map
    from ..io import open_region, write_map
    from ..io.maps import check_map_output
    from ._common import check_output

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
    if len(targets) == 1:
        write_map(u, out, overwrite=args.overwrite)
    else:
        for name, target in targets.items():
            write_map(u[name], target, overwrite=args.overwrite)
    written = ", ".join(str(t) for t in targets.values())
    print(f"wrote {written} (mean and std of {len(models)} models)")
    return 0
