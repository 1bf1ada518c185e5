"""Shared test helpers (after xarray's tests/__init__.py): dask compute guards, tiny regions.

Import them as ``from tests.helpers import raise_if_dask_computes, tiny_region``.
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np

#: The real Ecuador data shipped with the examples (a copy of ../shared/data/ecuador_rbsf).
DATA = Path(__file__).resolve().parents[1] / "examples" / "data"
ECUADOR_TIF = DATA / "ecuador_rbsf" / "ta_terrain_attributes_10m.tif"
ECUADOR_POINTS = DATA / "ecuador_rbsf" / "lsl_balanced_points.gpkg"


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


def tiny_region(shape=(96, 112), seed=0, chunks=48, distances=None, halo=16):
    """A small synthetic region (the paper's INSPIRE layout), lazily; offsets on request."""
    import xlandslide as xl

    region = xl.synthetic_region(shape, seed=seed, chunks=chunks)
    if distances:
        region = region.landslide.with_offsets(distances, halo=halo)
    return region


def custom_region(shape=(40, 50), *, seed=0, continuous=("a", "b"), groups=None, chunks=None):
    """A region of random layers with a layout of one's choosing (numpy-backed, or dask).

    ``groups`` maps group names to class counts (default ``{"soil": 3, "cover": 2}``); 10 %
    of the pixels are outside the region (NaN layers, code 255, label -1).
    """
    import rioxarray  # noqa: F401

    from xlandslide.catalog import FeatureLayout
    from xlandslide.region import region_dataset

    groups = {"soil": 3, "cover": 2} if groups is None else groups
    rng = np.random.default_rng(seed)
    ny, nx = shape
    outside = rng.random(shape) < 0.1
    cont = rng.standard_normal((len(continuous), ny, nx)).astype(np.float32)
    cont[:, outside] = np.nan
    codes = np.zeros((len(groups), ny, nx), np.uint8)
    for g, n in enumerate(groups.values()):
        codes[g] = rng.integers(0, n, shape)
    codes[:, outside] = 255
    dem = (100 + 10 * rng.standard_normal(shape)).astype(np.float32)
    dem[outside] = np.nan
    label = (rng.random(shape) < 0.05).astype(np.int8)
    label[outside] = -1
    layout = FeatureLayout(
        tuple(continuous), {g: tuple(f"c{k}" for k in range(n)) for g, n in groups.items()}
    )
    region = region_dataset(
        dem=dem,
        label=label,
        layout=layout,
        continuous=cont if continuous else None,
        categorical=codes if groups else None,
        coords={"y": 1000.0 - 10.0 * np.arange(ny) - 5, "x": 500.0 + 10.0 * np.arange(nx) + 5},
        normalisation={n: {"mean": 0.0, "std": 1.0} for n in continuous},
    ).rio.write_crs("EPSG:32632")
    if chunks:
        region = region.chunk({"y": chunks, "x": chunks})
    return region


class BlockCounter:
    """Count the dask tasks (local schedulers) whose key name starts with ``prefix``.

    ``with BlockCounter("xlandslide-predict") as c: ...`` then ``c.blocks``: the blocks of a
    prediction (or of any named dask array) that were actually computed.
    """

    def __init__(self, prefix: str):
        from dask.callbacks import Callback

        self.prefix, self.blocks = prefix, 0
        counter = self

        class _Callback(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):
                name = key[0] if isinstance(key, tuple) else key
                if str(name).startswith(counter.prefix):
                    counter.blocks += 1

        self._callback = _Callback()

    def __enter__(self):
        self._callback.__enter__()
        return self

    def __exit__(self, *exc):
        self._callback.__exit__(*exc)


__all__ = [
    "DATA",
    "ECUADOR_POINTS",
    "ECUADOR_TIF",
    "BlockCounter",
    "CountingScheduler",
    "custom_region",
    "raise_if_dask_computes",
    "tiny_region",
]
