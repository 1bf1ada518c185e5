"""The same lazy graphs on a dask.distributed cluster (process workers) give the same values."""

from __future__ import annotations

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _small_model(region, name="lacnn"):
    """An untrained (seeded) LACNN (or LANN) for ``region``'s layout, distances 30 and 100 m."""
    import torch

    from xlandslide.grid import PatchGeometry
    from xlandslide.model import LandslideModel, spec_for_region

    spec = spec_for_region(
        name,
        region,
        aligned=("slope", "dem"),
        distances=(30.0, 100.0),
        geometry=PatchGeometry(core=48, halo=16),
        model_config={"base_width": 4} if name == "lacnn" else {"hidden": [8]},
    )
    torch.manual_seed(0)
    return LandslideModel(spec.build_module(), spec)


def test_offsets_and_prediction_on_a_cluster(client):
    import xlandslide

    region = xlandslide.synthetic_region(shape=(150, 170), seed=3, chunks=64)
    region = region.landslide.with_offsets((30, 100), halo=16)
    local_offsets = region["uphill_dy"].compute(scheduler="sync")
    remote_offsets = client.compute(region["uphill_dy"]).result()
    np.testing.assert_array_equal(remote_offsets.values, local_offsets.values)
    for name in ("lacnn", "lann"):  # tiles, and per-pixel strips
        prob = region.landslide.predict(_small_model(region, name))
        local_prob = prob.compute(scheduler="sync")
        remote_prob = client.compute(prob).result()
        np.testing.assert_allclose(remote_prob.values, local_prob.values, rtol=0, atol=1e-6)
        assert np.isfinite(remote_prob.values).mean() > 0.9


def test_the_model_reaches_each_worker_once(client):
    import xlandslide

    def install_counter():  # nested: cloudpickle ships it by value
        import xlandslide.model as ckpt

        cls = ckpt.LandslideModel
        if not hasattr(cls, "_unpickles"):
            original = cls.__setstate__

            def counting(self, state):
                type(self)._unpickles += 1
                original(self, state)

            cls.__setstate__ = counting
        cls._unpickles = 0

    def unpickles():
        import xlandslide.model as ckpt

        return getattr(ckpt.LandslideModel, "_unpickles", 0)

    region = xlandslide.synthetic_region(shape=(160, 160), seed=1, chunks=48)
    region = region.landslide.with_offsets((30, 100), halo=16)
    model = _small_model(region)
    prob = region.landslide.predict(model, block_size=48)  # 4 x 4 blocks (the last of 16 px)
    assert prob.data.npartitions == 16
    client.run(install_counter)
    values = client.compute(prob).result()
    assert np.isfinite(values.values).mean() > 0.9
    counts = client.run(unpickles)
    # a copy in every task would be 16 or more; as one key of the graph it is decoded a
    # couple of times per worker at most (the task that holds it, a transfer to a peer)
    assert 1 <= sum(counts.values()) <= 2 * len(counts), counts
