"""Writing susceptibility maps: Zarr and GeoTIFF, streamed block by block, never half-written."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import uuid
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import StoreExistsError


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False):
    """Yield a temporary sibling path; move it to ``path`` only when the block succeeds.

    An existing ``path`` is refused (:class:`StoreExistsError`) unless ``overwrite``; it is
    replaced only after the new output is complete, so a failure leaves it untouched and no
    partial output under the final name.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise StoreExistsError(f"{path} exists; pass overwrite=True (or --overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            _remove(tmp)


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def write_map(prob: xr.DataArray, path, *, overwrite: bool = False) -> Path:
    """Write a susceptibility map to ``path`` (``.zarr`` or ``.tif``/``.tiff``), streaming.

    Zarr keeps the map's chunks and its CRS (``spatial_ref``); GeoTIFF is tiled, deflate
    compressed, float32 with NaN as nodata, written block by block with a lock.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".zarr", ".tif", ".tiff"}:
        raise ValueError(f"unknown map format {suffix!r} for {path}; use a .zarr or .tif path")
    name = prob.name or "susceptibility"
    with atomic_output(path, overwrite=overwrite) as tmp:
        if suffix == ".zarr":
            ds = prob.rename(name).to_dataset()
            ds.to_zarr(tmp, mode="w", zarr_format=3)
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
