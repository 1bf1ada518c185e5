"""Writing susceptibility maps: Zarr and GeoTIFF, streamed block by block, never half-written."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import StoreExistsError


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False):
    """Yield a temporary sibling path; move it to ``path`` only when the block succeeds.

    An existing ``path`` is refused (:class:`StoreExistsError`) unless ``overwrite``; it is
    replaced only after the new output is complete, so a failure leaves it untouched and no
    partial output under the final name.  Used by every writer of the package (region
    stores, maps); checkpoints use the same scheme for single files.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise StoreExistsError(
            f"{str(path)!r} exists; pass overwrite=True (or --overwrite) to replace it, "
            "or choose another path"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    tmp = path.with_name(f".{path.name}.tmp-{token}")
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{token}")
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            _remove(old)
        else:
            os.replace(tmp, path)
    finally:
        # Tasks of a failed dask write may still be running in the thread pool and
        # re-create chunk files; remove until the temporary output stays gone.
        for _ in range(50):
            if not tmp.exists():
                break
            _remove(tmp)
            time.sleep(0.02)


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
