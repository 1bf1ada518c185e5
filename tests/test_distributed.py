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


def _small_lacnn():
    import torch

    from xlandslide.catalog import FEATURE_NAMES
    from xlandslide.checkpoint import LandslideModel
    from xlandslide.grid import PatchGeometry
    from xlandslide.models import build_model

    torch.manual_seed(0)
    module = build_model(
        "lacnn",
        94,
        feature_names=FEATURE_NAMES,
        aligned_names=["slope", "dem"],
        n_distances=2,
        base_width=4,
    )
    return LandslideModel(
        module,
        "lacnn",
        feature_names=FEATURE_NAMES,
        aligned_names=["slope", "dem"],
        distances=(30.0, 100.0),
        geometry=PatchGeometry(core=48, halo=16),
        pixel_size=10.0,
    )


def test_offsets_and_prediction_on_a_cluster(client):
    import xlandslide

    region = xlandslide.synthetic_region(shape=(150, 170), seed=3, chunks=64)
    region = region.landslide.with_offsets((30, 100))
    model = _small_lacnn()
    model.normalisation = xlandslide.get_normalisation(region)
    prob = region.landslide.predict(model)

    local_offsets = region["uphill_dy"].compute(scheduler="sync")
    local_prob = prob.compute(scheduler="sync")
    remote_offsets = client.compute(region["uphill_dy"]).result()
    remote_prob = client.compute(prob).result()
    np.testing.assert_array_equal(remote_offsets.values, local_offsets.values)
    np.testing.assert_allclose(remote_prob.values, local_prob.values, rtol=0, atol=1e-6)
    assert np.isfinite(remote_prob.values).mean() > 0.9
