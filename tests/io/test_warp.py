"""Lazy block-by-block reprojection of a DataArray (xlandslide.io.warp).

Oracle: one :func:`rasterio.warp.reproject` of the whole array with exact transforms
(``tolerance=0``) and the same kernel scale; the peer ``rio.reproject_match`` for the
approximate default.  GDAL itself is not bit-for-bit chunk-invariant: its per-chunk
arithmetic moves a bilinear value by ~1e-5 and, for nearest, flips the choice of a
destination pixel whose source position lies within ~1e-4 pixel of a pixel edge (a tie);
the tests allow exactly that and check that every nearest mismatch is such a tie.
"""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import pytest
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform, transform_bounds

from tests.helpers import raise_if_dask_computes
from xlandslide.io.raster import align_raster
from xlandslide.io.warp import reproject_lazy

# GDAL's MEM -> MEM warps emit it spuriously (odc-geo issue 131); the oracle warps that way
pytestmark = pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")

SRC_CRS, DST_CRS = "EPSG:32632", "EPSG:32633"  # neighbouring UTM zones: a real rotation


def grid(shape, transform, crs, data=None, chunks=None):
    ny, nx = shape
    x = transform.c + transform.a * (np.arange(nx) + 0.5)
    y = transform.f + transform.e * (np.arange(ny) + 0.5)
    if data is None:
        data = np.zeros(shape, np.float32)
    da = xr.DataArray(data, dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs(crs)
    if chunks is None:
        return da
    cy, cx = chunks if isinstance(chunks, tuple) else (chunks, chunks)
    return da.chunk({"y": cy, "x": cx})


def source(chunks=None, seed=0):
    """A 10 m raster in zone 32: a smooth surface plus noise, a NaN hole."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:180, 0:200]
    data = (np.sin(yy / 9.0) + np.cos(xx / 13.0) + 0.1 * rng.random((180, 200))).astype("f4")
    data[60:70, 80:95] = np.nan
    return grid((180, 200), Affine(10, 0, 600000, 0, -10, 5200000), SRC_CRS, data, chunks)


def target(pixel=9.0, shape=(150, 170), chunks=None):
    """A grid in zone 33 over most of the source's footprint (and a little beyond)."""
    b = transform_bounds(SRC_CRS, DST_CRS, 600000, 5198200, 602000, 5200000)
    t = Affine(pixel, 0, b[0] + 60, 0, -pixel, b[3] - 40)
    return grid(shape, t, DST_CRS, chunks=chunks)


def whole(src, like, resampling):
    out = np.full(like.shape, np.nan, np.float32)
    reproject(
        src.values,
        out,
        src_transform=src.rio.transform(),
        src_crs=src.rio.crs,
        src_nodata=np.nan,
        dst_transform=like.rio.transform(),
        dst_crs=like.rio.crs,
        dst_nodata=np.nan,
        resampling=resampling,
        tolerance=0.0,
        XSCALE=abs(src.rio.transform().a / like.rio.transform().a),
        YSCALE=abs(src.rio.transform().e / like.rio.transform().e),
    )
    return out


def assert_same_warp(got, want, src, like, resampling):
    """``got`` is ``want`` up to GDAL's own chunk noise (see the module notes)."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    if resampling != Resampling.nearest:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
        return
    bad = np.argwhere((got != want) & np.isfinite(want))
    assert len(bad) <= 1e-3 * got.size
    if len(bad):
        x, y = like.rio.transform() @ (bad[:, 1] + 0.5, bad[:, 0] + 0.5)
        xs, ys = transform(like.rio.crs, src.rio.crs, x, y)
        col, row = ~src.rio.transform() @ (np.asarray(xs), np.asarray(ys))
        edge = np.minimum(np.abs(col - np.round(col)), np.abs(row - np.round(row)))
        assert edge.max() < 1e-3  # a tie between two source pixels, nothing else


@pytest.mark.parametrize("resampling", [Resampling.nearest, Resampling.bilinear])
@pytest.mark.parametrize("src_chunks", [None, 37])
@pytest.mark.parametrize("dst_chunks", [None, 48, (31, 64)])
def test_equals_one_warp_of_the_whole_array(resampling, src_chunks, dst_chunks):
    src = source(src_chunks)
    like = target(chunks=dst_chunks)
    with raise_if_dask_computes():
        got = reproject_lazy(src, like, resampling)
    assert isinstance(got.data, dsa.Array)
    if dst_chunks is not None:
        assert got.chunks == like.chunks  # the target's blocks
    want = whole(src, like, resampling)
    assert np.isfinite(want).sum() > 0.6 * want.size and np.isnan(want).any()
    assert_same_warp(got.values, want, src, like, resampling)
    assert got.rio.crs == like.rio.crs and got.rio.transform() == like.rio.transform()
    np.testing.assert_array_equal(got.x.values, like.x.values)


def test_a_coarser_target_reads_the_whole_kernel():
    """Downsampling widens GDAL's kernels: the windows are widened with the ratio."""
    src, like = source(40), target(pixel=30.0, shape=(50, 56), chunks=16)
    for resampling in (Resampling.bilinear, Resampling.average, Resampling.cubic):
        got = reproject_lazy(src, like, resampling).values
        assert_same_warp(got, whole(src, like, resampling), src, like, resampling)


def test_each_block_reads_only_its_window():
    src = source(20)  # 9 x 10 source chunks
    seen = set()

    def record(block, block_info=None):
        seen.add(tuple(block_info[0]["chunk-location"]))
        return block

    src = src.copy(data=src.data.map_blocks(record, dtype=src.dtype))
    got = reproject_lazy(src, target(chunks=50), Resampling.bilinear)
    got.data.blocks[0, 0].compute(scheduler="sync")
    assert 0 < len(seen) < src.data.npartitions / 3  # a corner block: a few source chunks
    assert all(r < 5 and c < 5 for r, c in seen)  # ... in the corner it covers


def test_outside_the_source_is_nan_and_close_to_rioxarray():
    src = source()
    like = target(shape=(150, 300))  # runs well beyond the source's east edge
    got = reproject_lazy(src, like, Resampling.nearest).values
    assert np.isnan(got[:, -40:]).all()
    peer = src.rio.reproject_match(like, resampling=Resampling.nearest, nodata=np.nan).values
    both = np.isfinite(got) & np.isfinite(peer)
    # rioxarray's approximate transformer (0.125 pixel) moves a few nearest choices only
    assert both.sum() > 0.95 * np.isfinite(peer).sum()
    assert (got[both] == peer[both]).mean() > 0.98


def test_align_raster_reprojects_a_dask_dataarray_lazily():
    src = source(37)
    like = target(chunks=48)
    with raise_if_dask_computes():
        got = align_raster(src, like, kind="continuous", reproject=True, what="rain")
    assert got.chunks == like.chunks
    want = whole(src, like, Resampling.bilinear)
    assert_same_warp(got.values, want, src, like, Resampling.bilinear)
