"""Regions from real rasters: :func:`region_from_dem` (slope and DEM as continuous layers)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import xarray as xr

from ..catalog import FeatureLayout
from ..errors import GridError, RegionError
from ..region import region_crs, region_dataset


def _mean_std(data, valid, xp):
    """(mean, std) of ``data`` over ``valid`` pixels (``xp``: numpy, or dask.array: lazy)."""
    masked = xp.where(valid, data.astype(np.float64), np.nan)
    return np.nanmean(masked), np.nanstd(masked)


def region_from_dem(dem: xr.DataArray, label: xr.DataArray | None = None) -> xr.Dataset:
    """Build a region from a real DEM (and optional labels) on the same grid.

    The region's continuous layers are ``slope`` (:func:`xlandslide.slope`, degrees) and
    ``dem``, standardised with their mean and standard deviation over the valid pixels —
    **these statistics are computed** (one dask pass over the DEM; everything else stays
    lazy) and stored in ``attrs["normalisation"]``.  It has no categorical group.

    Parameters
    ----------
    dem : xarray.DataArray
        Elevations (m) on (y, x) (a ``band`` dimension of size 1 is dropped) with a CRS
        (rioxarray) and square pixels; nodata as NaN or as ``dem.rio.nodata``.
    label : xarray.DataArray, optional
        On the same grid: 1 landslide, 0 stable; any other value (NaN, -1...) is unknown.
        Without it every label is -1 (unknown).

    Returns
    -------
    xarray.Dataset
        A region with the chunks of ``dem`` (numpy when ``dem`` is numpy-backed).  Valid
        pixels are those with a finite DEM *and* a finite slope (the one-pixel rim of the DEM
        and of its nodata holes is not): layers are NaN and the label -1 elsewhere; ``dem``
        keeps every finite elevation.
    """
    import dask
    import dask.array as da

    from ..grid import check_same_grid
    from ..terrain import slope as horn_slope

    if not isinstance(dem, xr.DataArray):
        raise TypeError(f"dem must be an xarray.DataArray, got {type(dem).__name__}")
    if "band" in dem.dims and dem.sizes["band"] == 1:
        dem = dem.squeeze("band", drop=True)
    crs = region_crs(dem)
    if crs is None:
        raise GridError(
            "the DEM has no CRS; open it with rioxarray.open_rasterio or write one with "
            "dem.rio.write_crs('EPSG:....')"
        )
    nodata = dem.rio.nodata
    z = dem.astype(np.float32)
    if nodata is not None and not np.isnan(nodata):
        z = z.where(z != np.float32(nodata))
    sl = horn_slope(z)
    data_z, data_s = z.data, sl.data
    lazy = isinstance(data_z, da.Array)
    xp = da if lazy else np
    valid = np.isfinite(data_z) & np.isfinite(data_s)
    with warnings.catch_warnings():  # an all-NaN DEM is reported below
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = [*_mean_std(data_s, valid, xp), *_mean_std(data_z, valid, xp)]
        stats = dask.compute(*stats) if lazy else stats
    s_mean, s_std, z_mean, z_std = (float(v) for v in stats)
    if not all(math.isfinite(v) for v in stats) or s_std <= 0 or z_std <= 0:
        raise RegionError(
            "the DEM has too few valid pixels (or is flat) to standardise slope and dem; "
            "check its nodata value and extent"
        )
    cont = xp.stack(
        [
            xp.where(valid, (data_s - np.float32(s_mean)) / np.float32(s_std), np.nan),
            xp.where(valid, (data_z - np.float32(z_mean)) / np.float32(z_std), np.nan),
        ]
    ).astype(np.float32)
    if lazy:  # every chunk holds all layers, as in a store and a synthetic region
        cont = cont.rechunk({0: -1})
    if label is None:
        lab = xp.full(z.shape, -1, dtype=np.int8, **({"chunks": data_z.chunks} if lazy else {}))
    else:
        if "band" in label.dims and label.sizes["band"] == 1:
            label = label.squeeze("band", drop=True)
        check_same_grid(label, z, "label and dem")
        raw = label.data
        if lazy and not isinstance(raw, da.Array):
            raw = da.from_array(raw, chunks=data_z.chunks)
        xl = da if isinstance(raw, da.Array) else np
        lab = xl.where(raw == 1, 1, xl.where(raw == 0, 0, -1)).astype(np.int8)
    lab = xp.where(valid, lab, np.int8(-1)).astype(np.int8)
    region = region_dataset(
        dem=data_z,
        label=lab,
        layout=FeatureLayout(("slope", "dem")),
        continuous=cont,
        coords={"y": z["y"], "x": z["x"]},
        normalisation={
            "slope": {"mean": s_mean, "std": s_std},
            "dem": {"mean": z_mean, "std": z_std},
        },
        attrs={"title": "xlandslide region built from a DEM"},
    )
    return region.rio.write_crs(crs)


__all__ = ["region_from_dem"]
