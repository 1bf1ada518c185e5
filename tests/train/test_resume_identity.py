"""Training resumes only on the data it was trained on (issue 18, item 7).

``fit(..., resume=CKPT)`` used to check the model and the settings only: a store whose labels
changed (same rasters, same statistics), or another region with the same statistics, resumed
silently.  The training state now records the region's identity
(:func:`xlandslide.io.identity.region_identity`) and a mismatch is a ResumeError.
"""

from __future__ import annotations

import numpy as np
import pytest

import xlandslide as xl
from tests.train.common import quick, tiny, tiny_patches
from xlandslide.checkpoint import read_checkpoint


def _fit(region, ckpt, *, resume=False):
    config = quick("cnn", epochs=1, batch_size=2, max_batches_per_epoch=1)
    return xl.fit(
        region,
        "cnn",
        patches=tiny_patches(),
        config=config,
        model_config={"base_width": 2},
        checkpoint=ckpt,
        save_every=1,
        resume=ckpt if resume else None,
        progress=False,
    )


def _relabelled(region):
    out = region.copy()
    label = region.label.values.copy()
    known = label >= 0
    label[known] = 1 - label[known]  # the same rasters and statistics, other labels
    out["label"] = region.label.copy(data=label)
    return out


@pytest.fixture
def trained(tmp_path):
    store = xl.write_region(tiny(), tmp_path / "r.zarr")
    ckpt = tmp_path / "m.pt"
    _fit(xl.open_region(store, chunks=None), ckpt)
    assert read_checkpoint(ckpt)["training_state"]["data"]
    return store, ckpt


def test_resume_on_the_same_store_goes_on(trained):
    store, ckpt = trained
    _fit(xl.open_region(store, chunks=None), ckpt, resume=True)
    _fit(xl.open_region(store), ckpt, resume=True)  # dask-backed: the same data


def test_resume_after_the_stores_labels_changed_is_refused(trained, tmp_path):
    store, ckpt = trained
    xl.write_region(_relabelled(tiny()), store, overwrite=True)
    region = xl.open_region(store, chunks=None)
    assert region.attrs["normalisation"] == tiny().attrs["normalisation"]
    with pytest.raises(xl.ResumeError, match="other data") as info:
        _fit(region, ckpt, resume=True)
    assert isinstance(info.value, ValueError) and "train anew" in str(info.value)


def test_resume_on_another_region_with_the_same_statistics_is_refused(trained):
    _, ckpt = trained
    other = tiny()
    other["label"] = other.label.copy(data=np.roll(other.label.values, 7, axis=1))
    with pytest.raises(xl.ResumeError, match="other data"):
        _fit(other, ckpt, resume=True)
