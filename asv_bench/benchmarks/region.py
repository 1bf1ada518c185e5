"""Benchmarks of synthetic regions and region stores (ASV classes and a plain table).

Cases (N from ``XLANDSLIDE_BENCH_N``, default 2048; chunks 256, threaded scheduler):

- building a Veneto-size synthetic region (19500 x 21005, 6,391 blocks) lazily — graph
  construction only, nothing is computed;
- generating an N x N synthetic region (its labels, which needs every block generated);
- generating and writing an N x N region to a Zarr v3 store with :func:`write_region`;
- reading it back: opening the store, reading every layer (dask: continuous layers and
  class codes), and reading 628 x 628 windows of every layer from the numpy-backed
  (``chunks=None``) store;
- the size of the store: bytes per pixel raw (from the dtypes) and on disk (``track_``).

``setup`` compiles (or loads from the numba cache) the generator, so JIT time is never
timed.  :func:`table_rows` measures the same cases for ``benchmarks/bench_table.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ._timing import best_time

VENETO = (19500, 21005)
CHUNK = 256
PATCH = 628


def bench_n() -> int:
    """Side of the benchmark region: ``XLANDSLIDE_BENCH_N`` (default 2048)."""
    return int(os.environ.get("XLANDSLIDE_BENCH_N", "2048"))


def warm_up() -> None:
    """Compile (or load from the cache) the generator on a tiny block."""
    from xlandslide.synthetic import generate_block

    generate_block(0, (0, 8), (0, 8), (8, 8))


def build_veneto():
    from xlandslide.synthetic import synthetic_region

    return synthetic_region(VENETO, seed=0, chunks=CHUNK)


def generate(n: int):
    """Generate an n x n region (computes its labels: every block is generated)."""
    from xlandslide.synthetic import synthetic_region

    return (
        synthetic_region((n, n), seed=0, chunks=CHUNK).label.data.sum().compute(scheduler="threads")
    )


def write(n: int, path) -> Path:
    import dask

    from xlandslide.io import write_region
    from xlandslide.synthetic import synthetic_region

    with dask.config.set(scheduler="threads"):
        return write_region(synthetic_region((n, n), seed=0, chunks=CHUNK), path, overwrite=True)


def region_store(n: int) -> Path:
    """The benchmark store for side ``n``, written on first use in the temp directory."""
    from xlandslide.io.integrity import read_manifest

    path = Path(tempfile.gettempdir()) / f"xlandslide-bench-region-v3-{n}.zarr"
    if read_manifest(path) is None:  # none yet, or unfinished: this cache is ours to redo
        shutil.rmtree(path, ignore_errors=True)
        write(n, path)
    return path


LAYERS = ("continuous", "categorical", "dem", "label")


def read_all(path) -> float:
    import dask

    from xlandslide.io import open_region

    ds = open_region(path)
    sums = [ds[v].data.sum(dtype="float64") for v in LAYERS]
    return float(sum(dask.compute(*sums, scheduler="threads")))


def read_patches(path, count: int = 4, seed: int = 0) -> int:
    """Read ``count`` random PATCH x PATCH windows of every layer (numpy-backed store)."""
    from xlandslide.io import open_region

    ds = open_region(path, chunks=None)
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    size = min(PATCH, ny, nx)
    rng = np.random.default_rng(seed)
    total = 0
    for _ in range(count):
        y0 = int(rng.integers(0, ny - size + 1))
        x0 = int(rng.integers(0, nx - size + 1))
        for v in LAYERS:
            total += ds[v][..., y0 : y0 + size, x0 : x0 + size].values.size
    return total


def bytes_per_pixel(path) -> tuple[float, float]:
    """(raw bytes per pixel from the dtypes, bytes per pixel on disk) of a region store."""
    from xlandslide.io import open_region

    ds = open_region(path)
    npix = ds.sizes["y"] * ds.sizes["x"]
    raw = sum(v.dtype.itemsize * v.size for v in ds.data_vars.values()) / npix
    disk = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / npix
    return raw, disk


# ---------------------------------------------------------------------------- ASV cases


class BuildVenetoLazy:
    """Graph construction of a 19500 x 21005 synthetic region (nothing computed)."""

    number = 1
    repeat = 5

    def setup(self):
        build_veneto()  # imports

    def time_build_veneto_lazy(self):
        build_veneto()


class GenerateRegion:
    """Generating an N x N synthetic region (labels computed, threaded)."""

    timeout = 600
    number = 1
    repeat = 2

    def setup(self):
        warm_up()
        self.n = bench_n()

    def time_generate(self):
        generate(self.n)


class WriteRegion:
    """Generating and writing an N x N region to a Zarr v3 store."""

    timeout = 900
    number = 1
    repeat = 1

    def setup(self):
        warm_up()
        self.n = bench_n()
        self.tmp = Path(tempfile.mkdtemp(prefix="xlandslide-bench-"))

    def teardown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def time_generate_and_write(self):
        write(self.n, self.tmp / "region.zarr")


class ReadRegion:
    """Reading the N x N store back: open, every layer (dask), 628^2 windows (numpy); size."""

    timeout = 900
    number = 1
    repeat = 3

    def setup(self):
        warm_up()
        self.path = region_store(bench_n())

    def time_open(self):
        from xlandslide.io import open_region

        open_region(self.path)

    def time_read_all_layers(self):
        read_all(self.path)

    def time_read_patches(self):
        read_patches(self.path)

    def track_bytes_per_pixel_raw(self):
        return bytes_per_pixel(self.path)[0]

    track_bytes_per_pixel_raw.unit = "bytes"

    def track_bytes_per_pixel_disk(self):
        return bytes_per_pixel(self.path)[1]

    track_bytes_per_pixel_disk.unit = "bytes"


# ------------------------------------------------------------------------- plain table


def table_rows(n: int | None = None) -> list[dict]:
    """Rows ``{benchmark, seconds, ...}`` for the lead's table script."""
    n = n or bench_n()
    warm_up()
    build_veneto()
    rows = []
    dt = best_time(build_veneto, repeat=5)
    rows.append(
        {"benchmark": f"synthetic_region {VENETO[0]}x{VENETO[1]} lazy build", "seconds": dt}
    )
    dt = best_time(lambda: generate(n), repeat=2)
    rows.append(
        {
            "benchmark": f"synthetic_region {n}^2 generate",
            "seconds": dt,
            "mpix_per_s": n * n / dt / 1e6,
        }
    )
    tmp = Path(tempfile.mkdtemp(prefix="xlandslide-bench-"))
    try:
        path = tmp / "region.zarr"
        dt = best_time(lambda: write(n, path), repeat=1)
        rows.append(
            {
                "benchmark": f"generate + write_region {n}^2 (zarr v3, zstd)",
                "seconds": dt,
                "mpix_per_s": n * n / dt / 1e6,
            }
        )

        def _open():
            from xlandslide.io import open_region

            open_region(path)

        rows.append({"benchmark": f"open_region {n}^2", "seconds": best_time(_open)})
        dt = best_time(lambda: read_all(path), repeat=2)
        rows.append(
            {
                "benchmark": f"read every layer {n}^2 (dask)",
                "seconds": dt,
                "mpix_per_s": n * n / dt / 1e6,
            }
        )
        count = 4
        dt = best_time(lambda: read_patches(path, count), repeat=2)
        rows.append(
            {
                "benchmark": f"read {PATCH}^2 windows of every layer (numpy-backed)",
                "seconds": dt / count,
                "per_second": count / dt,
                "unit": "patches/s",
            }
        )
        raw, disk = bytes_per_pixel(path)
        rows.append(
            {
                "benchmark": f"region store bytes/pixel (raw {raw:.0f}, disk {disk:.2f})",
                "seconds": 0.0,
            }
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for row in table_rows():
        print(f"{row['benchmark']}: {row['seconds']:.3f} s")
