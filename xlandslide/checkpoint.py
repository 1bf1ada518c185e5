"""Checkpoints: :func:`save_model` and :func:`load_model` (nothing else).

A checkpoint is one file written by ``torch.save`` holding a plain dict — the weights (a
state dict of tensors), the :class:`~xlandslide.ModelSpec` as plain values, the training
history, and for a resumable run the training state — so that :func:`load_model` reads it
with ``torch.load(weights_only=True)``, which never runs code from the file.  Files are
written atomically (a temporary sibling, then a rename), and only a checkpoint is ever
replaced.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pickle
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path

from ._device import choose_device
from ._version import package_version
from .errors import CheckpointError, CheckpointNotFoundError, ConfigError, StoreExistsError
from .model import LandslideModel, ModelSpec, check_finite_weights, plain

#: Marker stored in every checkpoint.
FORMAT = "xlandslide-checkpoint"
#: Layout version of the checkpoint dict (2: ModelSpec and compact feature layout).
FORMAT_VERSION = 2


def model_dict(model: LandslideModel, *, extra: Mapping | None = None) -> dict:
    """The checkpoint dict of ``model`` (weights on the CPU plus plain values)."""
    import torch

    state = {k: v.detach().to("cpu").clone() for k, v in model.module.state_dict().items()}
    out = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xlandslide_version": package_version(),
        "torch_version": str(torch.__version__),
        "spec": model.spec.to_dict(),
        "state_dict": state,
        "history": plain(model.history),
    }
    if extra:
        out.update(extra)
    return out


def is_checkpoint_file(path) -> bool:
    """Whether ``path`` is a file written by :func:`save_model` (cheap: nothing unpickled).

    ``torch.save`` writes a zip archive whose ``data.pkl`` member holds the plain values of
    the dict, among them the :data:`FORMAT` marker.
    """
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            member = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
            return member is not None and FORMAT.encode() in archive.read(member)
    except (OSError, zipfile.BadZipFile):
        return False


def _temporaries(path: Path) -> list[Path]:
    """Temporary siblings of ``path`` left by writes that were killed."""
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))


def check_replaceable(path) -> Path:
    """``path`` as a Path if a checkpoint may be written there (nothing, or a checkpoint).

    Raises :class:`~xlandslide.errors.StoreExistsError` for a directory or a foreign file.
    """
    path = Path(path)
    if path.exists() and not is_checkpoint_file(path):
        kind = "a directory" if path.is_dir() else "a file that is not an xlandslide checkpoint"
        raise StoreExistsError(
            f"{str(path)!r} is {kind}; xlandslide replaces only its own checkpoints: choose "
            "another path, or move that one away"
        )
    return path


def write_atomic(obj, path) -> Path:
    """``torch.save(obj)`` to ``path`` atomically; a failure leaves ``path`` untouched.

    The file is written to a temporary sibling (created with the process's umask, like any
    file) and renamed into place.  Temporaries left by killed writes to the same ``path`` are
    removed first.  An existing ``path`` is replaced only when it is an xlandslide checkpoint
    (:func:`is_checkpoint_file`): a foreign file or a directory is refused with
    :class:`~xlandslide.errors.StoreExistsError`; a path inside a region or map store with
    :class:`~xlandslide.errors.OutputIsInputError`.
    """
    import torch

    from .io.atomic import output_errors
    from .io.integrity import refuse_inside_store
    from .io.lock import output_lock

    path = check_replaceable(path)
    refuse_inside_store(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(path):  # one writer (a training run holds it for the whole run)
        for stale in _temporaries(path):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
        try:
            with output_errors(tmp, path), open(tmp, "xb") as fh:
                torch.save(obj, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return path


def save_model(model: LandslideModel, path, *, extra: Mapping | None = None) -> Path:
    """Write ``model`` to the checkpoint file ``path`` atomically; return the path.

    ``extra`` adds entries (tensors or plain values) to the dict, for example the training
    state of a resumable run.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> llr = xlandslide.fit(region, "llr", patches=patches, progress=False)
    >>> path = xlandslide.save_model(llr, pathlib.Path(tempfile.mkdtemp()) / "llr.pt")
    >>> again = xlandslide.load_model(path, device="cpu")
    >>> again.name, again.spec == llr.spec
    ('llr', True)
    """
    if not isinstance(model, LandslideModel):
        raise ConfigError(f"save_model needs a LandslideModel, got {type(model).__name__}")
    return write_atomic(model_dict(model, extra=extra), path)


def read_checkpoint(path) -> dict:
    """The checkpoint dict of ``path``, checked for its format marker and version."""
    import torch

    path = Path(path)
    if not path.exists():
        raise CheckpointNotFoundError(
            f"no checkpoint at {str(path)!r}; check the path, or train one with xlandslide.fit"
        )
    if path.is_dir():
        raise CheckpointError(f"{str(path)!r} is a directory, not a checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if isinstance(err, pickle.UnpicklingError) or "weights_only" in str(err):
            # torch suggests weights_only=False, which would run code from the file: never
            detail = (
                "it holds objects other than tensors and plain values, which xlandslide "
                "never unpickles (that could run code from the file)"
            )
        else:
            first = str(err).splitlines()[0] if str(err) else ""
            detail = f"{type(err).__name__}: {first}"
        raise CheckpointError(
            f"{str(path)!r} is not a readable xlandslide checkpoint ({detail}); write one "
            "with xlandslide.fit(..., checkpoint=path) or save_model"
        ) from err
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is a torch file but not an xlandslide checkpoint (no "
            f"format={FORMAT!r} entry); write one with xlandslide.save_model"
        )
    version = obj.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(
            f"{str(path)!r} has a format_version of {version!r} ({type(version).__name__}); "
            "an xlandslide checkpoint has an integer there: the file is damaged or foreign"
        )
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint layout {version}, newer than this xlandslide reads "
            f"({FORMAT_VERSION}); it was written by xlandslide {obj.get('xlandslide_version')}: "
            "upgrade xlandslide"
        )
    if version < FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint layout {version} (xlandslide "
            f"{obj.get('xlandslide_version')}, one-hot regions); this xlandslide reads layout "
            f"{FORMAT_VERSION}: retrain the model on a region of the compact layout"
        )
    return obj


def _check_shapes(spec: ModelSpec, state, path) -> None:
    """Compare the tensors the spec's module would hold with the stored ones, before the
    module is built: a spec that asks for other (or huge) tensors is refused without
    allocating them (the module is built on torch's ``meta`` device, which holds no data)."""
    import torch

    if not isinstance(state, Mapping):
        raise CheckpointError(
            f"{str(path)!r} has no state dict of weights (got {type(state).__name__}); save it "
            "again with xlandslide.save_model, or retrain"
        )
    with torch.device("meta"):
        module = spec.build_module()
        want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    got = {
        str(k): tuple(v.shape) if isinstance(v, torch.Tensor) else None for k, v in state.items()
    }
    # buffers whose size is the data's (a learner's payload): 1-D uint8 of any length
    for key in getattr(module, "VARIABLE_BUFFERS", ()):
        value = state.get(key)
        if isinstance(value, torch.Tensor) and value.dim() == 1 and value.dtype == torch.uint8:
            want[key] = got[key]
    if want == got:
        return
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    differ = [
        f"{k}: {got[k]} stored, {want[k]} by its spec"
        for k in want
        if k in got and got[k] != want[k]
    ]
    problems = [
        *([f"missing {missing[:3]}"] if missing else []),
        *([f"unexpected {extra[:3]}"] if extra else []),
        *differ[:3],
    ]
    raise CheckpointError(
        f"{str(path)!r} is an inconsistent xlandslide checkpoint: its spec does not match its "
        f"weights ({'; '.join(problems)}); the file is damaged or was edited: save it again "
        "with xlandslide.save_model, or retrain"
    )


def load_model(path, *, device=None) -> LandslideModel:
    """Read a checkpoint written by :func:`save_model` (or :func:`xlandslide.fit`).

    Parameters
    ----------
    path : str or path-like
        The checkpoint file.
    device : str or torch.device, optional
        Where to put the module (default: CUDA when available, else the CPU).

    Raises
    ------
    CheckpointNotFoundError
        No file at ``path`` (also a :class:`FileNotFoundError`).
    CheckpointError
        Not an xlandslide checkpoint, a layout this version cannot read, fields of the wrong
        type, or weights that are not finite.
    ConfigError
        A ``device`` torch does not know or cannot use.

    Notes
    -----
    The file is read with ``torch.load(weights_only=True)``: only tensors and plain Python
    values are unpickled, never arbitrary objects.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> naive = xlandslide.fit(region, "naive", patches=patches)
    >>> path = xlandslide.save_model(naive, Path(tempfile.mkdtemp()) / "naive.pt")
    >>> model = xlandslide.load_model(path, device="cpu")
    >>> model.name, model.spec == naive.spec, str(model.device)
    ('naive', True, 'cpu')
    >>> xlandslide.load_model(path.parent / "missing.pt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xlandslide.errors.CheckpointNotFoundError: ...
    """

    obj = read_checkpoint(path)
    try:
        spec = ModelSpec.from_dict(obj["spec"])
        _check_shapes(spec, obj["state_dict"], path)
        module = spec.build_module()
        module.load_state_dict(obj["state_dict"], strict=True)
        history = obj.get("history") or {}
        if not isinstance(history, Mapping):
            raise ConfigError(f"history must be a mapping, got {type(history).__name__}")
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        detail = " ".join(str(err).split())  # torch's messages span lines
        raise CheckpointError(
            f"{str(path)!r} is an incomplete or inconsistent xlandslide checkpoint "
            f"({type(err).__name__}: {detail}); save it again with xlandslide.save_model, "
            "or retrain"
        ) from err
    bad = check_finite_weights(module)
    if bad:
        raise CheckpointError(
            f"{str(path)!r} holds weights that are not finite ({', '.join(bad[:3])}"
            f"{' ...' if len(bad) > 3 else ''}): the training diverged; retrain with a lower "
            "learning rate"
        )
    module.to(choose_device(device))
    return LandslideModel(module, spec, history=history)


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "check_replaceable",
    "is_checkpoint_file",
    "load_model",
    "read_checkpoint",
    "save_model",
]
