"""The training state a resumable run reads back: checked before anything is restored.

:func:`read_resume` reads the ``training_state`` of a checkpoint written by
:func:`xlandslide.fit` (``checkpoint=``) and refuses, with a
:class:`~xlandslide.errors.CheckpointError` that says why, one of another model or settings,
or one whose fields are missing, of the wrong type or not finite.
"""

from __future__ import annotations

from ..errors import CheckpointError, ConfigError, ResumeError
from ..model import ModelSpec
from .config import TrainConfig


def read_resume(path, spec: ModelSpec, config: TrainConfig, *, data: str | None = None) -> dict:
    """The training state of the checkpoint ``path``, checked against this run.

    ``data``: the identity of this run's region (:func:`~xlandslide.io.identity.region_identity`);
    a state recorded on other data raises :class:`~xlandslide.errors.ResumeError` (a state
    that records none, of an earlier version, is not checked).
    """
    from ..checkpoint import read_checkpoint

    obj = read_checkpoint(path)
    state = obj.get("training_state")
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{str(path)!r} holds a model but no training state to resume from (it was not "
            "written by fit(..., checkpoint=...) of this version); train anew"
        )
    missing = sorted(
        {"spec", "config", "module", "optimizer", "scheduler", "epoch", "batch"} - set(state)
    )
    if missing:
        raise CheckpointError(
            f"{str(path)!r} holds an incomplete training state (no {missing}); train anew"
        )
    mine, theirs = spec.to_dict(), dict(state["spec"])
    mine.pop("version"), theirs.pop("version", None)
    if mine != theirs:
        diff = sorted(k for k in mine if mine[k] != theirs.get(k))
        raise CheckpointError(
            f"cannot resume from {str(path)!r}: its model differs from this run's in {diff}; "
            "resume with the same model, region, patches and settings"
        )
    try:
        theirs_config = TrainConfig.from_dict(state["config"])
    except (ConfigError, TypeError) as err:
        raise CheckpointError(
            f"{str(path)!r} holds a training state with unreadable settings ({err}); train anew"
        ) from None
    if theirs_config != config:
        raise CheckpointError(
            f"cannot resume from {str(path)!r}: it was trained with other settings "
            f"({state['config']}); resume with the same TrainConfig"
        )
    _check_state(path, state)
    theirs_data = state.get("data")
    if data is not None and theirs_data is not None and theirs_data != data:
        raise ResumeError(
            f"cannot resume from {str(path)!r}: it was trained on other data (another "
            "region, or a store whose labels or statistics changed since); resume on the "
            "region it was trained on, or train anew (without resume, or with another "
            "checkpoint path)"
        )
    return state


def _check_state(path, state: dict) -> None:
    """The fields of a training state have the types and values a run can restart from."""
    import torch

    problems = []
    for key, low in (("epoch", 1), ("batch", 0), ("best_epoch", 0), ("since_best", 0)):
        value = state.get(key, low)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            problems.append(f"{key} = {value!r} (an integer >= {low} was expected)")
    for key in ("module", "optimizer", "scheduler"):
        if not isinstance(state.get(key), dict):
            problems.append(f"{key} is a {type(state.get(key)).__name__}, not a dict")
    module = state.get("module")
    if isinstance(module, dict):
        for name, tensor in module.items():
            if not isinstance(tensor, torch.Tensor):
                problems.append(f"module[{name!r}] is not a tensor")
            elif tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                problems.append(f"module[{name!r}] holds values that are not finite")
    rng = state.get("rng")
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
        problems.append("rng is not a torch RNG state (a uint8 tensor)")
    sums = state.get("sums", [0.0, 0.0])
    if not isinstance(sums, (list, tuple)) or len(sums) != 2:
        problems.append(f"sums = {sums!r} (two numbers were expected)")
    if not isinstance(state.get("history", {}), dict):
        problems.append("history is not a dict")
    if problems:
        raise CheckpointError(
            f"cannot resume from {str(path)!r}: its training state is damaged or foreign ("
            f"{'; '.join(problems[:3])}); train anew (or resume from an intact copy)"
        )


__all__ = ["read_resume"]
