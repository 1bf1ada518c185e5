"""The training loop: epochs over patch datasets, validation, checkpoints, resume.

:func:`train_module` trains the module of a :class:`~xlandslide.ModelSpec` on map-style
datasets of patch dicts (:class:`~xlandslide.PatchDataset`) with the paper's recipe:
binary cross-entropy on the known core pixels only, Adam or SGD with L2 weight decay,
validation every epoch, the learning rate reduced on a validation plateau, the best epoch's
weights returned.

Determinism and resume
----------------------
Everything random is seeded from ``config.seed``: the weights (``torch.manual_seed``), the
order of the training patches in epoch ``e`` (``numpy.random.Generator(PCG64([seed, e]))``)
and the DataLoader workers.  With a ``checkpoint`` path the run writes, at the end of every
epoch and every ``save_every`` batches, the best weights so far (what
:func:`xlandslide.load_model` reads) and the *training state* — current weights, optimizer,
scheduler and gradient-scaler states, the torch RNG states, the epoch and the number of
batches done in it, the loss sums of the epoch so far, the history and the best epoch.
``resume=path`` restarts from it: the patch order of the interrupted epoch is recomputed and
its first batches skipped, so a resumed run ends with the same weights as an uninterrupted
one (bit for bit on the CPU).  The checkpoint path is checked before the first epoch: only a
checkpoint is ever replaced there (:func:`xlandslide.checkpoint.check_replaceable`).

Reads
-----
One DataLoader per dataset serves the whole run; with ``num_workers > 0`` its workers persist
from epoch to epoch, so that each keeps the patch cache of its
:class:`~xlandslide.PatchDataset` copy and a later epoch reads nothing from the region.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .._device import autocast, choose_device
from ..errors import CheckpointError, ConfigError, PatchError
from ..model import LandslideModel, ModelSpec
from ._feed import Loaders, amp_settings, batch_to, epoch_batches
from .config import TrainConfig
from .loss import masked_bce_sum
from .quality import validation_quality, warn_if_degenerate
from .schedule import make_optimizer, make_scheduler
from .state import read_resume


def _progress_bar(total: int, desc: str):
    from .._progress import progress_bar

    # a bar on a terminal; in a log (not a terminal) a line with the ETA every ~30 s
    return progress_bar(total, desc, leave=False)


class _Run:
    """The mutable state of one training run (what a resumable checkpoint stores)."""

    def __init__(self, spec, module, config, device, steps_per_epoch: int = 1):
        self.spec = spec
        self.module = module
        self.config = config
        self.device = device
        self.optimizer = make_optimizer(module, config)
        self.scheduler = make_scheduler(self.optimizer, config, steps_per_epoch)
        self.per_step = config.schedule == "cosine"
        self.amp = amp_settings(config, device)
        self.epoch, self.batch, self.sums = 1, 0, [0.0, 0.0]
        self.history = {"epoch": [], "train_loss": [], "val_loss": [], "lr": [], "seconds": []}
        self.best_score, self.best_epoch, self.best_state = math.inf, 0, None
        self.since_best = 0
        self.start_state = None  # the warm start's weights (validate_start)
        self.done = False
        self.loaders = Loaders(config, device)
        self.grad_norms: list[float] = []  # of the epoch's steps (with clip_norm)
        self.epoch_lr = float(config.lr)
        self.data: str | None = None  # the region's identity (io/identity.py)

    def best_model(self) -> LandslideModel:
        """The best weights so far in a copy of the module (the training module itself is
        never handed out: LandslideModel switches its module to eval mode, which would change
        how batch norm trains for the rest of the epoch)."""
        import copy

        module = copy.deepcopy(self.module)
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
        return LandslideModel(
            module, self.spec, history={**self.history, "best_epoch": self.best_epoch}
        )

    def state(self) -> dict:
        import torch

        def cpu(sd):
            return {k: v.detach().to("cpu").clone() for k, v in sd.items()}

        scaler = self.amp[1]
        return {
            "spec": self.spec.to_dict(),
            "config": self.config.to_dict(),
            "module": cpu(self.module.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": None if scaler is None else scaler.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "epoch": self.epoch,
            "batch": self.batch,
            "sums": list(self.sums),
            "history": self.history,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_state": None if self.best_state is None else cpu(self.best_state),
            "since_best": self.since_best,
            "start_state": None if self.start_state is None else cpu(self.start_state),
            "grad_norms": list(self.grad_norms),
            "epoch_lr": self.epoch_lr,
            "done": self.done,
            "data": self.data,
        }

    def restore(self, state: dict) -> None:
        import torch

        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"] is not None and self.amp[1] is not None:
            self.amp[1].load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.epoch, self.batch = int(state["epoch"]), int(state["batch"])
        self.sums = [float(v) for v in state["sums"]]
        self.history = {
            k: list(v) if isinstance(v, (list, tuple)) else v for k, v in state["history"].items()
        }
        self.best_score, self.best_epoch = float(state["best_score"]), int(state["best_epoch"])
        self.best_state = state["best_state"]
        self.since_best = int(state["since_best"])
        self.start_state = state.get("start_state")
        self.grad_norms = [float(v) for v in state.get("grad_norms", [])]
        self.epoch_lr = float(state.get("epoch_lr", self.optimizer.param_groups[0]["lr"]))
        self.done = bool(state["done"])

    def save(self, path) -> None:
        from ..checkpoint import save_model

        save_model(self.best_model(), path, extra={"training_state": self.state()})


def _step(run: _Run, batch, halo: int, train: bool):
    """One batch: (sum of BCE, number of known core pixels) and, training, an update."""

    amp_dtype, scaler = run.amp
    inputs, label = batch_to(batch, run.device, run.spec.needs_offsets)
    with autocast(run.device, amp_dtype):
        logits = run.module(*inputs)
    s, n = masked_bce_sum(logits, label, halo)
    n_known = float(n.item())
    if train and n_known > 0:
        loss = s / n
        run.optimizer.zero_grad(set_to_none=True)
        clip = run.config.clip_norm
        if scaler is not None:
            scaler.scale(loss).backward()
            if clip is not None:
                scaler.unscale_(run.optimizer)
                run.grad_norms.append(_clip(run.module, clip))
            scaler.step(run.optimizer)
            scaler.update()
        else:
            loss.backward()
            if clip is not None:
                run.grad_norms.append(_clip(run.module, clip))
            run.optimizer.step()
        if run.per_step:
            run.scheduler.step()
    return float(s.item()), n_known


def _clip(module, max_norm: float) -> float:
    """Clip the gradient's global norm; the norm before clipping."""
    import torch

    return float(torch.nn.utils.clip_grad_norm_(module.parameters(), max_norm))


def _validate(run: _Run, val, halo: int, progress: bool) -> float:
    import torch

    if val is None or len(val) == 0:
        return math.nan
    batches = epoch_batches(len(val), run.config, run.epoch, shuffle=False)
    total = count = 0.0
    run.module.eval()
    bar = _progress_bar(len(batches), f"{run.spec.name} validation" if progress else "")
    with torch.no_grad():
        for batch in run.loaders(val, batches):
            s, n = _step(run, batch, halo, train=False)
            total, count = total + s, count + n
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.close()
    return total / count if count else math.nan


def _train_epoch(run, train, halo, *, progress, checkpoint, save_every):
    batches = epoch_batches(len(train), run.config, run.epoch, shuffle=True)
    todo = batches[run.batch :]
    bar = _progress_bar(len(batches), f"{run.spec.name} epoch {run.epoch}" if progress else "")
    if bar is not None:
        bar.update(run.batch)
    run.module.train(True)
    for batch in run.loaders(train, todo):
        s, n = _step(run, batch, halo, train=True)
        run.sums[0] += s
        run.sums[1] += n
        run.batch += 1
        if bar is not None:
            bar.update()
        if checkpoint is not None and save_every and run.batch % save_every == 0:
            if run.batch < len(batches):
                run.save(checkpoint)
    if bar is not None:
        bar.close()
    total, count = run.sums
    return total / count if count else math.nan


def train_module(
    spec: ModelSpec,
    train,
    val,
    *,
    config: TrainConfig,
    progress: bool = True,
    checkpoint=None,
    save_every: int | None = None,
    resume=None,
    callbacks: Sequence[Callable] | None = None,
    prior: float | None = None,
    init: Callable | None = None,
    validate_start: bool = False,
    data: str | None = None,
) -> LandslideModel:
    """Train the module of ``spec`` on map-style datasets of patch dicts.

    ``train`` and ``val`` yield dicts with ``"continuous"`` (C, S, S) float32 (NaN outside
    the region), ``"categorical"`` (G, S, S) uint8, ``"label"`` (S, S) int8 (1/0/-1) and,
    for aligned models, ``"offsets"`` (D, 2, S, S) int8, with ``S = spec.geometry.size``.
    ``prior`` (the training positive ratio), when given, sets the output bias to
    ``logit(prior)`` before training; ``init(module)``, when given, runs after that (a warm
    start, :func:`xlandslide.fit`'s ``warm_start``).  ``validate_start`` scores the
    untrained module on ``val`` first, as epoch 0: when no epoch beats it, the returned
    model is the starting one (``best_epoch`` 0) — a warm start is never made worse on
    the validation pixels.  With ``config.accept_margin`` the best epoch must beat it by
    more than that many standard errors of the paired per-pixel loss difference, or the
    starting weights are returned (:mod:`xlandslide.train.accept`; the test is recorded in
    ``history["acceptance"]``).  ``checkpoint``, ``save_every`` and ``resume``: see the
    module notes.  ``data`` names the training data
    (:func:`xlandslide.io.identity.region_identity`): it is stored in the checkpoints and a
    resume on other data is refused.  See :func:`xlandslide.fit` for the rest.
    """
    _check_run_args(train, checkpoint, save_every)
    run = _new_run(spec, train, config, prior, init, data)
    if resume is not None and Path(resume).exists():
        _resume(run, resume, progress)
    halo = int(spec.geometry.halo)
    if validate_start and run.epoch == 1 and run.best_state is None:
        _score_start(run, val, halo)
    import contextlib

    from ..io.lock import output_lock

    hold = output_lock(checkpoint) if checkpoint is not None else contextlib.nullcontext()
    with hold:  # one training run per checkpoint, for the whole run
        try:
            _epochs(run, train, val, halo, progress, checkpoint, save_every, callbacks)
            if run.start_state is not None and config.accept_margin is not None:
                _accept(run, val, halo, progress)
            if prior is not None:
                run.history["quality"] = validation_quality(run, val, halo, prior)
            if checkpoint is not None:
                run.save(checkpoint)  # what load_model reads is what is returned
        finally:
            run.loaders.close()
    result = run.best_model()
    result.module.eval()
    warn_if_degenerate(spec.name, run.history.get("quality", {}), stacklevel=3)
    return result


def _check_run_args(train, checkpoint, save_every) -> None:
    """Refuse an empty training set and bad checkpoint settings before any work."""
    if len(train) == 0:
        raise PatchError("the training set holds no patch; use more data or another split")
    if save_every is not None and (
        isinstance(save_every, bool)
        or not isinstance(save_every, (int, float))
        or int(save_every) != save_every
        or save_every < 1
    ):
        raise ConfigError(f"save_every must be a positive number of batches, got {save_every!r}")
    if save_every is not None and checkpoint is None:
        raise ConfigError("save_every needs a checkpoint path to write to (checkpoint=...)")
    if checkpoint is not None:
        from ..checkpoint import check_replaceable

        check_replaceable(checkpoint)  # before any epoch is spent, not after the first


def _new_run(spec, train, config, prior, init, data) -> _Run:
    """The seeded module (prior bias, warm start applied) and its run state."""
    import torch

    device = choose_device(config.device)
    torch.manual_seed(int(config.seed))
    module = spec.build_module()
    if prior is not None:
        module.init_prior(float(prior))
    if init is not None:
        init(module)
    steps = len(epoch_batches(len(train), config, 1, shuffle=True))
    run = _Run(spec, module.to(device), config, device, steps)
    run.data = data
    return run


def _resume(run: _Run, resume, progress: bool) -> None:
    state = read_resume(resume, run.spec, run.config, data=run.data)
    try:
        run.restore(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        detail = " ".join(str(err).split())
        raise CheckpointError(
            f"cannot resume from {str(resume)!r}: its training state does not fit this "
            f"run ({type(err).__name__}: {detail}); train anew"
        ) from err
    if progress:
        print(
            f"[xlandslide] {run.spec.name}: resuming from {resume} at epoch {run.epoch}, "
            f"batch {run.batch}",
            file=sys.stderr,
            flush=True,
        )


def _score_start(run: _Run, val, halo: int) -> None:
    """The untrained (warm-started) module's validation loss as epoch 0."""
    score = _validate(run, val, halo, progress=False)
    if not math.isnan(score):
        run.best_score, run.best_epoch = score, 0
        run.best_state = {k: v.detach().clone() for k, v in run.module.state_dict().items()}
        run.start_state = run.best_state
        run.history["start_val_loss"] = [score]


def _accept(run: _Run, val, halo: int, progress: bool) -> bool:
    """Keep the best epoch over the warm start only when it gains more than noise.

    Returns whether a test was made (a finished run resumed has made it already)."""
    import copy

    from .accept import paired_gain

    if run.best_epoch == 0:
        return False
    start, best = copy.deepcopy(run.module), copy.deepcopy(run.module)
    start.load_state_dict(run.start_state)
    best.load_state_dict(run.best_state)
    amp_dtype = run.amp[0]

    def mixed():  # as in _step
        return autocast(run.device, amp_dtype)

    batches = epoch_batches(len(val), run.config, run.epoch, shuffle=False)
    result = paired_gain(
        start,
        best,
        run.loaders(val, batches),
        lambda b: batch_to(b, run.device, run.spec.needs_offsets),
        halo,
        mixed,
    )
    margin = float(run.config.accept_margin)
    accepted = result.accepts(margin)
    run.history["acceptance"] = {**result.to_dict(), "margin": margin, "accepted": accepted}
    run.history["trained_best_epoch"] = run.best_epoch
    if not accepted:
        run.best_state, run.best_epoch = run.start_state, 0
    if progress:
        print(
            f"[xlandslide] {run.spec.name}: epoch {run.history['trained_best_epoch']} gains "
            f"{result.gain:.5f} ({result.z:+.2f} standard errors) of validation loss over the "
            f"warm start: {'kept' if accepted else 'the warm start is kept'} "
            f"(accept_margin {margin:g})",
            file=sys.stderr,
            flush=True,
        )
    return True


def _epochs(run: _Run, train, val, halo, progress, checkpoint, save_every, callbacks) -> None:
    """The epochs of a run, from where ``run`` stands (see :func:`train_module`)."""
    spec, config = run.spec, run.config
    while not run.done and run.epoch <= int(config.epochs):
        t0 = time.perf_counter()
        if run.batch == 0:  # the epoch's learning rate at its start (saved for a resume)
            run.epoch_lr = float(run.optimizer.param_groups[0]["lr"])
        lr = run.epoch_lr
        train_loss = _train_epoch(
            run, train, halo, progress=progress, checkpoint=checkpoint, save_every=save_every
        )
        val_loss = _validate(run, val, halo, progress)
        score = val_loss if not math.isnan(val_loss) else train_loss
        if not math.isnan(score) and not run.per_step:
            run.scheduler.step(score)
        if run.grad_norms:
            run.history.setdefault("grad_norm", []).append(float(np.median(run.grad_norms)))
            run.grad_norms = []
        seconds = time.perf_counter() - t0
        for key, value in zip(
            ("epoch", "train_loss", "val_loss", "lr", "seconds"),
            (run.epoch, train_loss, val_loss, lr, seconds),
        ):
            run.history[key].append(value)
        improved = run.best_state is None or score < run.best_score
        if improved:
            run.best_score, run.best_epoch, run.since_best = score, run.epoch, 0
            run.best_state = {k: v.detach().clone() for k, v in run.module.state_dict().items()}
        else:
            run.since_best += 1
        if progress:
            print(
                f"[xlandslide] {spec.name} epoch {run.epoch}/{config.epochs}: train "
                f"{train_loss:.5f} val {val_loss:.5f} lr {lr:.3g} ({seconds:.1f} s)"
                + (" *" if improved else ""),
                file=sys.stderr,
                flush=True,
            )
        record = {
            "epoch": run.epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": lr,
            "seconds": seconds,
            "improved": improved,
        }
        answers = [cb(record) for cb in list(callbacks or ())]  # every callback is called
        stop = any(a is True for a in answers)
        if config.early_stopping is not None and run.since_best >= config.early_stopping:
            stop = True
        run.epoch, run.batch, run.sums = run.epoch + 1, 0, [0.0, 0.0]
        run.done = stop or run.epoch > int(config.epochs)
        if checkpoint is not None:
            run.save(checkpoint)


__all__ = ["choose_device", "epoch_batches", "train_module"]
