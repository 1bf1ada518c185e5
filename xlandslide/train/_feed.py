"""Feeding a training run: the patch order of every epoch, data loaders, device copies.

Shared by the loop (:mod:`xlandslide.train.loop`) and the acceptance test of a warm start
(:mod:`xlandslide.train.accept`).
"""

from __future__ import annotations

import numpy as np

from ..errors import RegionError
from .config import TrainConfig


def _seed_worker(worker_id: int) -> None:  # DataLoader worker_init_fn (must be picklable)
    import random

    import torch

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # noqa: NPY002  (datasets may use the legacy global RNG)
    random.seed(seed)


def epoch_batches(n: int, config: TrainConfig, epoch: int, *, shuffle: bool) -> list[list[int]]:
    """The batches (lists of dataset indices) of ``epoch``: a seeded permutation, chunked."""
    order = np.arange(n)
    if shuffle:
        order = np.random.Generator(np.random.PCG64([int(config.seed), int(epoch)])).permutation(n)
    b = int(config.batch_size)
    batches = [order[i : i + b].tolist() for i in range(0, n, b)]
    if shuffle and config.max_batches_per_epoch is not None:
        batches = batches[: int(config.max_batches_per_epoch)]
    return batches


class _Batches:
    """A batch sampler whose batches are set before every pass over a loader."""

    def __init__(self):
        self.batches: list[list[int]] = []

    def __iter__(self):
        return iter(list(self.batches))

    def __len__(self) -> int:
        return len(self.batches)


class Loaders:
    """One DataLoader per dataset for the whole run.

    With ``num_workers > 0`` the workers persist from epoch to epoch, and with them the
    patch cache of each worker's :class:`~xlandslide.PatchDataset`: a new loader per epoch
    would start new workers with empty caches, and every epoch would read the region again.
    """

    def __init__(self, config: TrainConfig, device):
        self.config, self.device = config, device
        self.loaders: dict[int, tuple] = {}

    def __call__(self, dataset, batches):
        import torch
        from torch.utils.data import DataLoader

        key = id(dataset)
        if key not in self.loaders:
            sampler = _Batches()
            generator = torch.Generator()
            generator.manual_seed(int(self.config.seed))
            workers = int(self.config.num_workers)
            loader = DataLoader(
                dataset,
                batch_sampler=sampler,
                num_workers=workers,
                worker_init_fn=_seed_worker if workers else None,
                generator=generator,
                pin_memory=self.device.type == "cuda",
                persistent_workers=workers > 0,
            )
            self.loaders[key] = (dataset, sampler, loader)
        _, sampler, loader = self.loaders[key]
        sampler.batches = [list(b) for b in batches]
        return loader

    def close(self) -> None:
        """Drop the loaders (their persistent workers exit)."""
        self.loaders.clear()


def batch_to(batch, device, needs_offsets: bool):
    import torch

    def move(key):
        return torch.as_tensor(batch[key]).to(device, non_blocking=True)

    offsets = None
    if needs_offsets:
        if batch.get("offsets") is None:
            raise RegionError(
                "the model reads aligned features but the batches carry no 'offsets'; add "
                "uphill_dy/uphill_dx to the region (region.landslide.with_offsets)"
            )
        offsets = move("offsets")  # int8 travels; the gather casts on the device
    return (move("continuous"), move("categorical"), offsets), move("label")


def amp_settings(config: TrainConfig, device):
    """(autocast dtype or None, GradScaler or None)."""
    import torch

    if not config.amp or device.type != "cuda":
        return None, None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16, None
    return torch.float16, torch.amp.GradScaler("cuda")


__all__ = ["Loaders", "amp_settings", "batch_to", "epoch_batches"]
