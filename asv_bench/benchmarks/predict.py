"""Prediction throughput on CPU (pixels per second), lazy map -> computed values.

Models are untrained (weights do not change the cost).  A synthetic region of
``XLANDSLIDE_BENCH_PREDICT_N`` pixels a side (default 1024) in the INSPIRE layout (94
features as codes), uphill offsets at 3 distances:

- LLR (per pixel, no tiles): the memory-speed path;
- LACNN with the demo's geometry (core 128, halo 64), 22 aligned features at 3 distances
  (160 channels), U-Net base width 16, batches of 4 tiles; and with a prediction core of
  512 (less halo: 1.56x the pixels kept instead of 4x).
"""

from __future__ import annotations

import os
import time
from typing import ClassVar

import dask
import numpy as np

N = int(os.environ.get("XLANDSLIDE_BENCH_PREDICT_N", os.environ.get("XLANDSLIDE_BENCH_N", 1024)))


def _setup(n, name="lacnn", core=128, halo=64, width=16):
    import torch

    import xlandslide as xl
    from xlandslide.model import spec_for_region

    torch.manual_seed(0)
    region = xl.synthetic_region(shape=(n, n), seed=0, chunks=256)
    region = region.landslide.with_offsets((30, 100, 300)).persist()
    names = region.landslide.layout().names
    kw = {}
    if name in ("lann", "lacnn"):
        kw = {"aligned": tuple(names[:22]), "distances": (30.0, 100.0, 300.0)}
    spec = spec_for_region(
        name,
        region,
        geometry=xl.PatchGeometry(min(core, n), halo),
        model_config={"base_width": width} if "cnn" in name else {},
        **kw,
    )
    return region, xl.LandslideModel(spec.build_module(), spec)


class PredictLLR:
    """Whole-map LLR prediction (per pixel, no tiles) with the threaded scheduler."""

    timeout = 600
    number = 1
    repeat = 3
    name = "llr"
    kwargs: ClassVar[dict] = {}

    def setup(self):
        self.region, self.model = _setup(N, self.name)

    def time_predict(self):
        with dask.config.set(scheduler="threads"):
            self.region.landslide.predict(self.model, **self.kwargs).compute()

    def track_mpix_per_s(self):
        t0 = time.perf_counter()
        self.time_predict()
        return N * N / (time.perf_counter() - t0) / 1e6

    track_mpix_per_s.unit = "Mpix/s"


class PredictLACNN(PredictLLR):
    """Whole-map LACNN prediction (tiles of core 128 + 2 x 64, batches of 4)."""

    repeat = 2
    name = "lacnn"


class PredictLACNNCore512(PredictLACNN):
    """The same with a prediction core of 512 (an explicit, documented choice)."""

    kwargs: ClassVar[dict] = {"core": 512}


def table_rows(n: int | None = None) -> list[dict]:
    """CPU rows always; CUDA rows too when a GPU is present (the model moved there)."""
    import torch

    n = n or N
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for name, kwargs in (("llr", {}), ("lacnn", {}), ("lacnn", {"core": 512})):
        region, model = _setup(n, name)
        for device in devices:
            model = model.to(device)
            prob = region.landslide.predict(model, **kwargs)
            if device == "cuda":  # warm-up: CUDA context and cuDNN autotuning are not timed
                small = region.isel(y=slice(0, 256), x=slice(0, 256))
                small.landslide.predict(model, **kwargs).compute()
            with dask.config.set(scheduler="threads"):
                t0 = time.perf_counter()
                values = prob.compute()
                dt = time.perf_counter() - t0
            assert np.isfinite(values.values).any()
            extra = f" core {kwargs['core']}" if kwargs else ""
            rows.append(
                {
                    "benchmark": f"predict {name.upper()}{extra} {n}x{n} {device}",
                    "seconds": dt,
                    "mpix_per_s": n * n / dt / 1e6,
                }
            )
    return rows
