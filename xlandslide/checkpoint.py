"""Trained models and their checkpoints: :class:`LandslideModel`, :func:`load_model`.

A checkpoint is one file written by ``torch.save`` holding a plain dict — weights (a
state dict of tensors) plus plain Python values (str, int, float, bool, None, lists,
dicts) — so that :func:`load_model` can read it with ``torch.load(weights_only=True)``,
which never runs code from the file.  It carries everything needed to predict: model name
and options, feature names in order, aligned feature names, looking distances (metres),
patch geometry, pixel size, normalisation statistics, the training settings and history,
and the xlandslide version that wrote it.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import CheckpointError, CheckpointMismatchError
from .grid import PatchGeometry

#: Marker stored in every checkpoint.
FORMAT = "xlandslide-checkpoint"
#: Layout version of the checkpoint dict; bumped when the layout changes incompatibly.
FORMAT_VERSION = 1


def _package_version() -> str:
    from . import __version__

    return __version__


def region_normalisation(region) -> dict:
    """The region's ``normalisation`` attrs as a plain dict ``{name: {"mean", "std"}}``."""
    try:
        from .io import get_normalisation
    except ImportError:  # io not available: read the attrs directly
        norm = region.attrs.get("normalisation", {}) or {}
    else:
        norm = get_normalisation(region) or {}
    return {
        str(k): {"mean": float(v["mean"]), "std": float(v["std"])} for k, v in dict(norm).items()
    }


def _plain(value):
    """Convert numpy scalars / tuples / mappings to plain Python types (for weights_only)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class LandslideModel:
    """A trained model with everything needed to apply it to a region.

    Parameters
    ----------
    module : LandslideNet
        The torch module (see :mod:`xlandslide.models`); put in eval mode.
    name : str
        Registry name (``"llr"``, ``"nn"``, ``"lann"``, ``"cnn"``, ``"lacnn"``).
    feature_names : sequence of str
        Input features, in the order of the ``feature`` channels the module expects.
    aligned_names : sequence of str
        Features read at the uphill points (empty for models without aligned features).
    distances : sequence of float
        Looking distances in metres, in the order of the offsets' distance axis.
    geometry : PatchGeometry
        Core and halo the model was trained with (the halo predict must provide).
    pixel_size : float, optional
        Pixel size (map units) of the training region.
    normalisation : dict
        ``{feature: {"mean": float, "std": float}}`` of the training region.
    model_config : dict, optional
        Options of the module (default ``module.config``).
    train_config : dict, optional
        :meth:`TrainConfig.to_dict` of the run that trained it.
    history : dict, optional
        Per-epoch ``train_loss``, ``val_loss``, ``lr``, ``seconds`` lists and more.
    version : str, optional
        xlandslide version that trained it (default: this one).

    Notes
    -----
    :meth:`predict_proba` is safe to call from several threads at once (dask's threaded
    scheduler): it runs under :func:`torch.inference_mode`, which is thread-local, never
    changes global torch settings (``torch.set_num_threads`` is left alone) and keeps one
    copy of the module per device, created once under a lock.
    """

    def __init__(
        self,
        module,
        name: str,
        *,
        feature_names: Sequence[str],
        aligned_names: Sequence[str] = (),
        distances: Sequence[float] = (),
        geometry: PatchGeometry | None = None,
        pixel_size: float | None = None,
        normalisation: Mapping | None = None,
        model_config: Mapping | None = None,
        train_config: Mapping | None = None,
        history: Mapping | None = None,
        version: str | None = None,
    ):
        from .models import canonical_name

        self.module = module.eval()
        self.name = canonical_name(name)
        self.feature_names = tuple(str(n) for n in feature_names)
        self.aligned_names = tuple(str(n) for n in aligned_names)
        self.distances = tuple(float(d) for d in distances)
        self.geometry = geometry if geometry is not None else PatchGeometry()
        self.pixel_size = None if pixel_size is None else float(pixel_size)
        self.normalisation = _plain(dict(normalisation or {}))
        config = module.config if model_config is None else model_config
        self.model_config = _plain(dict(config))
        self.train_config = None if train_config is None else _plain(dict(train_config))
        self.history = _plain(dict(history or {}))
        self.version = version if version is not None else _package_version()
        self._lock = threading.Lock()
        self._replicas: dict = {}

    # -- pickling (dask ships the model to workers): drop the lock and the replicas -------
    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_lock", None)
        state["_replicas"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __dask_tokenize__(self):
        """A deterministic token: the metadata and a hash of the current weights.

        Cheap (one pass over the weights, no pickling), so the lazy map of a model is named
        the same every time, and a model changed in place gets a new name.
        """
        import hashlib

        import torch

        digest = hashlib.sha1()
        for key, tensor in self.module.state_dict().items():
            digest.update(key.encode())
            raw = tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8)
            digest.update(raw.numpy().tobytes())
        meta = (
            self.name,
            self.feature_names,
            self.aligned_names,
            self.distances,
            self.geometry,
            self.pixel_size,
            json.dumps(self.normalisation, sort_keys=True),
            json.dumps(self.model_config, sort_keys=True),
        )
        return ("xlandslide.LandslideModel", repr(meta), digest.hexdigest())

    def __repr__(self) -> str:
        n_params = sum(p.numel() for p in self.module.parameters())
        extra = (
            f", aligned={len(self.aligned_names)}, distances={list(self.distances)}"
            if self.needs_offsets
            else ""
        )
        return (
            f"LandslideModel({self.name!r}, features={len(self.feature_names)}{extra}, "
            f"parameters={n_params}, device={self.device})"
        )

    @property
    def needs_offsets(self) -> bool:
        """Whether the model reads aligned features (``predict_proba`` needs ``offsets``)."""
        return bool(self.module.needs_offsets)

    @property
    def device(self):
        """The torch device the module's weights are on."""
        import torch

        for p in self.module.parameters():
            return p.device
        return torch.device("cpu")

    def to(self, device) -> LandslideModel:
        """Move the module to ``device`` (in place) and return ``self``."""
        import torch

        with self._lock:
            self.module.to(torch.device(device))
            self._replicas = {}
        return self

    def _module_on(self, device):
        if device == self.device:
            return self.module
        with self._lock:
            replica = self._replicas.get(str(device))
            if replica is None:
                replica = copy.deepcopy(self.module).to(device).eval()
                self._replicas[str(device)] = replica
            return replica

    def predict_proba(
        self,
        features: np.ndarray,
        offsets: np.ndarray | None = None,
        *,
        device=None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Landslide probabilities for a batch of patches (numpy in, numpy out).

        Parameters
        ----------
        features : numpy.ndarray
            (B, F, H, W) float32, NaN outside the region, channels in the order of
            :attr:`feature_names`.
        offsets : numpy.ndarray, optional
            (B, D, 2, H, W) int8 uphill offsets for :attr:`distances`; required when
            :attr:`needs_offsets`, ignored otherwise.
        device : str or torch.device, optional
            Where to run (default: the module's device).  Another device gets its own copy
            of the module, made once and reused.
        batch_size : int, optional
            Patches per forward call (default: all B at once).

        Returns
        -------
        numpy.ndarray
            (B, H, W) float32 probabilities in [0, 1] (sigmoid of the logits), also at
            pixels outside the region (mask them with the DEM or the label).
        """
        import torch

        features = np.asarray(features)
        if features.ndim != 4 or features.shape[1] != len(self.feature_names):
            raise ValueError(
                f"features must have shape (B, {len(self.feature_names)}, H, W), "
                f"got {features.shape}"
            )
        features = _torch_ready(features, np.float32)
        b, _, h, w = features.shape
        if self.needs_offsets:
            if offsets is None:
                raise ValueError(
                    f"the {self.name} model needs `offsets` (B, {len(self.distances)}, 2, H, W) "
                    f"int8 for distances {list(self.distances)} m; compute them with "
                    "xlandslide.uphill_offsets(region.dem, distances=model.distances)"
                )
            offsets = np.asarray(offsets)
            expected = (b, len(self.distances), 2, h, w)
            if offsets.shape != expected:
                raise ValueError(f"offsets must have shape {expected}, got {offsets.shape}")
            offsets = _torch_ready(offsets, np.int8)
        else:
            offsets = None
        dev = self.device if device is None else _normalise_device(device)
        module = self._module_on(dev)
        if module.training:
            module.eval()
        step = b if batch_size is None else int(batch_size)
        if step < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        out = np.empty((b, h, w), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, b, max(step, 1)):
                stop = min(b, start + step)
                x = torch.from_numpy(features[start:stop]).to(dev, non_blocking=True)
                o = None
                if offsets is not None:
                    o = torch.from_numpy(offsets[start:stop]).to(dev, non_blocking=True)
                logits = module(x, o)
                out[start:stop] = torch.sigmoid(logits.float()).cpu().numpy()
        return out

    def check_region(self, region, *, require_offsets: bool = True) -> None:
        """Raise :class:`CheckpointMismatchError` unless the model fits ``region``.

        Checks, in order: feature names and order, pixel size, normalisation statistics of
        the continuous features, and (aligned models, when ``require_offsets``) that the
        region holds ``uphill_dy``/``uphill_dx`` for every distance of the model.  Each
        message names the mismatch and the fix.
        """
        from .grid import pixel_size as grid_pixel_size

        if "features" not in region or "feature" not in region["features"].dims:
            raise CheckpointMismatchError(
                "the region has no 'features' variable with a 'feature' dimension; "
                "open it with xlandslide.open_region"
            )
        names = tuple(str(v) for v in region["feature"].values)
        if names != self.feature_names:
            missing = [n for n in self.feature_names if n not in names]
            if missing:
                shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
                raise CheckpointMismatchError(
                    f"the region lacks {len(missing)} feature(s) the model was trained on "
                    f"({shown}); add them to the region or retrain the model on it "
                    "(xlandslide.fit)"
                )
            first = next(
                (i for i, (a, b) in enumerate(zip(names, self.feature_names)) if a != b),
                min(len(names), len(self.feature_names)),
            )
            raise CheckpointMismatchError(
                f"the region's features differ in order or number from the model's "
                f"({len(names)} vs {len(self.feature_names)}; first difference at position "
                f"{first}); select them in the model's order: "
                "region = region.sel(feature=list(model.feature_names))"
            )
        if self.pixel_size is not None:
            px = grid_pixel_size(region)
            if not math.isclose(px, self.pixel_size, rel_tol=1e-6):
                raise CheckpointMismatchError(
                    f"the region's pixel size is {px:g} but the model was trained at "
                    f"{self.pixel_size:g}; resample the region to {self.pixel_size:g} "
                    "(rio.reproject(..., resolution=...)) or retrain the model on it"
                )
        if self.normalisation:
            norm = region_normalisation(region)
            for feat, stats in self.normalisation.items():
                got = norm.get(feat)
                if got is None:
                    raise CheckpointMismatchError(
                        f"the region has no normalisation statistics for {feat!r} (attrs "
                        "'normalisation'); standardise the region with the model's "
                        "statistics (model.normalisation) and record them, or retrain"
                    )
                for key in ("mean", "std"):
                    if not math.isclose(got[key], stats[key], rel_tol=1e-6, abs_tol=1e-12):
                        raise CheckpointMismatchError(
                            f"{feat!r} is standardised with {key} {got[key]:g} in the region "
                            f"but {stats[key]:g} in the model; restandardise the region with "
                            "the model's statistics (model.normalisation) or retrain the "
                            "model on this region"
                        )
        if self.needs_offsets and require_offsets:
            have = []
            if "uphill_dy" in region and "uphill_dx" in region and "distance" in region.coords:
                have = [float(d) for d in region["distance"].values]
            lacking = [d for d in self.distances if not any(math.isclose(d, h) for h in have)]
            if lacking:
                raise CheckpointMismatchError(
                    f"the region lacks uphill offsets (uphill_dy/uphill_dx) for distances "
                    f"{lacking} m that the {self.name} model reads; add them: "
                    "offs = xlandslide.uphill_offsets(region.dem, distances=model.distances); "
                    "region = region.assign(uphill_dy=offs.dy, uphill_dx=offs.dx)"
                )

    def to_dict(self) -> dict:
        """The checkpoint dict (weights on the CPU plus plain values)."""
        import torch

        state = {k: v.detach().to("cpu").clone() for k, v in self.module.state_dict().items()}
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "xlandslide_version": str(self.version),
            "torch_version": str(torch.__version__),
            "name": self.name,
            "model_config": self.model_config,
            "state_dict": state,
            "feature_names": list(self.feature_names),
            "aligned_names": list(self.aligned_names),
            "distances": list(self.distances),
            "geometry": {"core": int(self.geometry.core), "halo": int(self.geometry.halo)},
            "pixel_size": self.pixel_size,
            "normalisation": self.normalisation,
            "train_config": self.train_config,
            "history": self.history,
        }

    def save(self, path) -> Path:
        """Write the checkpoint to ``path`` atomically (temporary file, then rename).

        A failure leaves any existing file at ``path`` untouched and no temporary file.
        Returns the path.
        """
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(self.to_dict(), fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return path


def _normalise_device(device):
    """``torch.device`` with an explicit index for CUDA (``cuda`` -> ``cuda:<current>``)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _torch_ready(array: np.ndarray, dtype) -> np.ndarray:
    """C-contiguous, writable array of ``dtype`` (torch.from_numpy needs both)."""
    array = np.ascontiguousarray(array, dtype=dtype)
    if not array.flags.writeable:
        array = array.copy()
    return array


def load_model(path, *, device=None) -> LandslideModel:
    """Read a checkpoint written by :meth:`LandslideModel.save` (or :func:`xlandslide.fit`).

    Parameters
    ----------
    path : str or path-like
        The checkpoint file.
    device : str or torch.device, optional
        Where to put the module (default: CUDA when available, else the CPU).

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CheckpointError
        The file is not an xlandslide checkpoint, or one this version cannot read.

    Notes
    -----
    The file is read with ``torch.load(weights_only=True)``: only tensors and plain Python
    values are unpickled, never arbitrary objects.
    """
    import torch

    from .models import build_model

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    if path.is_dir():
        raise CheckpointError(f"{str(path)!r} is a directory, not a checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{str(path)!r} is not a readable xlandslide checkpoint "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
            "write one with xlandslide.fit(..., checkpoint=path) or LandslideModel.save"
        ) from err
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(
            f"{str(path)!r} is a torch file but not an xlandslide checkpoint (no "
            f"format={FORMAT!r} entry); write one with LandslideModel.save"
        )
    version = obj.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{str(path)!r} has checkpoint layout {version!r}, newer than this xlandslide "
            f"reads ({FORMAT_VERSION}); it was written by xlandslide "
            f"{obj.get('xlandslide_version')}: upgrade xlandslide"
        )
    try:
        feature_names = list(obj["feature_names"])
        distances = list(obj["distances"])
        module = build_model(
            obj["name"],
            len(feature_names),
            feature_names=feature_names,
            aligned_names=list(obj["aligned_names"]),
            n_distances=len(distances),
            **dict(obj["model_config"]),
        )
        module.load_state_dict(obj["state_dict"], strict=True)
        geometry = PatchGeometry(**obj["geometry"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"{str(path)!r} is an incomplete or inconsistent xlandslide checkpoint "
            f"({type(err).__name__}: {err})"
        ) from err
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    module.to(torch.device(device))
    return LandslideModel(
        module,
        obj["name"],
        feature_names=feature_names,
        aligned_names=obj["aligned_names"],
        distances=distances,
        geometry=geometry,
        pixel_size=obj.get("pixel_size"),
        normalisation=obj.get("normalisation"),
        model_config=obj["model_config"],
        train_config=obj.get("train_config"),
        history=obj.get("history"),
        version=obj.get("xlandslide_version"),
    )
