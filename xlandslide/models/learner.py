"""The field's non-torch learners (fr, woe, gam, gbm) behind the models' torch protocol.

A :class:`LearnerModule` is a :class:`~xlandslide.models.layers.LandslideNet` whose
``forward(continuous, categorical, offsets)`` hands the pixels to a fitted learner of
:mod:`xlandslide.learners` and returns its logits, so that such a model predicts lazily
block by block, saves, loads and cross-validates exactly as the networks do.  Aligned
models gather the chosen features at the uphill points with the same
:class:`~xlandslide.models.layers.AlignedGather` as the LANN and hand them to the learner as
further continuous columns.

The learner's state travels in the module's state dict as two uint8 buffers: ``payload``,
the state as UTF-8 JSON (a LightGBM booster as its own text model inside it; numbers are
written with ``repr`` precision, so a reloaded learner predicts the same bits), and
``payload_sha256``, its digest.  A checkpoint is still read with
``torch.load(weights_only=True)``; a payload that does not match its digest, or that the
learner cannot read, is refused with :class:`~xlandslide.errors.CheckpointError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import CheckpointError, ConfigError, NotFittedError, ShapeError
from .layers import AlignedGather, LandslideNet


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class LearnerModule(LandslideNet):
    """A learner of :mod:`xlandslide.learners` as a model module (see the module notes).

    Parameters
    ----------
    learner : str
        ``"fr"``, ``"woe"``, ``"gam"`` or ``"gbm"``.
    n_continuous, n_classes
        The region's layout.
    feature_index, n_distances
        Aligned models: the features gathered at the uphill points and the number of
        looking distances (none by default).
    **options
        The learner's options (:func:`xlandslide.learners.build_learner`).
    """

    #: Buffers whose length is the fitted learner's (the checkpoint's shape check allows it).
    VARIABLE_BUFFERS = ("payload", "payload_sha256")
    #: The learners predict in single-threaded numpy/numba code, not torch's thread pool:
    #: dask's threads run their forwards side by side on the CPU (no device lock).
    CONCURRENT_ON_CPU = True

    def __init__(
        self,
        learner: str,
        n_continuous: int,
        n_classes: Sequence[int] = (),
        feature_index: Sequence[int] = (),
        n_distances: int = 0,
        **options,
    ):
        gather = AlignedGather(feature_index, n_distances) if len(feature_index) else None
        super().__init__(None, n_continuous, n_classes, gather)
        from ..learners import build_learner

        self.learner_name = str(learner)
        build_learner(self.learner_name, **options)  # options checked now, not at fit
        self.options = dict(options)
        self.config = dict(options)
        self.fitted = None
        self.register_buffer("payload", torch.zeros(0, dtype=torch.uint8))
        self.register_buffer("payload_sha256", torch.zeros(0, dtype=torch.uint8))

    def set_learner(self, learner) -> None:
        """Adopt a fitted learner (its state becomes the module's payload)."""
        data = json.dumps(_plain(learner.to_state()), separators=(",", ":")).encode()
        self.payload = torch.frombuffer(bytearray(data), dtype=torch.uint8).clone()
        digest = hashlib.sha256(data).digest()
        self.payload_sha256 = torch.frombuffer(bytearray(digest), dtype=torch.uint8).clone()
        self.fitted = learner

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        payload = state_dict.get(prefix + "payload")
        digest = state_dict.get(prefix + "payload_sha256")
        if payload is not None and digest is not None:
            # the buffers' sizes come from the file: take them before the shape check
            self.payload = torch.zeros_like(payload)
            self.payload_sha256 = torch.zeros_like(digest)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if payload is not None and digest is not None and payload.numel():
            self._restore(payload, digest)

    def _restore(self, payload, digest) -> None:
        from ..learners import learner_from_state

        data = bytes(payload.cpu().numpy().tobytes())
        if hashlib.sha256(data).digest() != bytes(digest.cpu().numpy().tobytes()):
            raise CheckpointError(
                f"the {self.learner_name} model's payload does not match its SHA-256 digest: "
                "the checkpoint was altered; train the model again"
            )
        try:
            state = json.loads(data.decode())
            learner = learner_from_state(state)
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointError(
                f"the {self.learner_name} model's payload cannot be read ({err}); train it again"
            ) from None
        if getattr(learner, "name", None) != self.learner_name:
            raise CheckpointError(
                f"the payload holds a {getattr(learner, 'name', None)!r} learner, not the "
                f"{self.learner_name!r} the checkpoint's spec names; train the model again"
            )
        self.fitted = learner

    def output_bias(self):
        return None

    def forward(self, continuous, categorical=None, offsets=None):
        if self.fitted is None:
            raise NotFittedError(
                f"the {self.learner_name} model has no fitted learner: train it with "
                "xlandslide.fit or load a checkpoint"
            )
        b, c, h, w = continuous.shape
        if c != self.expand.n_continuous:
            raise ShapeError(
                f"continuous must have shape (B, {self.expand.n_continuous}, H, W), got "
                f"{tuple(continuous.shape)}"
            )
        cont = continuous.float()
        if self.gather is not None:
            x = self.gather(self.expand(continuous, categorical), offsets)
            cont = torch.cat([cont, x[:, self.expand.n_features :]], dim=1)
        cont = cont.permute(0, 2, 3, 1).reshape(-1, cont.shape[1]).cpu().numpy()
        g = len(self.expand.n_classes)
        if g:
            codes = categorical.permute(0, 2, 3, 1).reshape(-1, g).cpu().numpy()
        else:
            codes = np.zeros((cont.shape[0], 0), dtype=np.uint8)
        z = self.fitted.predict_logit(cont, codes.astype(np.uint8))
        out = torch.as_tensor(np.asarray(z, dtype=np.float32)).view(b, h, w)
        return out.to(continuous.device)

    def forward_features(self, features, offsets=None):
        raise ConfigError(
            f"the {self.learner_name} model reads class codes, not the one-hot view: call it "
            "with (continuous, categorical, offsets)"
        )


__all__ = ["LearnerModule"]
