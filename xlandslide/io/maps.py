"""Susceptibility maps on disk: Zarr and GeoTIFF, streamed block by block, never half-written.

:func:`write_map` writes a (y, x) map lazily, block by block, to a ``.zarr`` store or a
tiled ``.tif``; :func:`open_map` reads one back lazily.  Both formats keep the CRS.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ConfigError
from .atomic import atomic_output

#: Map formats by file suffix.
MAP_SUFFIXES = (".zarr", ".tif", ".tiff")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in MAP_SUFFIXES:
        raise ConfigError(
            f"unknown map format {suffix or '(none)'!r} for {str(path)!r}; use a path ending "
            f"in one of {', '.join(MAP_SUFFIXES)}"
        )
    return suffix


def write_map(prob: xr.DataArray, path, *, overwrite: bool = False) -> Path:
    """Write a susceptibility map to ``path`` (``.zarr`` or ``.tif``/``.tiff``), streaming.

    Zarr keeps the map's chunks and its CRS (``spatial_ref``); GeoTIFF is tiled, deflate
    compressed, float32 with NaN as nodata, written block by block with a lock.
    """
    path = Path(path)
    suffix = _suffix(path)
    name = prob.name or "susceptibility"
    with atomic_output(path, overwrite=overwrite) as tmp:
        if suffix == ".zarr":
            ds = prob.rename(name).to_dataset()
            with warnings.catch_warnings():
                # consolidated metadata lets a plain xr.open_zarr(path) read the map quietly;
                # zarr notes that it is not (yet) part of the v3 specification
                warnings.filterwarnings("ignore", message="Consolidated metadata")
                ds.to_zarr(tmp, mode="w", zarr_format=3, consolidated=True)
        else:
            import rioxarray  # noqa: F401  (registers .rio)

            out = prob.astype("float32").rio.write_nodata(np.nan, encoded=False)
            out.rio.to_raster(
                tmp,
                driver="GTiff",
                tiled=True,
                blockxsize=256,
                blockysize=256,
                compress="DEFLATE",
                lock=threading.Lock(),
            )
    return path


def open_map(path, *, name: str | None = None) -> xr.DataArray:
    """Open a map written by :func:`write_map` lazily (dask-backed), with its CRS.

    ``name`` selects the variable of a Zarr store holding several (default: its only one,
    or ``susceptibility``).
    """
    from ..errors import RegionNotFoundError

    path = Path(path)
    suffix = _suffix(path)
    if not path.exists():
        raise RegionNotFoundError(f"no map at {str(path)!r}; write one with xlandslide.write_map")
    if suffix == ".zarr":
        with warnings.catch_warnings():
            # write_map consolidates; a foreign store may not, and reads fine without
            warnings.filterwarnings("ignore", message="Failed to open Zarr store with consolidated")
            ds = xr.open_zarr(path, decode_coords="all")
        names = list(ds.data_vars)
        key = name or (names[0] if len(names) == 1 else "susceptibility")
        if key not in ds:
            raise ConfigError(f"{str(path)!r} holds {names}, not {key!r}; pass name=...")
        return ds[key]
    import rioxarray

    with warnings.catch_warnings():
        # rioxarray 0.19 hands xarray its block-aligned chunks as a tuple (deprecated there)
        warnings.filterwarnings("ignore", message="Supplying chunks as dimension-order tuples")
        da = rioxarray.open_rasterio(path, masked=True, chunks=True)
    return da.squeeze("band", drop=True).rename(name or "susceptibility")


__all__ = ["MAP_SUFFIXES", "open_map", "write_map"]
