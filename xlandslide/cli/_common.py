"""Helpers shared by the sub-commands."""

from __future__ import annotations

from pathlib import Path


def same_path(a, b) -> bool:
    """Whether two paths name the same file or folder."""
    return Path(a).resolve() == Path(b).resolve()


def check_output(out, inputs, *, option: str = "--out") -> None:
    """Refuse an output that is, holds or lies inside one of the ``inputs``.

    ``inputs`` maps a description (``"the region store"``) to a path.  Raises
    :class:`~xlandslide.errors.OutputIsInputError` before anything is read or written.
    """
    from ..errors import OutputIsInputError
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
    """A ``--device`` this machine has (a user's mistake otherwise, not a traceback)."""
    if device is None:
        return
    import torch

    from ..errors import ConfigError

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(
            f"--device {device!r} is not a torch device ({err}); use cpu or cuda"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device!r}: CUDA is not available here; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(
            f"--device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )


def check_split_geometry(geometry, args, split) -> None:
    """--core / --halo that disagree with the split being reused are an error, not ignored."""
    from ..errors import ConfigError

    asked = {"--core": (args.core, geometry.core), "--halo": (args.halo, geometry.halo)}
    differ = [f"{k} {v} (the split has {s})" for k, (v, s) in asked.items() if v not in (None, s)]
    if differ:
        raise ConfigError(
            f"the patch split {str(split)!r} exists and is reused, but {', '.join(differ)}; "
            "drop the option to train on that split, or give --split a new path (or delete "
            "that file) to cut patches of the new size"
        )
