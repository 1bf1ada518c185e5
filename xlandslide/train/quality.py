"""Is a trained model degenerate?  A check against the Naive model on validation pixels.

A network can collapse to (nearly) a constant map — the base rate everywhere — and still
report a finite, plausible loss.  After training, :class:`QualityAccumulator` scores the
returned model on the validation pixels against the Naive model (the training positive
ratio) and flags it as **degenerate** when either

- it has learned nothing the validation pixels can see: its validation loss does not beat
  the Naive model's by more than ``QUALITY_Z`` standard errors of the paired per-pixel
  difference, *and* its validation AUC is not above 0.5 by more than ``QUALITY_Z``
  standard errors (Hanley & McNeil); a model that ranks the validation pixels better than
  chance is not degenerate even where a few dozen validation points cannot show that its
  probabilities beat the base rate (a point inventory whose folds differ in their share
  of landslides), or
- its logits on the validation pixels span less than ``MIN_LOGIT_SPREAD`` between their
  1st and 99th percentiles (0.1 in logit units: the odds of the most and least
  susceptible pixels differ by less than 10 %; zoning classes of such a map differ in the
  sixth decimal).

Pixels are taken as independent (optimistic for polygon inventories, whose neighbouring
pixels are alike; their many pixels make the errors small anyway).

The verdict is recorded in the model's ``history["quality"]`` (so in the checkpoint), a
:class:`~xlandslide.errors.DegenerateModelWarning` says what was found, the CV table and
the paper report carry a ``degenerate`` column and the command line exits non-zero unless
told to keep it (``--keep-degenerate``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._device import autocast
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
        self.labels: list[np.ndarray] = []
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
            pick = self.rng.choice(z.size, size=max(room, 0), replace=False)
            z, y = z[pick], y[pick]
        self.logits.append(z.astype(np.float32))
        self.labels.append(y.astype(np.int8))
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
        labels = np.concatenate(self.labels)
        lo, hi = np.percentile(logits, [1, 99])
        spread = float(hi - lo)
        auc, auc_z = rank_auc(logits, labels)
        reasons = []
        if not z > QUALITY_Z and not auc_z > QUALITY_Z:
            reasons.append(
                f"its validation loss {self.loss / n:.5f} does not beat the Naive model's "
                f"{self.naive / n:.5f} by more than {QUALITY_Z:g} standard errors (z = {z:.2f}) "
                f"and its validation AUC {auc:.3f} is not above 0.5 by more than "
                f"{QUALITY_Z:g} standard errors (z = {auc_z:.2f})"
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
            "auc": auc,
            "auc_z": auc_z,
            "logit_spread": spread,
            "degenerate": bool(reasons),
            "reasons": reasons,
        }


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC (Hanley & McNeil 1982): the noise of a fold's score."""
    if not (n_pos and n_neg) or not math.isfinite(auc):
        return math.nan
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )
    return float(math.sqrt(max(var, 0.0)))


def rank_auc(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """ROC AUC of ``scores`` against 0/1 ``labels`` (ties averaged: the Mann-Whitney
    statistic) and its z against 0.5 under the Hanley-McNeil error of 0.5; NaN when one
    class is missing.

    >>> rank_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))[0]
    0.75
    """
    from scipy.stats import rankdata

    y = np.asarray(labels) > 0
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if not (n_pos and n_neg):
        return math.nan, math.nan
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    auc = float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    se = hanley_mcneil_se(0.5, n_pos, n_neg)
    return auc, (auc - 0.5) / se if se > 0 else math.nan


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


def validation_quality(run, val, halo: int, prior: float) -> dict:
    """The best weights of a training run (:mod:`xlandslide.train.loop`'s run state)
    against the Naive model on the validation patches ``val``
    (:meth:`QualityAccumulator.result`)."""
    import torch

    from ._feed import batch_to, epoch_batches
    from .loss import _core

    acc = QualityAccumulator(prior, seed=int(run.config.seed))
    if val is None or len(val) == 0:
        return acc.result()
    module = run.best_model().module.to(run.device).eval()
    amp_dtype = run.amp[0]
    batches = epoch_batches(len(val), run.config, run.epoch, shuffle=False)
    with torch.no_grad():
        for batch in run.loaders(val, batches):
            inputs, label = batch_to(batch, run.device, run.spec.needs_offsets)
            with autocast(run.device, amp_dtype):
                z = module(*inputs)
            z, y = _core(z.float(), halo), _core(label, halo)
            known = y >= 0
            acc.add(z[known].cpu().numpy(), (y[known] > 0).cpu().numpy())
    return acc.result()


__all__ = [
    "MIN_LOGIT_SPREAD",
    "QUALITY_Z",
    "QualityAccumulator",
    "hanley_mcneil_se",
    "is_degenerate",
    "rank_auc",
    "validation_quality",
    "warn_if_degenerate",
]
