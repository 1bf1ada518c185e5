"""Patch throughput: training patches read from a Zarr region store through PatchDataset.

A synthetic region of N x N pixels (N from ``XLANDSLIDE_BENCH_PATCHES_N``, else
``XLANDSLIDE_BENCH_N``, default 1500) in the compact layout — continuous slope and DEM,
class codes of the four INSPIRE groups, label, uphill offsets at 3 distances — written once
to a temporary Zarr v3 store (zstd, chunks 256).  Patches of the paper's geometry (core 500,
halo 64: 628 x 628 inputs), partial edge patches included; every patch is read once, the
patch cache off (each read goes to the store).

Cases: the store opened without dask (``chunks=None``: lazily indexed numpy, the fast path)
and with dask (``chunks={}``), and raw zarr reads of the same windows of the same arrays
(the speed of the store: PatchDataset is meant to reach at least 0.9 of it).
:func:`table_rows` gives the same figures as plain rows.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

CORE, HALO = 500, 64
VARIABLES = ("continuous", "categorical", "uphill_dy", "uphill_dx", "label")


def bench_n() -> int:
    """Side of the benchmark region (default 1500)."""
    return int(
        os.environ.get("XLANDSLIDE_BENCH_PATCHES_N", os.environ.get("XLANDSLIDE_BENCH_N", 1500))
    )


def region_store(n: int) -> Path:
    """The benchmark store for side ``n``, written on first use in the temp directory."""
    import dask

    import xlandslide as xl
    from xlandslide.io.integrity import read_manifest

    path = Path(tempfile.gettempdir()) / f"xlandslide-bench-patches-v3-{n}.zarr"
    if read_manifest(path) is None:  # none yet, or unfinished: this cache is ours to redo
        shutil.rmtree(path, ignore_errors=True)
        region = xl.synthetic_region((n, n), seed=0).landslide.with_offsets((30, 100, 300))
        with dask.config.set(scheduler="threads"):
            xl.write_region(region, path, overwrite=True)
    return path


def open_dataset(path, dask: bool):
    """A PatchDataset over every patch of the store (one split, no oversampling, no cache)."""
    import xlandslide as xl

    region = xl.open_region(path, chunks={} if dask else None)
    ps = xl.make_patches(region, xl.PatchGeometry(CORE, HALO), fractions=(1.0, 0.0, 0.0))
    return xl.PatchDataset(region, ps, "train", oversample=False, cache_bytes=0)


def read_all(ds) -> int:
    for i in range(len(ds)):
        item = ds[i]
    assert item["continuous"].shape[1:] == (CORE + 2 * HALO,) * 2
    return len(ds)


def read_raw(path, ds) -> int:
    """Raw zarr reads of the same windows (clipped to the array) of the same variables."""
    import zarr

    group = zarr.open_group(str(path), mode="r")
    arrays = [group[v] for v in VARIABLES]
    ny, nx = ds.patchset.shape
    for k in ds.ids:
        y0, y1, x0, x1 = ds.patchset.window(k)
        sy, sx = slice(max(y0, 0), min(y1, ny)), slice(max(x0, 0), min(x1, nx))
        for a in arrays:
            a[..., sy, sx]
    return len(ds.ids)


class PatchesZarr:
    """Reading 628 x 628 patches (codes, layers, offsets, label) from a Zarr store."""

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

    def time_read_raw_zarr(self, path):
        read_raw(path, self.ds)

    def track_patches_per_second(self, path):
        t0 = time.perf_counter()
        n = read_all(self.ds)
        return n / (time.perf_counter() - t0)

    track_patches_per_second.unit = "patches/s"

    def track_ratio_to_raw_zarr(self, path):
        t0 = time.perf_counter()
        read_raw(path, self.ds)
        raw = time.perf_counter() - t0
        t0 = time.perf_counter()
        read_all(self.ds)
        return raw / (time.perf_counter() - t0)

    track_ratio_to_raw_zarr.unit = "ratio"


class PatchesZarrDask(PatchesZarr):
    """The same from the store opened with dask (``chunks={}``)."""

    dask = True


def table_rows(n: int | None = None) -> list[dict]:
    """Rows ``{benchmark, seconds, per_second, unit}`` for the table script."""
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
                "benchmark": f"PatchDataset 628^2 zarr {n}^2 {how}",
                "seconds": dt,
                "per_second": count / dt,
                "unit": "patches/s",
            }
        )
    t0 = time.perf_counter()
    count = read_raw(path, ds)
    dt = time.perf_counter() - t0
    rows.append(
        {
            "benchmark": f"raw zarr reads, same windows {n}^2",
            "seconds": dt,
            "per_second": count / dt,
            "unit": "patches/s",
        }
    )
    return rows


if __name__ == "__main__":
    for row in table_rows():
        print(f"{row['benchmark']}: {row['per_second']:.2f} {row['unit']} ({row['seconds']:.2f} s)")
