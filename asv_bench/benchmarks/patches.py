"""Patch throughput: training patches read from a Zarr region store through PatchDataset.

A region of N x N pixels (N from ``XLANDSLIDE_BENCH_PATCHES_N``, else ``XLANDSLIDE_BENCH_N``,
default 1500) with 94 features (2 continuous, 92 one-hot in blocky patterns, so it
compresses like real categorical layers), a label and uphill offsets at 3 distances, written
once to a temporary Zarr v3 store (zstd) with chunks (94, 128, 128) — the chunking that made
patch reads fastest in the design measurements.  Patches use the paper's geometry, core 500
and halo 64 (628 x 628 inputs), partial edge patches included; every patch is read once.

Cases: the store opened without dask (``chunks=None``: lazily indexed numpy, the fast path)
and with dask (``chunks={}``).  :func:`table_rows` gives the same figures as plain rows.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 128
N_FEATURES = 94


def bench_n() -> int:
    """Side of the benchmark region (default 1500)."""
    return int(
        os.environ.get("XLANDSLIDE_BENCH_PATCHES_N", os.environ.get("XLANDSLIDE_BENCH_N", 1500))
    )


def _features_block(block_info=None, *, seed):
    (f0, f1), (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rng = np.random.default_rng([seed, r0, c0])
    ny, nx = r1 - r0, c1 - c0
    out = np.zeros((f1 - f0, ny, nx), np.float32)
    # one category per 32 x 32 cell, one-hot over channels 1..92
    cells = rng.integers(1, N_FEATURES - 1, (-(-ny // 32), -(-nx // 32)))
    code = np.repeat(np.repeat(cells, 32, 0), 32, 1)[:ny, :nx]
    for f in range(f0, f1):
        if f in (0, N_FEATURES - 1):
            out[f - f0] = rng.standard_normal((ny, nx))
        else:
            out[f - f0] = code == f
    return out


def write_region(path, n: int, seed: int = 0) -> Path:
    """Write the benchmark region to ``path`` (chunk by chunk; never whole in memory)."""
    import dask.array as da
    import xarray as xr

    from xlandslide.catalog import FEATURE_NAMES

    shape = (N_FEATURES, n, n)
    features = da.map_blocks(
        _features_block,
        chunks=da.core.normalize_chunks((N_FEATURES, CHUNK, CHUNK), shape),
        dtype=np.float32,
        seed=seed,
    )
    rng = da.random.default_rng(seed)
    label = (rng.random((n, n), chunks=CHUNK) < 0.01).astype(np.int8)
    dy = rng.integers(-30, 31, (3, n, n), chunks=(3, CHUNK, CHUNK), dtype=np.int8)
    dx = rng.integers(-30, 31, (3, n, n), chunks=(3, CHUNK, CHUNK), dtype=np.int8)
    region = xr.Dataset(
        {
            "features": (("feature", "y", "x"), features),
            "label": (("y", "x"), label),
            "uphill_dy": (("distance", "y", "x"), dy),
            "uphill_dx": (("distance", "y", "x"), dx),
        },
        coords={
            "feature": np.array(FEATURE_NAMES, dtype=object),
            "distance": [30.0, 100.0, 300.0],
            "y": 1e6 - 10.0 * (np.arange(n) + 0.5),
            "x": 5e5 + 10.0 * (np.arange(n) + 0.5),
        },
    )
    region.to_zarr(path, mode="w", consolidated=False)
    return Path(path)


def region_store(n: int) -> Path:
    """The benchmark store for side ``n``, written on first use in the temp directory."""
    path = Path(tempfile.gettempdir()) / f"xlandslide-bench-patches-{n}.zarr"
    if not (path / "zarr.json").exists() or not (path / "uphill_dx").exists():
        write_region(path, n)
    return path


def open_dataset(path, dask: bool):
    """A PatchDataset over every patch of the store (all in one split, no oversampling)."""
    import xarray as xr

    from xlandslide.grid import PatchGeometry
    from xlandslide.patches import PatchDataset, make_patches

    region = xr.open_zarr(path, chunks={} if dask else None, consolidated=False)
    ps = make_patches(region, PatchGeometry(core=500, halo=64), fractions=(1.0, 0.0, 0.0))
    return PatchDataset(region, ps, "train", oversample=False)


def read_all(ds) -> int:
    for i in range(len(ds)):
        item = ds[i]
    assert item["features"].shape[1:] == (628, 628)
    return len(ds)


class PatchesZarr:
    """Reading 628 x 628 x 94 patches (+ offsets, label) from a lazily indexed Zarr store."""

    timeout = 900
    number = 1
    repeat = 3
    dask = False

    def setup_cache(self):
        return str(region_store(bench_n()))

    def setup(self, path):
        self.ds = open_dataset(path, self.dask)
        self.ds[0]  # builds the xbatcher generators outside the timing

    def time_read_all_patches(self, path):
        read_all(self.ds)

    def track_patches_per_second(self, path):
        t0 = time.perf_counter()
        n = read_all(self.ds)
        return n / (time.perf_counter() - t0)

    track_patches_per_second.unit = "patches/s"


class PatchesZarrDask(PatchesZarr):
    """The same from the store opened with dask (``chunks={}``)."""

    dask = True


def table_rows(n: int | None = None) -> list[dict]:
    """Rows ``{benchmark, seconds, per_second, unit}`` for the lead's table script."""
    n = n or bench_n()
    path = region_store(n)
    rows = []
    for use_dask in (False, True):
        ds = open_dataset(path, use_dask)
        ds[0]
        t0 = time.perf_counter()
        count = read_all(ds)
        dt = time.perf_counter() - t0
        how = "dask" if use_dask else "no dask"
        rows.append(
            {
                "benchmark": f"PatchDataset 628^2x94 zarr {n}^2 {how}",
                "seconds": dt,
                "per_second": count / dt,
                "unit": "patches/s",
            }
        )
    return rows


if __name__ == "__main__":
    for row in table_rows():
        print(f"{row['benchmark']}: {row['per_second']:.2f} {row['unit']} ({row['seconds']:.2f} s)")
