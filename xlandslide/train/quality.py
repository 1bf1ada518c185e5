"""Is a trained model degenerate?  A check against the Naive model on validation pixels.

A network can collapse to (nearly) a constant map — the base rate everywhere — and still
report a finite, plausible loss.  After training, :func:`assess` scores the returned model on
the validation pixels against the Naive model (the training positive ratio) and flags it
as **degenerate** when either

- its validation loss does not beat the Naive model's by more than ``QUALITY_Z`` standard
  errors of the paired per-pixel difference (pixels taken as independent), or
- its logits on the validation pixels span less than ``MIN_LOGIT_SPREAD`` between their
  1st and 99th percentiles (0.1 in logit units: the odds of the most and least
  susceptible pixels differ by less than 10 %; zoning classes of such a map differ in the
  sixth decimal).

The verdict is recorded in the model's ``history["quality"]`` (so in the checkpoint), a
:class:`~xlandslide.errors.DegenerateModelWarning` says what was found, the CV table and
the paper report carry a ``degenerate`` column and the command line exits non-zero unless
told to keep it (``--keep-degenerate``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import DegenerateModelWarning

#: A model must beat the Naive model's validation loss by this many standard errors.
QUALITY_Z = 2.0
#: ... and spread its validation logits over at least this much (1st to 99th percentile).
MIN_LOGIT_SPREAD = 0.1
#: Logits kept to measure the spread (a seeded subsample beyond).
_SPREAD_SAMPLE = 1_000_000


class QualityAccumulator:
    """Streams per-pixel losses of a model and of the Naive model, and the model's logits."""

    def __init__(self, prior: float, seed: int = 0):
        p = float(np.clip(prior, 1e-12, 1 - 1e-12))
        self.naive_logit = math.log(p / (1 - p))
        self.total = self.squares = self.loss = self.naive = 0.0
        self.count = 0
        self.logits: list[np.ndarray] = []
        self.kept = 0
        self.rng = np.random.default_rng(seed)

    def add(self, logits: np.ndarray, label: np.ndarray) -> None:
        """Known pixels only: ``logits`` (n,) and ``label`` (n,) 0/1."""
        z = np.asarray(logits, dtype=np.float64).reshape(-1)
        y = np.asarray(label, dtype=np.float64).reshape(-1)
        if not z.size:
            return
        lm = np.logaddexp(0.0, z) - y * z
        ln = np.logaddexp(0.0, self.naive_logit) - y * self.naive_logit
        d = ln - lm
        self.total += float(d.sum())
        self.squares += float((d * d).sum())
        self.loss += float(lm.sum())
        self.naive += float(ln.sum())
        self.count += int(z.size)
        room = _SPREAD_SAMPLE - self.kept
        if room < z.size:
            z = self.rng.choice(z, size=max(room, 0), replace=False) if room > 0 else z[:0]
        self.logits.append(z.astype(np.float32))
        self.kept += z.size

    def result(self) -> dict:
        """The verdict (see the module notes) as a plain dict."""
        n = self.count
        if n < 2:
            return {"checked": False, "n": n, "degenerate": False, "reasons": []}
        gain = self.total / n
        var = max(self.squares - n * gain * gain, 0.0) / (n - 1)
        se = math.sqrt(var / n)
        z = gain / se if se > 0 else (math.inf if gain > 0 else 0.0)
        logits = np.concatenate(self.logits)
        lo, hi = np.percentile(logits, [1, 99])
        spread = float(hi - lo)
        reasons = []
        if not z > QUALITY_Z:
            reasons.append(
                f"its validation loss {self.loss / n:.5f} does not beat the Naive model's "
                f"{self.naive / n:.5f} by more than {QUALITY_Z:g} standard errors (z = {z:.2f})"
            )
        if spread < MIN_LOGIT_SPREAD:
            reasons.append(
                f"its validation logits span {spread:.4f} (1st to 99th percentile), less than "
                f"{MIN_LOGIT_SPREAD:g}: the map is nearly constant"
            )
        return {
            "checked": True,
            "n": n,
            "val_loss": self.loss / n,
            "naive_loss": self.naive / n,
            "gain": gain,
            "se": se,
            "z": z,
            "logit_spread": spread,
            "degenerate": bool(reasons),
            "reasons": reasons,
        }


def warn_if_degenerate(name: str, quality: dict, stacklevel: int = 3) -> None:
    """A :class:`DegenerateModelWarning` naming what was found, when ``quality`` says so."""

    if quality.get("degenerate"):
        warnings.warn(
            f"the trained {name} model is degenerate: "
            + "; ".join(quality["reasons"])
            + ". Check the learning rate and the labels, train longer or use the default "
            "settings (TrainConfig.default); the verdict is in model.history['quality']",
            DegenerateModelWarning,
            stacklevel=stacklevel,
        )


def is_degenerate(model) -> bool:
    """Whether ``model`` (or any member of an ensemble) was flagged degenerate."""
    members = getattr(model, "members", [model])
    return any(
        bool((getattr(m, "history", None) or {}).get("quality", {}).get("degenerate"))
        for m in members
    )


__all__ = [
    "MIN_LOGIT_SPREAD",
    "QUALITY_Z",
    "QualityAccumulator",
    "is_degenerate",
    "warn_if_degenerate",
]
