"""Smoke-run every ASV benchmark and the table script once, on tiny inputs (after flox)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

RUNNER = r"""
import importlib, inspect, itertools, pkgutil, sys
sys.path.insert(0, "asv_bench")
import benchmarks
ran = 0
for info in pkgutil.iter_modules(benchmarks.__path__):
    mod = importlib.import_module(f"benchmarks.{info.name}")
    for _, cls in inspect.getmembers(mod, inspect.isclass):
        if cls.__module__ != mod.__name__:
            continue
        methods = [m for m in dir(cls) if m.startswith(("time_", "track_", "peakmem_"))]
        if not methods:
            continue
        params = getattr(cls, "params", None)
        if params is None:
            combos = [()]
        else:
            grid = params if isinstance(params[0], (list, tuple)) else [params]
            combos = [tuple(p[0] for p in grid)]
        for combo in combos:
            obj = cls()
            if hasattr(obj, "setup_cache"):  # asv passes its result first to every method
                combo = (obj.setup_cache(), *combo)
            if hasattr(obj, "setup"):
                obj.setup(*combo)
            for m in methods:
                getattr(obj, m)(*combo)
                ran += 1
            if hasattr(obj, "teardown"):
                obj.teardown(*combo)
print("ran", ran)
"""


def _env(tmp=None):
    """Tiny sizes; with ``tmp``, every scratch store in it (not in the shared temp folder,
    where concurrent runs would replace each other's stores while they are read)."""
    env = dict(os.environ)
    if tmp is not None:
        env.update(TMPDIR=str(tmp), XLANDSLIDE_VENETO_DIR=str(tmp))
    env.update(
        XLANDSLIDE_BENCH_N="64",
        XLANDSLIDE_BENCH_PREDICT_N="64",
        XLANDSLIDE_BENCH_EPOCHS="1",
        XLANDSLIDE_VENETO_SHAPE="96 112",
        XLANDSLIDE_SCALE_N="160",
        PYTHONPATH=str(ROOT),
    )
    return env


def test_asv_benchmarks_run(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", RUNNER],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.split("ran")[-1]) >= 5


def test_bench_table_prints_rows(tmp_path):
    out = subprocess.run(
        [sys.executable, "benchmarks/bench_table.py"],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("machine:")
    for area in ("features", "region", "patches", "predict", "train", "evaluate"):
        assert any(line.startswith(area) for line in lines[3:]), area


def test_scale_table_runs_a_case(tmp_path):
    env = {**_env(tmp_path), "XLANDSLIDE_SCALE_TMP": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "benchmarks/scale_table.py", "write_store", "predict_llr_store"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "FAILED" not in out.stdout, out.stdout
    assert out.stdout.count("peak") == 2, out.stdout


@pytest.mark.parametrize("extra", [[], ["--reproject"]])
def test_ingest_scale_runs_small(extra):
    """benchmarks/ingest_scale.py at a small size: both cases, in fresh processes."""
    cmd = ["benchmarks/ingest_scale.py", "--shape", "1024", "1280", "--part", "512", *extra]
    out = subprocess.run(
        [sys.executable, *cmd],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "build_region with its one pass" in out.stdout, out.stdout
    assert out.stdout.count("peak RSS") == 3, out.stdout
    assert ("reprojected" in out.stdout) == bool(extra)
