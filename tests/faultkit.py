"""Helpers of the fault suites (tests/test_faults*.py): children to kill, small regions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import custom_region

ROOT = Path(__file__).resolve().parents[1]
SIGKILL = -signal.SIGKILL


def env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def spawn(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(script: str, *args, timeout=120) -> subprocess.CompletedProcess:
    proc = spawn(script, *args)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_when(proc: subprocess.Popen, ready, *, delay: float = 0.0, timeout: float = 120):
    """SIGKILL ``proc`` once ``ready()`` is true (then ``delay`` seconds more)."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the child ended (status {proc.returncode}) before the kill:\n{err}")
        if time.monotonic() - t0 > timeout:  # pragma: no cover - a hung child
            proc.kill()
            pytest.fail("the child made no progress")
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == SIGKILL


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def region(shape=(64, 64), chunks=None, seed=0):
    """A small region of random layers with fake uphill offsets at 30 and 100 m."""
    region = custom_region(shape, seed=seed, chunks=chunks)
    rng = np.random.default_rng(seed)
    off = rng.integers(-9, 10, (2, *shape)).astype(np.int8)
    return region.assign(
        uphill_dy=(("distance", "y", "x"), off), uphill_dx=(("distance", "y", "x"), -off)
    ).assign_coords(distance=("distance", [30.0, 100.0]))
