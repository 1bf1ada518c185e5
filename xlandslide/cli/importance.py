"""``xlandslide importance``: LLR weights, or the permutation importance of a model."""

from __future__ import annotations

from pathlib import Path

from .._progress import dask_progress
from ..errors import ConfigError
from ._common import can_draw, check_output
from ._options import OVERWRITE, SEED, STORE

#: The first columns of the tables ``importance`` writes (LLR weights, permutation).
IMPORTANCE_HEADERS = ("feature,weight,", "name,kind,importance,")


def register(sub) -> None:
    i = sub.add_parser(
        "importance",
        parents=[STORE, SEED, OVERWRITE],
        help="LLR weights, or permutation importance of a model",
    )
    i.add_argument("model", help="a checkpoint (.pt)")
    i.add_argument(
        "--out",
        required=True,
        help="the importance table (.csv); its bar plot goes beside it (OUT with .png: the "
        "classes present in the region only, coloured by sign and group)",
    )
    i.add_argument("--split", default=None, help="a patch split JSON: score its test cores")
    i.add_argument("--repeats", type=int, default=3, help="shuffles per feature")
    i.add_argument(
        "--metric",
        default="auc",
        choices=("auc", "nll", "pr_auc", "brier"),
        help="the skill whose loss under shuffling is the importance",
    )
    i.set_defaults(func=importance)


def _table(args, model):
    """The importance table, its plot's title and the region (the classes present)."""
    from ..evaluate.importance import llr_weights, permutation_importance
    from ..io import open_region
    from ..models import model_entry
    from ..patches import PatchSet

    region = open_region(args.store)
    mask = None
    if args.split:
        mask = PatchSet.from_json(args.split).core_mask("test", like=region)
    if model_entry(model.name).linear:
        return llr_weights(model), "LLR weights", region
    if model.needs_offsets:
        region = region.landslide.with_offsets(model.spec.distances)
    with dask_progress("importance", min_seconds=1.0):
        table = permutation_importance(
            region, model, mask, n_repeats=args.repeats, seed=args.seed, metric=args.metric
        )
    title = f"{model.name}: permutation importance ({args.metric}, held-out pixels)"
    return table, title, region


def _model_tables(model, out: Path, inputs, overwrite: bool) -> list:
    """The model's own tables (and partial-effect plots) beside ``out``."""
    from ..evaluate.importance import model_tables
    from ..io.atomic import atomic_output, replaceable_table
    from ..plot import plot_partial_effects, save_figure

    written = []
    for kind, frame in model_tables(model).items():
        path = out.with_name(f"{out.stem}.{kind}.csv")
        check_output(path, inputs)
        own = replaceable_table(",".join(map(str, frame.columns)))
        with atomic_output(path, overwrite=overwrite, replaceable=own) as tmp:
            frame.to_csv(tmp, index=False)
        written.append(path)
        if kind == "effects" and len(frame):
            png = path.with_suffix(".png")
            check_output(png, inputs)
            fig = plot_partial_effects(frame, title=f"{model.name}: partial effects")
            save_figure(fig, png, overwrite=overwrite)
            written.append(png)
    return written


def importance(args) -> int:
    from ..checkpoint import load_model
    from ..io.atomic import atomic_output, check_outputs, replaceable_figure, replaceable_table
    from ..plot import importance_figure

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
    table, title, region = _table(args, model)
    with atomic_output(out, overwrite=args.overwrite, replaceable=table_check) as tmp:
        table.to_csv(tmp, index=False)
    drawn = []
    if can_draw("importance figure"):
        with dask_progress("importance figure", min_seconds=1.0):  # the classes present
            importance_figure(table, figure, region=region, title=title, overwrite=args.overwrite)
        drawn.append(figure)
    print(table.round(4).to_string(index=False))
    written = [out, *drawn, *_model_tables(model, out, inputs, args.overwrite)]
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
