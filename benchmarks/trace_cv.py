"""Which of the package's modules :func:`xlandslide.cross_validate` calls into, and in what order.

A call trace (``sys.setprofile``) of one small cross-validation: the synthetic region
``synthetic_region((128, 128), seed=0)`` in memory, models ``["llr", "cnn"]``, 3 block
folds of 400 m, 1 epoch, core 32 and halo 16, on the CPU with dask's synchronous scheduler
(so every call runs in this thread and the trace is the same at every run).  Every package module is
imported before the trace starts, so the trace holds calls, not imports.

Printed: the number of distinct package modules entered, the number of module-to-module
transitions (consecutive Python calls of the package in different modules), how many times
each module is entered, and the ordered list of distinct modules (first entry order).

Run: ``python benchmarks/trace_cv.py`` (about a minute on two cores).
"""

from __future__ import annotations

import collections
import importlib
import pkgutil
import sys

import dask

import xlandslide as xl
from xlandslide.grid import PatchGeometry
from xlandslide.train import TrainConfig

PACKAGE = "xlandslide"
MODELS = ("llr", "cnn")


def _import_all() -> None:
    for info in pkgutil.walk_packages(xl.__path__, prefix=f"{PACKAGE}."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)


def trace(fn, *args, **kwargs) -> list[str]:
    """The package module of every Python call ``fn`` makes, in call order."""
    seen: list[str] = []

    def profile(frame, event, _arg):
        if event == "call":
            name = frame.f_globals.get("__name__", "")
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                seen.append(name)

    sys.setprofile(profile)
    try:
        fn(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return seen


def main() -> None:
    _import_all()
    region = xl.synthetic_region((128, 128), seed=0).compute()
    folds = xl.spatial_folds(region, "blocks", k=3, seed=0, block_size=400.0)
    configs = {
        m: TrainConfig.paper(m, epochs=1, batch_size=4, device="cpu", early_stopping=None)
        for m in MODELS
    }
    geometry = PatchGeometry(core=32, halo=16)
    with dask.config.set(scheduler="synchronous"):
        calls = trace(
            xl.cross_validate,
            region,
            list(MODELS),
            folds,
            geometry=geometry,
            configs=configs,
            model_configs={"cnn": {"base_width": 4}},
        )
    entries = [m for i, m in enumerate(calls) if i == 0 or calls[i - 1] != m]
    order = list(dict.fromkeys(calls))
    count = collections.Counter(entries)
    print(f"python calls into the package: {len(calls)}")
    print(f"distinct modules: {len(order)}")
    print(f"module-to-module transitions: {len(entries) - 1}")
    print("modules in first-entry order (times entered):")
    for m in order:
        print(f"  {m} ({count[m]})")


if __name__ == "__main__":
    main()
