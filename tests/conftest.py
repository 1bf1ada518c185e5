"""Shared test helpers (after xarray's tests/__init__.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import dask
import pytest

#: The real Ecuador data shipped with the examples (a copy of ../shared/data/ecuador_rbsf).
DATA = Path(__file__).resolve().parents[1] / "examples" / "data"
ECUADOR_TIF = DATA / "ecuador_rbsf" / "ta_terrain_attributes_10m.tif"


class CountingScheduler:
    """A dask scheduler that counts compute calls and fails past ``max_computes``."""

    def __init__(self, max_computes: int = 0):
        self.total_computes = 0
        self.max_computes = max_computes

    def __call__(self, dsk, keys, **kwargs):
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(
                f"Too many computes. Total: {self.total_computes} > max: {self.max_computes}."
            )
        return dask.get(dsk, keys, **kwargs)


def raise_if_dask_computes(max_computes: int = 0):
    """Context manager: fail if dask computes more than ``max_computes`` times inside."""
    return dask.config.set(scheduler=CountingScheduler(max_computes))


@pytest.fixture
def no_compute():
    with raise_if_dask_computes():
        yield


@pytest.fixture(scope="session")
def ecuador_tif():
    """Path of the real 10 m DEM stack shipped in examples/data (part of every clone)."""
    if not ECUADOR_TIF.exists():  # pragma: no cover - the file is committed
        raise FileNotFoundError(f"the shipped real data is missing: {ECUADOR_TIF}")
    return ECUADOR_TIF


__all__ = ["ECUADOR_TIF", "CountingScheduler", "contextlib", "raise_if_dask_computes"]
