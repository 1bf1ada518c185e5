"""Benchmarks of the uphill offsets and aligned features (ASV classes and a plain table).

Cases, on a smooth synthetic N x N DEM at 10 m (N from ``XLANDSLIDE_BENCH_N``, default
4096) and distances 30 / 100 / 300 m (ring radii 3 / 10 / 30 pixels, 16 + 56 + 200
offsets):

- ``uphill_offsets`` numpy-backed (row bands in threads) and dask-backed (chunks 2048,
  threaded scheduler, overlap depth 30);
- the obvious numpy implementation (a running best over shifted slices) for comparison;
- ``aligned_features``: gathering ``N_ALIGNED`` features at the three distances.

``setup`` builds the data and compiles (or loads from the numba cache) every kernel, so
JIT time is never timed.  :func:`table_rows` measures the same cases with
``time.perf_counter`` for ``benchmarks/bench_table.py``.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from ._timing import best_time

PIXEL = 10.0
DISTANCES = (30.0, 100.0, 300.0)
RADII = (3, 10, 30)
CHUNK = 2048
#: Features gathered in the aligned-features cases (x 3 distances = output channels).
N_ALIGNED = 4


def bench_n() -> int:
    """Side of the benchmark DEM: ``XLANDSLIDE_BENCH_N`` (default 4096)."""
    return int(os.environ.get("XLANDSLIDE_BENCH_N", "4096"))


def synthetic_dem(n: int, seed: int = 0) -> xr.DataArray:
    """Smooth random terrain (gaussian-filtered noise plus a slope), NaN outside an ellipse."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, n)).astype(np.float32)
    hills = ndimage.gaussian_filter(noise, sigma=max(1.0, n / 200), mode="reflect")
    hills /= max(float(np.abs(hills).max()), 1e-12)
    ii, jj = np.mgrid[0:n, 0:n].astype(np.float32) / max(n - 1, 1)
    elev = 1500.0 + 600.0 * hills + 800.0 * ii + 100.0 * np.sin(6.0 * jj)
    outside = (ii - 0.5) ** 2 / 0.3 + (jj - 0.5) ** 2 / 0.25 > 1.0
    elev[outside] = np.nan
    y = 1e6 - PIXEL * (np.arange(n) + 0.5)
    x = 5e5 + PIXEL * (np.arange(n) + 0.5)
    return xr.DataArray(elev.astype(np.float32), dims=("y", "x"), coords={"y": y, "x": x})


def synthetic_features(dem: xr.DataArray, nfeatures: int = N_ALIGNED, seed: int = 1):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((nfeatures, *dem.shape)).astype(np.float32)
    names = [f"f{k}" for k in range(nfeatures)]
    return xr.DataArray(
        data, dims=("feature", "y", "x"), coords={"feature": names, "y": dem.y, "x": dem.x}
    )


def numpy_reference(dem: np.ndarray, radii=RADII) -> np.ndarray:
    """The obvious numpy uphill offsets: a running best over shifted, NaN-padded slices.

    Same contract as the kernel (ring order, strict ``>``, (0, 0) when nothing is valid);
    returns ``(2, len(radii), ny, nx)`` int8.
    """
    from xlandslide.kernels.uphill import ring_offsets

    ny, nx = dem.shape
    out = np.zeros((2, len(radii), ny, nx), dtype=np.int8)
    gt = np.empty(dem.shape, dtype=bool)
    for d, r in enumerate(radii):
        pad = np.pad(dem, r, constant_values=np.nan)
        best = np.full(dem.shape, -np.inf, dtype=dem.dtype)
        for dy, dx in ring_offsets(r):
            v = pad[r + dy : r + dy + ny, r + dx : r + dx + nx]
            np.greater(v, best, out=gt)
            np.copyto(best, v, where=gt)
            np.copyto(out[0, d], dy, where=gt, casting="unsafe")
            np.copyto(out[1, d], dx, where=gt, casting="unsafe")
    return out


def warm_up() -> None:
    """Compile (or load from the cache) every kernel on a tiny input."""
    from xlandslide.features import aligned_features, uphill_offsets

    dem = synthetic_dem(16)
    feats = synthetic_features(dem, 2)
    offs = uphill_offsets(dem, (10.0, 30.0))
    aligned_features(feats, offs, ["f0", "f1"])
    uphill_offsets(dem.astype("float64"), (10.0,))
    # the dask path too (first threaded compute starts the pool and imports)
    offs = _compute(uphill_offsets(dem.chunk(8), (10.0, 30.0)))
    _compute(aligned_features(feats.chunk({"y": 8, "x": 8}), offs.chunk(8), ["f0", "f1"]))


def _compute(obj):
    return obj.compute(scheduler="threads")


# ---------------------------------------------------------------------------- ASV cases


class UphillOffsets:
    """``uphill_offsets`` on an N x N DEM, radii 3 / 10 / 30 (numpy-backed)."""

    timeout = 600
    number = 1
    repeat = 3

    def setup(self):
        self.dem = synthetic_dem(bench_n())
        warm_up()

    def time_uphill_offsets(self):
        _compute(_uphill(self.dem))

    def peakmem_uphill_offsets(self):
        _compute(_uphill(self.dem))


class UphillOffsetsDask(UphillOffsets):
    """The same, dask-backed (chunks 2048, threaded scheduler)."""

    def setup(self):
        super().setup()
        self.dem = self.dem.chunk({"y": CHUNK, "x": CHUNK})


class UphillOffsetsNumpyReference:
    """The obvious numpy implementation, for comparison (slow: about 1 Mpix/s)."""

    timeout = 900
    number = 1
    repeat = 1

    def setup(self):
        self.dem = synthetic_dem(bench_n()).values

    def time_numpy_reference(self):
        numpy_reference(self.dem)


class AlignedFeatures:
    """``aligned_features``: N_ALIGNED features gathered at 3 distances (numpy-backed)."""

    timeout = 600
    number = 1
    repeat = 3

    def setup(self):
        warm_up()
        dem = synthetic_dem(bench_n())
        self.offsets = _uphill(dem)
        self.features = synthetic_features(dem)
        self.names = list(self.features["feature"].values)

    def time_aligned_features(self):
        _compute(_aligned(self.features, self.offsets, self.names))


class AlignedFeaturesDask(AlignedFeatures):
    """The same, dask-backed (chunks 2048, threaded scheduler)."""

    def setup(self):
        super().setup()
        chunks = {"y": CHUNK, "x": CHUNK}
        self.offsets = self.offsets.chunk(chunks)
        self.features = self.features.chunk(chunks)


def _uphill(dem):
    from xlandslide.features import uphill_offsets

    return uphill_offsets(dem, DISTANCES)


def _aligned(features, offsets, names):
    from xlandslide.features import aligned_features

    return aligned_features(features, offsets, names)


# ------------------------------------------------------------------------- plain table


def table_rows(n: int | None = None) -> list[dict]:
    """Measure every case once more outside ASV; rows for ``benchmarks/bench_table.py``.

    ``n`` is the side of the DEM (default ``XLANDSLIDE_BENCH_N`` or 4096).  Returns dicts
    ``{"benchmark": str, "seconds": float, "mpix_per_s": float}`` (best of up to three
    runs, wall time).  The numpy reference is checked to agree with the kernel.
    """
    from xlandslide.kernels.uphill import offsets_block

    n = bench_n() if n is None else int(n)
    warm_up()
    dem = synthetic_dem(n)
    values = dem.values
    mpix = n * n / 1e6
    chunks = {"y": CHUNK, "x": CHUNK}
    dem_dask = dem.chunk(chunks)
    offs = _uphill(dem)
    features = synthetic_features(dem)
    names = list(features["feature"].values)
    offs_dask, feats_dask = offs.chunk(chunks), features.chunk(chunks)
    reference = {}

    def run_reference():
        reference["out"] = numpy_reference(values)

    tag = f"{n}^2, radii 3/10/30"
    gather_tag = f"{n}^2, {N_ALIGNED} features x 3 distances"
    cases = [
        (f"uphill_offsets numpy ({tag})", lambda: _compute(_uphill(dem)), 3),
        (
            f"uphill kernel, 1 thread ({tag})",
            lambda: offsets_block(values, RADII, threads=1),
            3,
        ),
        (f"uphill_offsets dask chunks {CHUNK} ({tag})", lambda: _compute(_uphill(dem_dask)), 3),
        (f"obvious numpy reference ({tag})", run_reference, 1),
        (
            f"aligned_features numpy ({gather_tag})",
            lambda: _compute(_aligned(features, offs, names)),
            3,
        ),
        (
            f"aligned_features dask chunks {CHUNK} ({gather_tag})",
            lambda: _compute(_aligned(feats_dask, offs_dask, names)),
            3,
        ),
    ]
    rows = []
    for name, fn, repeat in cases:
        seconds = best_time(fn, repeat=repeat, budget=30.0)
        rows.append({"benchmark": name, "seconds": seconds, "mpix_per_s": mpix / seconds})
    expected = np.stack([offs["dy"].values, offs["dx"].values])
    if not np.array_equal(reference["out"], expected):  # pragma: no cover
        raise AssertionError("uphill_offsets disagrees with the numpy reference")
    return rows
