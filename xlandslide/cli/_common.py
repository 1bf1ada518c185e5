"""Helpers shared by the sub-commands."""

from __future__ import annotations

from pathlib import Path

from .._device import choose_device
from ..errors import ConfigError, OutputIsInputError


def same_path(a, b) -> bool:
    """Whether two paths name the same file or folder."""
    return Path(a).resolve() == Path(b).resolve()


def check_output(out, inputs, *, option: str = "--out") -> None:
    """Refuse an output that is, holds or lies inside one of the ``inputs``.

    ``inputs`` maps a description (``"the region store"``) to a path.  Raises
    :class:`~xlandslide.errors.OutputIsInputError` before anything is read or written.
    """
    from ..io.atomic import overlaps

    for what, path in inputs.items():
        if path is None:
            continue
        if overlaps(out, path):
            relation = (
                "is"
                if same_path(out, path)
                else "lies inside"
                if Path(path).resolve() in Path(out).resolve().parents
                else "holds"
            )
            raise OutputIsInputError(
                f"{option} {str(out)!r} {relation} {what} {str(path)!r}, which is never "
                f"replaced or written into; choose another {option}"
            )


def check_device(device) -> None:
    """A ``--device`` this machine has (a user's mistake otherwise, not a traceback):
    :func:`xlandslide._device.choose_device`, worded for the command line by ``main``."""
    if device is not None:
        choose_device(device)


def training_settings(name: str, args) -> tuple:
    """``(TrainConfig or None, model options, seeds or None)`` of model ``name`` from the
    training options (:data:`xlandslide.cli._options.TRAINING`): the config through
    :meth:`xlandslide.TrainConfig.from_options`, the model options and seeds of the preset
    (:func:`xlandslide.train.presets.point_inventory`; the paper's networks without the
    package's additions, :data:`~xlandslide.train.presets.DEFAULT_MODEL_CONFIG`)."""
    from ..models import model_entry
    from ..train import TrainConfig
    from ..train.presets import DEFAULT_MODEL_CONFIG, point_inventory

    entry = model_entry(name)
    if not entry.trained:
        return None, {}, None
    config = TrainConfig.from_options(name, args)
    if entry.backend != "torch":  # fitted on a pixel table: no model options to choose
        return config, {}, None
    options, seeds = {}, None
    if args.preset == "points":
        p = point_inventory(name)
        options, seeds = dict(p["model_config"]), p["seeds"]
    elif args.preset == "paper":  # the networks as published: no linear path, no norm
        added = DEFAULT_MODEL_CONFIG.get(entry.name, {})
        options = {k: (None if k == "norm" else False) for k in added}
    if args.base_width is not None and not entry.pixelwise:
        options["base_width"] = args.base_width
    return config, options, seeds


def progress(args, desc: str):
    """``progress=`` of a library call: ``desc``, or ``False`` with ``--quiet``."""
    return False if args.quiet else desc


def degenerate_exit(models, keep: bool) -> int:
    """0, or 3 after one line per degenerate model (unless ``keep``)."""
    from ..train.quality import is_degenerate

    bad = [name for name, m in models.items() if is_degenerate(m)]
    if not bad:
        return 0
    for name in bad:
        print(
            f"xlandslide: the {name} model is degenerate (see the warning above); it was "
            "written all the same: pass --keep-degenerate to accept it, or change the "
            "settings (--lr, --epochs, --preset default)"
        )
    return 0 if keep else 3


def check_split_geometry(geometry, args, split) -> None:
    """--core / --halo that disagree with the split being reused are an error, not ignored."""

    asked = {"--core": (args.core, geometry.core), "--halo": (args.halo, geometry.halo)}
    differ = [f"{k} {v} (the split has {s})" for k, (v, s) in asked.items() if v not in (None, s)]
    if differ:
        raise ConfigError(
            f"the patch split {str(split)!r} exists and is reused, but {', '.join(differ)}; "
            "drop the option to train on that split, or give --split a new path (or delete "
            "that file) to cut patches of the new size"
        )


def split_patches(region, args, split, *, write: bool = True):
    """The patch split at ``split`` when it exists (checked against ``--core``/``--halo``),
    else a new one: ``--core`` (default: the largest that leaves 3 patches per split,
    :func:`xlandslide.grid.geometry_for`, said in one line) and ``--halo``, written to
    ``split`` when ``write``."""
    from pathlib import Path

    from ..grid import HALO, PatchGeometry, geometry_for
    from ..patches import PatchSet, make_patches

    if split is not None and Path(split).exists():
        patches = PatchSet.from_json(split)
        check_split_geometry(patches.geometry, args, split)
        print(f"reusing the patch split {split}")
        return patches
    halo = HALO if args.halo is None else args.halo
    if args.core is None:
        geometry, why = geometry_for((region.sizes["y"], region.sizes["x"]), halo)
        if why:
            print(f"xlandslide: {why} (--core sets it)")
    else:
        geometry = PatchGeometry(args.core, halo)
    patches = make_patches(region, geometry, seed=args.seed)
    if split is not None and write:
        patches.to_json(split)
        print(f"wrote the patch split {split}")
    return patches


def can_draw(what: str) -> bool:
    """Whether matplotlib is installed to draw ``what``; when not, one line saying that the
    figure is left out (the command's other outputs do not need it)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            f"xlandslide: no {what}: matplotlib is not installed "
            "(pip install 'xlandslide[plot]' to draw it)"
        )
        return False
    return True


def check_figure(path, inputs, *, overwrite: bool, option: str = "--out") -> Path:
    """A figure output, refused before any work: a ``.png`` that is no input, absent or
    (with --overwrite) a figure xlandslide wrote.  Returns it as a Path."""
    from ..io.atomic import check_outputs, replaceable_figure

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"{option} {str(path)!r}: a figure is written as a .png file")
    check_output(path, inputs, option=option)
    check_outputs({path: replaceable_figure}, overwrite=overwrite)
    return path
