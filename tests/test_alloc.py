"""The allocator rule of prediction blocks on dask workers (xlandslide._alloc)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")

PROBE = (
    "import xlandslide._alloc as a; first = a.tune_allocator(); print(first, a.tune_allocator())"
)


def _probe(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("MALLOC_TRIM_THRESHOLD_",)}
    base.pop("XLANDSLIDE_KEEP_MALLOC", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**base, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_a_nanny_started_process_gets_the_thresholds_once():
    assert _probe(MALLOC_TRIM_THRESHOLD_="65536") == ["True", "True"]


def test_a_process_with_glibc_defaults_is_left_alone():
    assert _probe() == ["False", "False"]


def test_the_user_can_keep_the_workers_allocator():
    assert _probe(MALLOC_TRIM_THRESHOLD_="65536", XLANDSLIDE_KEEP_MALLOC="1") == [
        "False",
        "False",
    ]


def test_worker_blocks_tune_the_allocator_of_their_process():
    distributed = pytest.importorskip("distributed")
    import numpy as np

    import xlandslide as xl

    region = xl.synthetic_region((96, 96), seed=0, chunks=48).compute()
    model = xl.fit(
        region,
        "naive",
        patches=xl.make_patches(region, xl.PatchGeometry(32, 8), seed=0),
        progress=False,
    )
    prob = region.landslide.predict(model, block_size=48)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = prob.compute()
        tuned = client.run(lambda: __import__("xlandslide._alloc")._alloc._done)
    np.testing.assert_array_equal(got.values, prob.compute(scheduler="threads").values)
    assert list(tuned.values()) == [True]
