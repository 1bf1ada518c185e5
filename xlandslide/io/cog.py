"""Cloud Optimized GeoTIFFs, streamed: every GeoTIFF the package writes is one.

:func:`write_cog` writes (y, x) dask arrays as the bands of a Cloud Optimized GeoTIFF
through GDAL's COG driver: 256 x 256 tiles, DEFLATE with a predictor (floating point,
3, for float maps; horizontal, 2, for integer ones), internal overviews decimated by 2
(``average`` for probabilities, ``mode`` for classes) and the COG layout (every IFD first,
the main image's, then the overviews'; the overviews' tiles before the main image's).

GDAL's COG driver copies a source dataset.  The arrays are first stored block by block
(dask chunk by dask chunk, never whole) into a tiled GeoTIFF beside the output's
temporary (``TMP.src.tif``: a hidden temporary of the same write, removed by the next
write if this one is killed, :func:`~xlandslide.io.atomic.clean_stale`), which the driver
then copies into the temporary, overviews and all, streaming through GDAL's block cache.

:func:`cog_problems` checks a file as ``rio cogeo validate`` does (tiled, overviews
decimated by 2, IFD and data order, a predictor).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .atomic import remove

#: Tile side of the GeoTIFFs the package writes.
BLOCK = 256
#: Images larger than this (either side) need internal overviews (as rio-cogeo says).
OVERVIEW_MIN = 512


class _Target:
    """``dask.array.store`` target writing blocks into one band of an open dataset."""

    def __init__(self, dst, band: int, dtype, lock: threading.Lock):
        self.dst, self.band, self.dtype, self.lock = dst, band, dtype, lock

    def __setitem__(self, key, value):
        from rasterio.windows import Window

        ys, xs = key
        window = Window(xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start)
        with self.lock:
            self.dst.write(np.asarray(value, dtype=self.dtype), self.band, window=window)


def write_cog(
    tmp,
    bands: Sequence,
    *,
    crs,
    transform,
    dtype: str,
    nodata,
    resampling: str,
    tags: Mapping | None = None,
    band_tags: Sequence[Mapping] | None = None,
    descriptions: Sequence[str] | None = None,
    colormap: Mapping | None = None,
) -> Path:
    """Write the (y, x) dask arrays ``bands`` to the COG ``tmp`` (the temporary an
    :func:`~xlandslide.io.atomic.atomic_output` yields), block by block.

    Parameters
    ----------
    tmp : path
        The file to create.
    bands : sequence of dask.array.Array
        One (y, x) array per band, all of one shape.
    crs, transform
        The grid (rasterio CRS and affine transform).
    dtype : str
        The file's data type (``float32``, ``uint8``).
    nodata : float or int
        The no-data value (NaN for float maps).
    resampling : str
        Of the overviews: ``AVERAGE`` (probabilities), ``MODE`` or ``NEAREST`` (classes).
    tags, band_tags, descriptions, colormap
        Dataset tags, per band tags and descriptions, band 1's colour table.
    """
    tmp = Path(tmp)
    staging = tmp.with_name(tmp.name + ".src.tif")
    try:
        _stage(
            staging, bands, crs, transform, dtype, nodata, tags, band_tags, descriptions, colormap
        )
        _copy_cog(staging, tmp, resampling)
    finally:
        remove(staging)
    return tmp


def _stage(staging, bands, crs, transform, dtype, nodata, tags, band_tags, descriptions, cmap):
    """The source of the copy: a tiled GeoTIFF, stored block by block."""
    import dask.array as da
    import rasterio

    ny, nx = bands[0].shape
    profile = {
        "driver": "GTiff",
        "width": nx,
        "height": ny,
        "count": len(bands),
        "dtype": dtype,
        "nodata": nodata,
        "crs": crs,
        "transform": transform,
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": "DEFLATE",
        "zlevel": 1,
        "bigtiff": "IF_SAFER",
    }
    if cmap is not None:
        profile["photometric"] = "PALETTE"
    lock = threading.Lock()
    with rasterio.open(staging, "w", **profile) as dst:
        dst.update_tags(**dict(tags or {}))
        if cmap is not None:
            dst.write_colormap(1, cmap)
        for i in range(len(bands)):
            if descriptions is not None:
                dst.set_band_description(i + 1, descriptions[i])
            if band_tags is not None and band_tags[i]:
                dst.update_tags(i + 1, **band_tags[i])
        targets = [_Target(dst, i + 1, dtype, lock) for i in range(len(bands))]
        # the targets write to a file open in this process: its threads compute the blocks
        # (a scheduler of other processes, dask.distributed's included, cannot reach it)
        da.store([b.astype(dtype) for b in bands], targets, lock=False, scheduler="threads")


def _copy_cog(staging, tmp, resampling: str) -> None:
    import rasterio.shutil

    rasterio.shutil.copy(
        staging,
        tmp,
        driver="COG",
        COMPRESS="DEFLATE",
        PREDICTOR="YES",  # 3 for floats, 2 for integers
        BLOCKSIZE=BLOCK,
        OVERVIEWS="AUTO",
        OVERVIEW_RESAMPLING=resampling,
        BIGTIFF="IF_SAFER",
    )


def cog_problems(path) -> list[str]:
    """What keeps the GeoTIFF ``path`` from being a valid Cloud Optimized GeoTIFF (empty:
    valid), the checks of ``rio cogeo validate``.

    The image is tiled (no strips) with square tiles, a multiple of 16; one larger than
    512 pixels has internal overviews, each decimated by 2 from the one before; the IFDs
    come first (the main image's, then the overviews' in order), the overviews' tiles
    before the main image's (the smallest first); the tiles are compressed with a
    predictor.

    Examples
    --------
    >>> cog_problems("susceptibility.tif")  # doctest: +SKIP
    []
    """
    import rasterio

    problems = []
    with rasterio.open(path) as src:
        if src.driver != "GTiff":
            return [f"the driver is {src.driver}, not GTiff"]
        by, bx = src.block_shapes[0]
        if by != bx or by % 16 or by == 1 or (bx == src.width and by != src.height):
            problems.append(f"not tiled in square tiles (blocks {by} x {bx}): strips")
        structure = src.tags(ns="IMAGE_STRUCTURE")
        if structure.get("LAYOUT") != "COG":
            problems.append("no COG layout (the GDAL ghost header saying LAYOUT=COG)")
        if structure.get("PREDICTOR") not in ("2", "3"):
            problems.append(f"no predictor (PREDICTOR {structure.get('PREDICTOR')})")
        factors = src.overviews(1)
        if max(src.width, src.height) > OVERVIEW_MIN and not factors:
            problems.append(f"{src.width} x {src.height} pixels but no internal overviews")
        if factors != [2**k for k in range(1, len(factors) + 1)]:
            problems.append(f"overviews not decimated by 2 each: factors {factors}")
        problems += _order_problems(src, len(factors))
    return problems


def _order_problems(src, n_ovr: int) -> list[str]:
    """IFDs first (main, then overviews, ascending); each image's data after its IFD and
    the overviews' data before the main image's (smaller overviews first)."""

    def item(key, ovr):
        value = src.get_tag_item(key, "TIFF", bidx=1, ovr=ovr)
        return int(value) if value else 0

    ifds = [item("IFD_OFFSET", None)] + [item("IFD_OFFSET", i) for i in range(n_ovr)]
    data = [item("BLOCK_OFFSET_0_0", None)] + [item("BLOCK_OFFSET_0_0", i) for i in range(n_ovr)]
    problems = []
    if ifds != sorted(ifds):
        problems.append(f"the IFDs are not main image first, then the overviews: {ifds}")
    if max(ifds) > min(data):
        problems.append("the tiles do not all follow the IFDs")
    if any(data[i] <= data[i + 1] for i in range(n_ovr)):
        problems.append(f"the overviews' tiles are not before the main image's: {data}")
    return problems


__all__ = ["BLOCK", "cog_problems", "write_cog"]
