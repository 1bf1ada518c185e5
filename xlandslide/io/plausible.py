"""Plausibility of a DEM at ingest (issue 8): elevations in metres, a grid in metres.

A DEM in feet or centimetres, with an undeclared no-data value, or with coordinates in
degrees under a metre CRS builds a region whose slopes and distances are silently wrong.
Two checks catch the common cases:

- :func:`check_dem_range`: elevations outside :data:`DEM_RANGE` (-500..9000 m: the Dead
  Sea shore to above Everest) raise :class:`~xlandslide.errors.ImplausibleValuesError`
  when a block is computed, unless the user declares the range (``dem_range=(lo, hi)`` of
  :func:`~xlandslide.build_region`; ``range = [lo, hi]`` in the ``[dem]`` table of an
  ingest file) or turns the check off (``dem_range=None``);
- :func:`check_pixel_plausible`: a pixel below :data:`MIN_PIXEL` (1 cm), or sub-metre pixels
  whose coordinates all lie within +-180 / +-90 (degrees labelled as metres), raise
  :class:`~xlandslide.errors.CRSUnitsError` at once (nothing computed).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from ..errors import ConfigError, CRSUnitsError, ImplausibleValuesError
from ..grid import pixel_size
from .raster import block_location

#: Plausible elevations of a DEM in metres (-500: the Dead Sea shore; 9000: above Everest).
DEM_RANGE = (-500.0, 9000.0)
#: The smallest plausible pixel of a metre grid (1 cm).
MIN_PIXEL = 0.01


def checked_range(dem_range) -> tuple[float, float] | None:
    """``dem_range`` as ``(lo, hi)`` floats (None: no check), or :class:`ConfigError`."""
    if dem_range is None:
        return None
    try:
        lo, hi = (float(v) for v in dem_range)
    except (TypeError, ValueError):
        raise ConfigError(
            f"dem_range is (lowest, highest) elevation in metres, got {dem_range!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ConfigError(f"dem_range must be two finite elevations, lowest first: {dem_range!r}")
    return lo, hi


def _range_block(block, *, lo: float, hi: float, block_info=None):
    values = block[np.isfinite(block)]
    if values.size and (values.min() < lo or values.max() > hi):
        raise ImplausibleValuesError(
            f"the DEM holds elevations from {float(values.min()):g} to {float(values.max()):g}"
            f"{block_location(block_info)}, outside the plausible {lo:g}..{hi:g} m: is it in "
            "feet or centimetres, or does it use an undeclared no-data value?  Convert it to "
            "metres or declare its no-data (RasterLayer(path, nodata=...)); if the elevations "
            "are right, declare their range: build_region(..., dem_range=(lowest, highest)) "
            "(range = [lowest, highest] in the [dem] table of the ingest file)"
        )
    return block


def check_dem_range(dem: xr.DataArray, dem_range=DEM_RANGE) -> xr.DataArray:
    """``dem`` with its elevations checked against ``dem_range`` when computed (lazily for
    dask; at once for numpy); ``dem_range=None``: unchecked."""
    bounds = checked_range(dem_range)
    if bounds is None:
        return dem
    lo, hi = bounds
    if dem.chunks is None:
        _range_block(dem.values, lo=lo, hi=hi)
        return dem
    data = dem.data.map_blocks(_range_block, lo=lo, hi=hi, dtype=dem.dtype, meta=dem.data._meta)
    return dem.copy(data=data)


def check_pixel_plausible(dem: xr.DataArray, what: str = "the DEM") -> None:
    """Refuse a metre grid whose pixel size or coordinates say it is not in metres."""
    px = pixel_size(dem)
    crs = dem.rio.crs
    name = crs.to_string() if crs is not None else "its CRS"
    if px < MIN_PIXEL:
        raise CRSUnitsError(
            f"{what} has pixels of {px:g} m in {name}, less than {MIN_PIXEL:g} m: its "
            "coordinates are likely degrees (or another unit) labelled as metres; assign the "
            "CRS the coordinates are really in (dem.rio.write_crs('EPSG:4326', "
            "inplace=False)), then reproject to a metric CRS"
        )
    x, y = np.asarray(dem["x"].values), np.asarray(dem["y"].values)
    if px < 1 and np.abs(x).max() <= 180 and np.abs(y).max() <= 90:
        raise CRSUnitsError(
            f"{what} has coordinates within +-180 / +-90 and pixels of {px:g} m in {name}: "
            "they look like longitude / latitude degrees labelled as metres; assign the CRS "
            "the coordinates are in (e.g. EPSG:4326), then reproject to a metric CRS"
        )


__all__ = ["DEM_RANGE", "MIN_PIXEL", "check_dem_range", "check_pixel_plausible"]
