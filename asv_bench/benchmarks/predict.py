"""Prediction throughput of LACNN on CPU (pixels per second), lazy map -> computed values.

The model is untrained (weights do not change the cost).  Sizes: a region of
``XLANDSLIDE_BENCH_PREDICT_N`` pixels a side (default 1024) with the paper's geometry
(core 500, halo 64), 94 features + 22 aligned features at 3 distances (160 channels),
U-Net base width 16.
"""

from __future__ import annotations

import os
import time

import dask
import numpy as np

N = int(os.environ.get("XLANDSLIDE_BENCH_PREDICT_N", os.environ.get("XLANDSLIDE_BENCH_N", 1024)))


def _setup(n, core=500, halo=64, width=16):
    import torch

    from xlandslide.catalog import FEATURE_NAMES
    from xlandslide.checkpoint import LandslideModel
    from xlandslide.grid import PatchGeometry
    from xlandslide.models import build_model
    from xlandslide.synthetic import synthetic_region

    torch.manual_seed(0)
    region = synthetic_region(shape=(n, n), seed=0, chunks=256)
    region = region.landslide.with_offsets((30, 100, 300)).persist()
    aligned = [*FEATURE_NAMES[:21], "dem"]
    module = build_model(
        "lacnn",
        94,
        feature_names=FEATURE_NAMES,
        aligned_names=aligned,
        n_distances=3,
        base_width=width,
    )
    core = min(core, n)
    model = LandslideModel(
        module,
        "lacnn",
        feature_names=FEATURE_NAMES,
        aligned_names=aligned,
        distances=(30.0, 100.0, 300.0),
        geometry=PatchGeometry(core, halo),
        pixel_size=10.0,
        normalisation=region.attrs.get("normalisation"),
    )
    return region, model


class PredictLACNN:
    """Whole-map LACNN prediction on CPU with the threaded scheduler."""

    timeout = 600
    number = 1
    repeat = 2

    def setup(self):
        self.region, self.model = _setup(N)

    def time_predict(self):
        with dask.config.set(scheduler="threads"):
            self.region.landslide.predict(self.model).compute()

    def track_mpix_per_s(self):
        t0 = time.perf_counter()
        self.time_predict()
        return N * N / (time.perf_counter() - t0) / 1e6

    track_mpix_per_s.unit = "Mpix/s"


def table_rows(n: int | None = None) -> list[dict]:
    """CPU rows always; CUDA rows too when a GPU is present (the model moved there)."""
    import torch

    n = n or N
    region, model = _setup(n)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        model = model.to(device)
        prob = region.landslide.predict(model)
        if device == "cuda":  # warm-up: CUDA context and cuDNN autotuning are not timed
            region.isel(y=slice(0, 256), x=slice(0, 256)).landslide.predict(model).compute()
        for workers in (1, 2):
            with dask.config.set(scheduler="threads", num_workers=workers):
                t0 = time.perf_counter()
                values = prob.compute()
                dt = time.perf_counter() - t0
            assert np.isfinite(values.values).any()
            rows.append(
                {
                    "benchmark": f"predict LACNN {n}x{n} {device} ({workers} dask thread(s))",
                    "seconds": dt,
                    "mpix_per_s": n * n / dt / 1e6,
                }
            )
    return rows
