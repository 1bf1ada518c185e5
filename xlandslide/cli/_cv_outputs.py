"""The outputs of ``cv`` in its --out folder: checked before any work, written atomically,
replaced only when ``cv`` wrote them (tables, folds, the figure, fold models, out-of-fold
maps)."""

from __future__ import annotations

from pathlib import Path

#: The first line of each file ``cv`` writes in its --out folder.
CV_FILES = {
    "cv_table.csv": "model,fold,",
    "cv_summary.csv": ",model,",
    "folds.json": '{"format": "xlandslide.SpatialFolds"',
}
#: The figure ``cv`` draws in its --out folder (per-fold ROC curves and the fold map).
CV_FIGURE = "cv.png"


def cv_output(args) -> Path:
    """--out of ``cv``, checked before any work: not the region store nor in a store, and
    its files absent (or, with --overwrite, ones cv wrote)."""
    from ..io.atomic import check_outputs, replaceable_figure, replaceable_table
    from ._common import check_output

    out = Path(args.out)
    check_output(out, {"the region store": args.store})
    files = {out / name: replaceable_table(head) for name, head in CV_FILES.items()}
    files[out / CV_FIGURE] = replaceable_figure
    if Path(args.folds).suffix == ".json" and (out / "folds.json").exists():
        if Path(args.folds).resolve() == (out / "folds.json").resolve():
            files.pop(out / "folds.json")  # the folds it reads: written back unchanged
    check_outputs(files, overwrite=args.overwrite)
    return out


def save_cv_models(result, out: Path, *, overwrite: bool, quiet: bool = False) -> None:
    """Every fold's model (each seed of an ensemble) and each model's out-of-fold map."""
    from ..checkpoint import save_model
    from ..io import write_map

    for name, models in result.models.items():
        for f, model in enumerate(models):
            members = getattr(model, "members", [model])
            for i, member in enumerate(members):
                seed = f"_seed{i}" if len(members) > 1 else ""
                save_model(member, out / "models" / f"{name}_fold{f}{seed}.pt")
        path = out / f"oof_{name}.zarr"
        desc = False if quiet else f"out-of-fold map of {name}"
        write_map(result.oof[name], path, overwrite=overwrite, progress=desc)
        print(f"wrote {out / 'models'}/{name}_fold*.pt and {out / f'oof_{name}.zarr'}")


def write_csv(frame, path: Path, **kwargs) -> None:
    """A table of ``cv`` into its (checked) --out folder, atomically."""
    from ..io.atomic import atomic_output, replaceable_table

    check = replaceable_table(CV_FILES[path.name])
    with atomic_output(path, overwrite=True, replaceable=check) as tmp:
        frame.to_csv(tmp, **kwargs)


__all__ = ["CV_FIGURE", "CV_FILES", "cv_output", "save_cv_models", "write_csv"]
