"""Devices for inference: one forward at a time per device, transfers, mixed precision."""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from .errors import ConfigError

#: One forward at a time per device in a process: torch already uses every core (or the whole
#: GPU) inside one call, so dask's threads must not multiply its threads and activations.
_DEVICE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def device_lock(device) -> threading.Lock:
    """The process-wide lock of ``device`` (see :data:`_DEVICE_LOCKS`)."""
    key = str(device)
    with _LOCKS_GUARD:
        return _DEVICE_LOCKS.setdefault(key, threading.Lock())


def forward_lock(device, module):
    """What a forward of ``module`` on ``device`` holds: the device's lock, or nothing on the
    CPU for a module whose forward runs single-threaded ``nogil`` kernels rather than
    torch's thread pool (``module.CONCURRENT_ON_CPU``: the learners' modules), which dask's
    threads then run side by side."""
    if device.type == "cpu" and getattr(module, "CONCURRENT_ON_CPU", False):
        return contextlib.nullcontext()
    return device_lock(device)


def _to_device(array: np.ndarray, device):
    """A tensor of ``array`` on ``device``: through pinned memory, asynchronously, on CUDA."""
    import torch

    t = torch.from_numpy(array)
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t


def _amp_dtype(device):
    """Mixed precision of inference on CUDA: bfloat16 where supported, else float16."""
    import torch

    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device, dtype):
    """Mixed precision on ``device`` in ``dtype`` (``None``: off): the one ``torch.autocast``
    of inference and training."""
    import torch

    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def choose_device(device):
    """``torch.device`` for a user's ``device`` (``None``: CUDA when available, else the CPU);
    :class:`~xlandslide.errors.ConfigError` naming the fix for one torch does not know or
    this machine does not have."""
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(
            f"unknown device {device!r}: not a torch device ({err}); use cpu or cuda (or cuda:N)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' was asked for but CUDA is not available here (torch sees no "
            "CUDA device); use device='cpu' "
            "or None (automatic)"
        )
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise ConfigError(
                f"device {str(device)!r}: this machine has {count} CUDA device(s); use "
                f"cuda:0 ... cuda:{count - 1}"
            )
    return device


def normalise_device(device):
    """``torch.device`` with an explicit index for CUDA (``cuda`` -> ``cuda:<current>``)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _torch_ready(array, dtype) -> np.ndarray:
    """C-contiguous, writable array of ``dtype`` (torch.from_numpy needs both)."""
    array = np.ascontiguousarray(array, dtype=dtype)
    if not array.flags.writeable:
        array = array.copy()
    return array


def check_finite_weights(module) -> list[str]:
    """Names of the module's tensors that hold NaN or infinite values."""
    import torch

    bad = []
    for key, t in module.state_dict().items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad.append(key)
    return bad


def weights_sha1(module) -> str:
    """SHA-1 of a module's state (every tensor's name and bytes): the same weights, the same
    digest (a model's dask token, the members of an uncertainty map)."""
    import hashlib

    import torch

    digest = hashlib.sha1()
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
        digest.update(raw.numpy().tobytes())
    return digest.hexdigest()


def module_device(module):
    """The torch device a module's weights (or buffers) are on; the CPU when it has none."""
    import torch

    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")
