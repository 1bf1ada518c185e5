"""The learner protocol and what every learner shares: the fitted layout, the state header."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ..errors import CheckpointError, ConfigError, NotFittedError
from .table import Layout, PixelTable

__all__ = ["STATE_VERSION", "Learner", "LearnerBase"]

#: Version of the state dictionaries written by ``to_state``.
STATE_VERSION = 1


@runtime_checkable
class Learner(Protocol):
    """What every non-torch learner offers (fit on a pixel table, logits, a plain state).

    ``predict_logit(continuous, codes)`` takes ``continuous`` (n, C) float32 with NaN for
    missing and ``codes`` (n, G) uint8 (255: no class) in the fitted table's layout and
    returns (n,) float64 logits.  ``to_state`` returns JSON-plain values and numpy arrays
    only; ``from_state`` rebuilds an equal learner.
    """

    name: str

    def fit(self, table: PixelTable) -> Learner: ...

    def predict_logit(self, continuous: np.ndarray, codes: np.ndarray) -> np.ndarray: ...

    def to_state(self) -> dict: ...

    @classmethod
    def from_state(cls, state: dict) -> Learner: ...


class LearnerBase:
    """Shared plumbing: options, the fitted :class:`Layout`, state header and checks."""

    name: ClassVar[str] = ""
    layout: Layout | None = None

    def options(self) -> dict[str, Any]:  # pragma: no cover - every learner overrides it
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        fitted = "" if self.layout is None else ", fitted"
        return f"{type(self).__name__}({opts}{fitted})"

    def _fitted_layout(self) -> Layout:
        if self.layout is None:
            raise NotFittedError(f"this {self.name} learner is not fitted; call fit(table) first")
        return self.layout

    def _check(self, continuous: np.ndarray, codes: np.ndarray | None):
        return self._fitted_layout().check(continuous, codes)

    def _start_fit(self, table: PixelTable) -> None:
        if not isinstance(table, PixelTable):
            raise ConfigError(f"fit needs a PixelTable, got {type(table).__name__}")
        table.require_both_classes(f"the {self.name} learner")

    def _header(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state_version": STATE_VERSION,
            "options": self.options(),
            "layout": self._fitted_layout().to_state(),
        }

    @classmethod
    def _from_header(cls, state: dict):
        if not isinstance(state, dict) or state.get("name") != cls.name:
            got = state.get("name") if isinstance(state, dict) else type(state).__name__
            raise CheckpointError(f"not a {cls.name} learner's state (name {got!r})")
        if state.get("state_version") != STATE_VERSION:
            raise CheckpointError(
                f"{cls.name} state version {state.get('state_version')!r}; this xlandslide "
                f"reads version {STATE_VERSION}: refit the learner"
            )
        learner = cls(**state["options"])
        learner.layout = Layout.from_state(state["layout"])
        return learner
