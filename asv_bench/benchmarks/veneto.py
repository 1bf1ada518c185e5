"""A Veneto-size run: 19500 x 21005 pixels (409.6 Mpix), stage by stage, time and peak memory.

Stages, each in its own process (so that each stage's peak resident memory is its own):

1. ``store``: build the synthetic region lazily and write it to a Zarr store
   (:func:`xlandslide.write_region`, block by block);
2. ``offsets``: compute the uphill offsets (30, 100, 300 m) from the stored DEM and write
   them to a Zarr store of their own;
3. ``llr``: predict the stored region with an LLR and write the map to Zarr
   (:func:`xlandslide.write_map`);
4. ``lacnn``: predict a 1024 x 1024 window with the demo's LACNN geometry (core 128,
   halo 64, base width 8) and extrapolate to the whole region.

    python benchmarks/veneto.py                      # every stage (about 15-25 min, 2 cores)
    python benchmarks/veneto.py llr lacnn            # some stages (the store must exist)
    python benchmarks/bench_table.py veneto          # the same, as rows of the table
    XLANDSLIDE_VENETO_DIR=/big/disk python benchmarks/veneto.py

It needs about 8 GB of free disk (``XLANDSLIDE_VENETO_DIR``, default the temp folder).  CI
never runs it at full size: ``tests/test_asv.py`` runs the stages once on a tiny shape
(``XLANDSLIDE_VENETO_SHAPE="NY NX"``), and the ASV class :class:`VenetoRun` is skipped by
``asv run --quick`` only through its long ``setup_cache``; run it with
``asv run --bench veneto``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHAPE = tuple(int(v) for v in os.environ.get("XLANDSLIDE_VENETO_SHAPE", "19500 21005").split())
DIR = Path(os.environ.get("XLANDSLIDE_VENETO_DIR", tempfile.gettempdir())) / "xlandslide-veneto"
STAGES = ("store", "offsets", "llr", "lacnn")


def _model(region, name, **kw):
    import torch

    import xlandslide as xl
    from xlandslide.model import spec_for_region

    torch.manual_seed(0)
    spec = spec_for_region(name, region, **kw)
    return xl.LandslideModel(spec.build_module(), spec)


def _ours_or_gone(path) -> None:
    """Remove a store of this benchmark's folder that has no xlandslide manifest (left by an
    unfinished or older run): ``overwrite=True`` replaces only xlandslide's own stores."""
    from xlandslide.io.integrity import read_manifest

    if read_manifest(path) is None:
        shutil.rmtree(path, ignore_errors=True)


def stage_store():
    import xlandslide as xl

    region = xl.synthetic_region(SHAPE, seed=0)
    _ours_or_gone(DIR / "region.zarr")
    xl.write_region(region, DIR / "region.zarr", overwrite=True)
    return {"what": f"synthetic {SHAPE[0]}x{SHAPE[1]} -> region store"}


def stage_offsets():
    import xlandslide as xl

    region = xl.open_region(DIR / "region.zarr")
    offs = region.landslide.uphill_offsets((30, 100, 300))
    path = DIR / "offsets.zarr"
    shutil.rmtree(path, ignore_errors=True)
    offs.to_zarr(path, mode="w", consolidated=False)
    return {"what": "uphill offsets 30/100/300 m -> zarr"}


def stage_llr():
    import xlandslide as xl

    region = xl.open_region(DIR / "region.zarr")
    model = _model(region, "llr")
    _ours_or_gone(DIR / "llr.zarr")
    xl.write_map(region.landslide.predict(model), DIR / "llr.zarr", overwrite=True)
    return {"what": "LLR predict -> map (zarr)"}


def stage_lacnn(window: int = 1024):
    import xlandslide as xl

    region = xl.open_region(DIR / "region.zarr")
    y0, x0 = SHAPE[0] // 3, SHAPE[1] // 3
    sub = region.isel(y=slice(y0, y0 + window), x=slice(x0, x0 + window))
    names = sub.landslide.layout().names
    model = _model(
        sub,
        "lacnn",
        aligned=tuple(names[:22]),
        distances=(30.0, 100.0, 300.0),
        geometry=xl.PatchGeometry(128, 64),
        model_config={"base_width": 8},
    )
    t0 = time.perf_counter()
    sub.landslide.predict(model).compute()
    dt = time.perf_counter() - t0
    whole = dt * SHAPE[0] * SHAPE[1] / window**2
    return {
        "what": f"LACNN predict {window}^2 window; whole region extrapolated: {whole / 3600:.1f} h",
        "extrapolated_seconds": whole,
    }


def run_stage(stage: str) -> dict:
    """Run ``stage`` in a fresh process; its result (``seconds``, ``peak_rss_mb``, ``what``)."""
    out = subprocess.run(
        [sys.executable, "-c", f"import {__name__} as m; m._child({stage!r})"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        return {"error": out.stderr[-600:], "what": stage}
    return json.loads(lines[-1][7:])


class VenetoRun:
    """The Veneto-size stages as ASV tracks (seconds and peak memory of each stage)."""

    timeout = 7200
    number = 1
    repeat = 1

    def setup_cache(self):
        return {stage: run_stage(stage) for stage in STAGES}

    def track_store_seconds(self, r):
        return r["store"]["seconds"]

    def track_llr_predict_seconds(self, r):
        return r["llr"]["seconds"]

    def track_peak_memory_gb(self, r):
        return max(v["peak_rss_mb"] for v in r.values()) / 1024

    track_peak_memory_gb.unit = "GB"


def table_rows() -> list[dict]:
    """One row per stage for ``benchmarks/bench_table.py veneto``."""
    DIR.mkdir(parents=True, exist_ok=True)
    mpix = SHAPE[0] * SHAPE[1] / 1e6
    rows = []
    for stage in STAGES:
        r = run_stage(stage)
        if "error" in r:
            raise RuntimeError(f"Veneto stage {stage} failed: {r['error']}")
        peak = r["peak_rss_mb"] / 1024
        row = {"benchmark": f"veneto {stage} (peak {peak:.2f} GB)", "seconds": r["seconds"]}
        if stage != "lacnn":
            row["mpix_per_s"] = mpix / r["seconds"]
        rows.append(row)
    return rows


def _child(stage: str) -> None:
    t0 = time.perf_counter()
    result = globals()[f"stage_{stage}"]()
    result["seconds"] = time.perf_counter() - t0
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    stages = argv or list(STAGES)
    DIR.mkdir(parents=True, exist_ok=True)
    mpix = SHAPE[0] * SHAPE[1] / 1e6
    print(f"Veneto-size run: {SHAPE[0]} x {SHAPE[1]} = {mpix:.1f} Mpix, in {DIR}")
    status = 0
    for stage in stages:
        r = run_stage(stage)
        if "error" in r:
            print(f"{stage:<8} FAILED: {r['error']}")
            status = 1
            continue
        rate = f"{mpix / r['seconds']:.2f} Mpix/s" if stage != "lacnn" else ""
        print(
            f"{stage:<8} {r['seconds']:9.1f} s  peak {r['peak_rss_mb'] / 1024:5.2f} GB  "
            f"{rate:>14}  {r['what']}",
            flush=True,
        )
    return status
