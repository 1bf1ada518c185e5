"""Two writers of one output (issue 18, item 10): the second is refused, naming the first.

Before: two concurrent writers of one output both exited 0 and the later silently replaced
the other; two concurrent resumable map writes crashed with raw zarr / FileExistsError
tracebacks.  Now every writer holds the output's lock file (``.NAME.xlandslide-lock``,
:mod:`xlandslide.io.lock`) for its write; a stale lock (its process gone) is taken over.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import xlandslide as xl
from tests.faultkit import region as _region
from tests.faultkit import spawn as _spawn
from xlandslide.errors import OutputLockedError, XLandslideError
from xlandslide.io.atomic import writer_id
from xlandslide.io.lock import lock_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")

SLOW_REGION = """
import os, sys, time
import xlandslide as xl
from tests.faultkit import region as _region

def slow(block):  # until the test has tried its own write (the file "go")
    t0 = time.monotonic()
    while block.size and not os.path.exists(sys.argv[2]) and time.monotonic() - t0 < 30:
        time.sleep(0.01)
    return block

region = _region((32, 32), chunks=16, seed=1)
region["dem"] = region.dem.copy(data=region.dem.data.map_blocks(slow, dtype="float32"))
xl.write_region(region, sys.argv[1], chunks=16)
"""

SLOW_MAP = """
import os, sys, time
import xlandslide as xl
from tests.faultkit import region as _region

def slow(block):  # until the test has tried its own write (the file "go")
    t0 = time.monotonic()
    while block.size and not os.path.exists(sys.argv[2]) and time.monotonic() - t0 < 30:
        time.sleep(0.01)
    return block * 0 + 0.5

dem = _region((32, 32), chunks=16).dem
xl.write_map(dem.copy(data=dem.data.map_blocks(slow, dtype="float32")).rename("s"),
             sys.argv[1], resume=True)
"""


def _wait_for(path, proc, timeout=60.0):
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the first writer ended first:\n{proc.communicate()[1]}")
        assert time.monotonic() - t0 < timeout
        time.sleep(0.01)


def test_a_second_writer_of_one_region_is_refused_naming_the_first(tmp_path):
    target, go = tmp_path / "r.zarr", tmp_path / "go"
    mine = _region((32, 32), seed=2)
    first = _spawn(SLOW_REGION, target, go)
    _wait_for(lock_path(target), first)
    with pytest.raises(OutputLockedError, match=f"process {first.pid} on host") as info:
        xl.write_region(mine, target, overwrite=True)
    go.touch()
    assert isinstance(info.value, FileExistsError) and isinstance(info.value, XLandslideError)
    assert str(target) in str(info.value)
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    back = xl.open_region(target, verify=True)  # the first writer's region, whole
    np.testing.assert_array_equal(back.label.values, _region((32, 32), seed=1).label.values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "r.zarr"]  # no lock left


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_a_second_resumable_map_write_is_refused_not_a_traceback(tmp_path, suffix):
    target, go = tmp_path / f"m{suffix}", tmp_path / "go"
    dem = _region((32, 32), chunks=16).dem
    first = _spawn(SLOW_MAP, target, go)
    _wait_for(lock_path(target), first)
    with pytest.raises(OutputLockedError, match=f"process {first.pid}"):
        xl.write_map((dem * 0 + 0.5).rename("s"), target, resume=True)
    go.touch()
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert float(xl.open_map(target).mean()) == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", target.name]


def test_a_stale_lock_is_taken_over(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(gone.stdout)
    target = tmp_path / "r.zarr"
    host = writer_id().rpartition("-")[0]
    lock_path(target).write_text(f"{host}-{pid}\nsomehost\n0\n")
    assert not _alive(pid)
    xl.write_region(_region((32, 32)), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zarr"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


HOLD_LOCK = """
import os, sys, time
from xlandslide.io.lock import output_lock

with output_lock(sys.argv[1]):  # a training run writing this checkpoint
    t0 = time.monotonic()
    while not os.path.exists(sys.argv[2]) and time.monotonic() - t0 < 30:
        time.sleep(0.01)
"""


def test_a_second_writer_of_one_checkpoint_is_refused(tmp_path):
    """Checkpoints too: a training run holds its checkpoint's lock for the whole run, and
    every checkpoint write takes it."""
    from tests.train.common import quick, tiny, tiny_patches

    target, go = tmp_path / "m.pt", tmp_path / "go"
    first = _spawn(HOLD_LOCK, target, go)
    _wait_for(lock_path(target), first)
    model = xl.fit(tiny(), "naive", patches=tiny_patches())
    with pytest.raises(OutputLockedError, match=f"process {first.pid}"):
        xl.save_model(model, target)
    with pytest.raises(OutputLockedError):
        xl.fit(
            tiny(), "nn", patches=tiny_patches(), config=quick("nn", epochs=1),
            checkpoint=target, progress=False,
        )  # fmt: skip
    go.touch()
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    xl.save_model(model, target)  # the lock is free again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["go", "m.pt"]
