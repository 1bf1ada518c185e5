"""What a trained model is: :class:`ModelSpec` (everything prediction needs) and
:class:`LandslideModel` (a torch module with its spec).

A :class:`ModelSpec` is frozen and plain: the model's registry name, the feature layout it
reads (continuous layers, categorical groups and their classes), the aligned features and
looking distances, the patch geometry, the pixel size and normalisation of the training
region, the model options, the training settings and the xlandslide version.  The
checkpoint, :func:`xlandslide.fit`, :func:`xlandslide.predict` and the region check
(:func:`xlandslide.validate.check_fits`) all use it instead of loose keyword arguments.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import threading
from collections.abc import Mapping

import numpy as np

from ._device import (
    _amp_dtype,
    _to_device,
    _torch_ready,
    autocast,
    check_finite_weights,
    device_lock,
    forward_lock,
    module_device,
    normalise_device,
    weights_sha1,
)
from ._version import package_version
from .catalog import FeatureLayout
from .errors import ConfigError, ShapeError
from .grid import PatchGeometry


def plain(value):
    """Convert numpy scalars / tuples / mappings to plain Python (JSON and weights_only)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _checked_normalisation(norm: Mapping) -> dict:
    """``{layer: {"mean": float, "std": float > 0}}``, or :class:`ConfigError` naming the
    entry that is not (a checkpoint is refused when it is loaded, not when it predicts)."""
    norm = plain(dict(norm))
    for layer, stats in norm.items():
        values = [stats.get(k) for k in ("mean", "std")] if isinstance(stats, dict) else []
        numbers = len(values) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        if not (numbers and math.isfinite(values[0]) and math.isfinite(values[1])) or (
            values[1] <= 0
        ):
            raise ConfigError(
                f"normalisation[{layer!r}] must be {{'mean': number, 'std': number > 0}} "
                f"(finite), got {stats!r}"
            )
    return norm


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything needed to apply a model to a region (see the module notes).

    Parameters
    ----------
    name : str
        Registry name (:data:`xlandslide.models.MODELS`).
    layout : FeatureLayout
        The continuous layers and categorical groups the model reads, in order.
    aligned : sequence of str
        Features (names of ``layout.names``) read at the uphill points; aligned models only.
    distances : sequence of float
        Looking distances in metres, in the order of the offsets; aligned models only.
    geometry : PatchGeometry
        Core and halo the model was trained with (prediction tiles with the same).
    pixel_size : float, optional
        Pixel size (metres) of the training region.
    normalisation : mapping
        ``{layer: {"mean", "std"}}`` of the training region's continuous layers.
    model_config : mapping
        Options of the module (:func:`xlandslide.models.build_model`).
    train_config : mapping, optional
        :meth:`xlandslide.TrainConfig.to_dict` of the training run.
    version : str
        xlandslide version that made the model.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> spec = xlandslide.ModelSpec("lacnn", xlandslide.feature_layout(region),
    ...                             aligned=("slope",), distances=(30, 100))
    >>> len(spec.feature_names), spec.distances, spec.needs_offsets, spec.pixelwise
    (94, (30.0, 100.0), True, False)
    >>> xlandslide.ModelSpec.from_dict(spec.to_dict()) == spec  # what a checkpoint stores
    True
    """

    name: str
    layout: FeatureLayout
    aligned: tuple[str, ...] = ()
    distances: tuple[float, ...] = ()
    geometry: PatchGeometry = PatchGeometry()  # noqa: RUF009  (frozen, immutable)
    pixel_size: float | None = None
    normalisation: dict = dataclasses.field(default_factory=dict)
    model_config: dict = dataclasses.field(default_factory=dict)
    train_config: dict | None = None
    version: str = dataclasses.field(default_factory=package_version)

    def __post_init__(self):
        from .models import canonical_name, model_entry

        set_ = object.__setattr__
        set_(self, "name", canonical_name(self.name))
        if not isinstance(self.layout, FeatureLayout):
            raise ConfigError(f"layout must be a FeatureLayout, got {type(self.layout).__name__}")
        if not isinstance(self.geometry, PatchGeometry):
            raise ConfigError(
                f"geometry must be a PatchGeometry, got {type(self.geometry).__name__}"
            )
        if isinstance(self.aligned, str) or isinstance(self.distances, (str, int, float)):
            raise ConfigError(
                "aligned and distances are sequences (e.g. aligned=('slope',), "
                f"distances=(30.0,)), got {self.aligned!r} and {self.distances!r}"
            )
        try:
            set_(self, "aligned", tuple(str(n) for n in self.aligned))
            set_(self, "distances", tuple(float(d) for d in self.distances))
        except (TypeError, ValueError):
            raise ConfigError(
                f"distances must be numbers (metres), got {self.distances!r}"
            ) from None
        bad = [d for d in self.distances if not math.isfinite(d) or d <= 0]
        if bad:
            raise ConfigError(f"distances must be positive and finite (metres), got {bad}")
        if self.pixel_size is not None:
            set_(self, "pixel_size", float(self.pixel_size))
            if not math.isfinite(self.pixel_size) or self.pixel_size <= 0:
                raise ConfigError(
                    f"pixel_size must be a positive number of metres, got {self.pixel_size!r}"
                )
        for key in ("normalisation", "model_config", "train_config"):
            value = getattr(self, key)
            if not isinstance(value, Mapping) and not (key == "train_config" and value is None):
                raise ConfigError(f"{key} must be a mapping, got {type(value).__name__}")
        set_(self, "normalisation", _checked_normalisation(self.normalisation))
        set_(self, "model_config", plain(dict(self.model_config)))
        if self.train_config is not None:
            set_(self, "train_config", plain(dict(self.train_config)))
        set_(self, "version", str(self.version))
        if model_entry(self.name).needs_offsets:
            if not self.aligned or not self.distances:
                raise ConfigError(
                    f"the {self.name} model reads aligned features: it needs aligned feature "
                    "names and looking distances (xlandslide.select_aligned_features chooses "
                    "the names; distances=(30, 100, 300) are the paper's)"
                )
            missing = [n for n in self.aligned if n not in self.layout.names]
            if missing:
                raise ConfigError(f"aligned features {missing} are not features of the layout")
            if len(set(self.distances)) != len(self.distances):
                raise ConfigError(f"distances must be unique, got {list(self.distances)}")
            if len(set(self.aligned)) != len(self.aligned):
                raise ConfigError(f"aligned features must be unique, got {list(self.aligned)}")
        elif self.aligned or self.distances:
            raise ConfigError(
                f"the {self.name} model reads no aligned features; leave aligned and distances "
                "empty"
            )

    # ------------------------------------------------------------------ derived facts
    @property
    def feature_names(self) -> tuple[str, ...]:
        """The model's input features in order (the one-hot view's names)."""
        return self.layout.names

    @property
    def needs_offsets(self) -> bool:
        """Whether the model reads aligned features (predict needs the uphill offsets)."""
        return bool(self.distances)

    @property
    def pixelwise(self) -> bool:
        """Whether every pixel's output depends on that pixel (and its uphill points) alone."""
        from .models import model_entry

        return model_entry(self.name).pixelwise

    @property
    def aligned_index(self) -> list[int]:
        """Positions of the aligned features among :attr:`feature_names`."""
        return self.layout.index(self.aligned)

    def replace(self, **changes) -> ModelSpec:
        """A copy with ``changes`` (validated)."""
        return dataclasses.replace(self, **changes)

    def build_module(self):
        """A new (untrained) torch module for this spec."""
        from .models import build_model

        return build_model(
            self.name,
            n_continuous=len(self.layout.continuous),
            n_classes=self.layout.n_classes,
            aligned_index=self.aligned_index if self.needs_offsets else (),
            n_distances=len(self.distances),
            **self.model_config,
        )

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """Plain dict (JSON-ready): what a checkpoint stores."""
        return {
            "name": self.name,
            "layout": self.layout.to_dict(),
            "aligned": list(self.aligned),
            "distances": list(self.distances),
            "geometry": {"core": self.geometry.core, "halo": self.geometry.halo},
            "pixel_size": self.pixel_size,
            "normalisation": self.normalisation,
            "model_config": self.model_config,
            "train_config": self.train_config,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelSpec:
        """Rebuild a spec from :meth:`to_dict`; :class:`ConfigError` on a malformed dict."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"a model spec is a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        missing = sorted({"name", "layout"} - set(d))
        if unknown or missing:
            raise ConfigError(f"model spec: unknown keys {unknown}, missing keys {missing}")
        geometry = d.get("geometry") or {}
        if not isinstance(geometry, Mapping):
            raise ConfigError(f"model spec geometry must be a mapping, got {geometry!r}")
        for key in ("normalisation", "model_config"):
            if not isinstance(d.get(key) or {}, Mapping):
                raise ConfigError(f"model spec {key} must be a mapping, got {d.get(key)!r}")
        try:
            return cls(
                name=d["name"],
                layout=FeatureLayout.from_dict(d["layout"]),
                aligned=tuple(d.get("aligned") or ()),
                distances=tuple(d.get("distances") or ()),
                geometry=PatchGeometry(**geometry),
                pixel_size=d.get("pixel_size"),
                normalisation=d.get("normalisation") or {},
                model_config=d.get("model_config") or {},
                train_config=d.get("train_config"),
                version=d.get("version", "unknown"),
            )
        except (TypeError, ValueError) as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(f"malformed model spec ({type(err).__name__}: {err})") from None

    def token(self) -> str:
        """A stable text of the spec (for dask tokens and equality across processes)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def __hash__(self) -> int:  # the dict fields are not hashable: hash the plain text
        return hash(self.token())


class SpecFacts:
    """What a model says of itself through its :class:`ModelSpec` (``self.spec``); shared by
    :class:`LandslideModel` and :class:`~xlandslide.EnsembleModel`."""

    spec: ModelSpec
    name = property(lambda self: self.spec.name, doc="The registry name.")
    needs_offsets = property(
        lambda self: self.spec.needs_offsets, doc="Whether it reads the uphill offsets."
    )


class LandslideModel(SpecFacts):
    """A trained model: the torch module and its :class:`ModelSpec` (and training history).

    Notes
    -----
    :meth:`predict_proba` is safe to call from several threads at once (dask's threaded
    scheduler): it runs under :func:`torch.inference_mode` (thread-local), holds the
    device's lock during the forward (one forward per device at a time, so torch's threads
    and dask's do not multiply), never changes global torch settings, and keeps one copy of
    the module per device, created once.

    Examples
    --------
    >>> import numpy as np
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> model = xlandslide.fit(region, "llr", patches=patches, progress=False)
    >>> model.name, model.spec.geometry, model.needs_offsets
    ('llr', PatchGeometry(core=32, halo=16), False)
    >>> cont = region["continuous"].values[None, :, :32, :32]  # a batch of one patch
    >>> codes = region["categorical"].values[None, :, :32, :32]
    >>> p = model.predict_proba(cont, codes)[0]  # numpy (B, H, W) float32
    >>> prob = region.landslide.predict(model)[:32, :32].values  # the lazy map: the same
    >>> inside = ~np.isnan(prob)
    >>> bool(np.allclose(prob[inside], p[inside], atol=1e-6))
    True
    """

    def __init__(self, module, spec: ModelSpec, *, history: Mapping | None = None):
        if not isinstance(spec, ModelSpec):
            raise ConfigError(f"spec must be a ModelSpec, got {type(spec).__name__}")
        self.module = module.eval()
        self.spec = spec
        self.history = plain(dict(history or {}))
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
        """A deterministic token: the spec and a hash of the current weights (no pickling)."""
        return ("xlandslide.LandslideModel", self.spec.token(), weights_sha1(self.module))

    def __repr__(self) -> str:
        n_params = sum(p.numel() for p in self.module.parameters())
        s = self.spec
        extra = f", aligned={len(s.aligned)}, distances={list(s.distances)}" if s.aligned else ""
        return (
            f"LandslideModel({s.name!r}, features={len(s.feature_names)}{extra}, "
            f"parameters={n_params}, device={self.device})"
        )

    @property
    def device(self):
        """The torch device the module's weights (or buffers) are on."""
        return module_device(self.module)

    def to(self, device) -> LandslideModel:
        """Move the module to ``device`` (in place) and return ``self``."""
        with self._lock:
            self.module.to(normalise_device(device))
            self._replicas = {}
        return self

    def module_on(self, device):
        """The module on ``device``: itself, or a copy made once and reused."""
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
        continuous: np.ndarray,
        categorical: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
        *,
        device=None,
        batch_size: int | None = None,
        lookup: bool = False,
    ) -> np.ndarray:
        """Landslide probabilities for a batch of patches (numpy in, numpy out).

        Parameters
        ----------
        continuous : numpy.ndarray
            (B, C, H, W) float32, NaN outside the region, layers in the spec's order.
        categorical : numpy.ndarray, optional
            (B, G, H, W) uint8 class codes (255 = no class); required when the layout has
            groups.
        offsets : numpy.ndarray, optional
            (B, D, 2, H, W) int8 uphill offsets for the spec's distances; required by
            aligned models, ignored by the others.
        device : str or torch.device, optional
            Where to run (default: the module's device).
        batch_size : int, optional
            Patches per forward call (default: all B at once).
        lookup : bool
            Per-pixel models (LLR, NN, LANN): compute the first 1x1 convolution as table
            lookups of the class codes (:func:`xlandslide.models.lookup.lookup_forward`),
            without the one-hot tensor — much faster, equal up to float rounding.  Ignored
            by the other models.

        Returns
        -------
        numpy.ndarray
            (B, H, W) float32 probabilities in [0, 1] (also at pixels outside the region).
        """
        import torch

        spec = self.spec
        c = len(spec.layout.continuous)
        g = len(spec.layout.groups)
        continuous = np.asarray(continuous)
        if continuous.ndim != 4 or continuous.shape[1] != c:
            raise ShapeError(
                f"continuous must have shape (B, {c}, H, W) for the layers "
                f"{list(spec.layout.continuous)}, got {continuous.shape}"
            )
        b, _, h, w = continuous.shape
        arrays = [_torch_ready(continuous, np.float32)]
        if g:
            if categorical is None or np.shape(categorical) != (b, g, h, w):
                got = None if categorical is None else np.shape(categorical)
                raise ShapeError(
                    f"categorical must have shape {(b, g, h, w)} (uint8 codes of the groups "
                    f"{list(spec.layout.group_names)}), got {got}"
                )
            arrays.append(_torch_ready(categorical, np.uint8))
        else:
            arrays.append(None)
        if spec.needs_offsets:
            expected = (b, len(spec.distances), 2, h, w)
            if offsets is None or np.shape(offsets) != expected:
                got = None if offsets is None else np.shape(offsets)
                raise ShapeError(
                    f"the {spec.name} model needs offsets of shape {expected} int8 for the "
                    f"distances {list(spec.distances)} m, got {got}; compute them with "
                    "region.landslide.with_offsets(model.spec.distances)"
                )
            arrays.append(_torch_ready(offsets, np.int8))
        else:
            arrays.append(None)
        step = b if batch_size is None else int(batch_size)
        if step < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        dev = self.device if device is None else normalise_device(device)
        module = self.module_on(dev)
        out = np.empty((b, h, w), dtype=np.float32)
        forward = type(module).__call__
        if lookup:
            from .models.lookup import lookup_forward, supports_lookup

            if supports_lookup(module):
                forward = lookup_forward
        amp = _amp_dtype(dev) if dev.type == "cuda" else None
        with torch.inference_mode():
            for start in range(0, b, step):
                stop = min(b, start + step)
                inputs = [None if a is None else _to_device(a[start:stop], dev) for a in arrays]
                with forward_lock(dev, module):
                    with autocast(dev, amp):
                        logits = forward(module, *inputs)
                    out[start:stop] = torch.sigmoid(logits.float()).cpu().numpy()
        return out


def spec_for_region(name: str, region, **fields) -> ModelSpec:
    """A :class:`ModelSpec` for training model ``name`` on ``region`` (layout, pixel size and
    normalisation read from the region's metadata; the rest from ``fields``)."""
    from .grid import pixel_size
    from .region import feature_layout, get_normalisation

    layout = feature_layout(region)
    norm = get_normalisation(region)
    return ModelSpec(
        name=name,
        layout=layout,
        pixel_size=pixel_size(region),
        normalisation={k: norm[k] for k in layout.continuous if k in norm},
        **fields,
    )


__all__ = [
    "LandslideModel",
    "ModelSpec",
    "SpecFacts",
    "check_finite_weights",
    "device_lock",
    "normalise_device",
    "package_version",
    "plain",
    "spec_for_region",
]
