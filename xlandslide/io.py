"""Region stores: validate the data model, open and write Zarr v3 regions, build one from a DEM.

A *region* is an :class:`xarray.Dataset` holding

- ``features``: float32 (feature, y, x), one named layer per input feature (a ``feature``
  coordinate of unique strings, usually :data:`xlandslide.catalog.FEATURE_NAMES`), NaN
  outside the region; continuous features standardised, one-hot ones 0/1;
- ``dem``: float32 (y, x), metres, NaN outside;
- ``label``: int8 (y, x): 1 landslide, 0 stable, -1 unknown (outside or unlabelled);
- optional ``uphill_dy`` / ``uphill_dx``: int8 (distance, y, x) with a float ``distance``
  coordinate in metres;
- coordinates ``y`` (descending) and ``x`` (ascending) of square, regular pixels and a CRS
  written with rioxarray (the ``spatial_ref`` coordinate);
- ``attrs["normalisation"]``: ``{name: {"mean": float, "std": float}}`` for the continuous
  features, read with :func:`get_normalisation`.

Stores are Zarr v3 directories written by :func:`write_region` (zstd-compressed, chunks of
all features x 256 x 256 pixels by default) and read lazily by :func:`open_region`.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from . import catalog, grid
from .errors import GridError, RegionError, RegionNotFoundError, StoreExistsError
from .outputs import atomic_output

#: Default chunk side (pixels) of region stores on y and x.
STORE_CHUNK = 256

#: zstd level of region stores.
ZSTD_LEVEL = 3

_REQUIRED = {
    "features": (("feature", "y", "x"), np.float32),
    "dem": (("y", "x"), np.float32),
    "label": (("y", "x"), np.int8),
}
_UPHILL = ("uphill_dy", "uphill_dx")
_BUILD_HINT = (
    "build regions with xlandslide.synthetic_region or xlandslide.io.region_from_dem, "
    "and store them with xlandslide.write_region"
)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def validate_region(ds: xr.Dataset) -> xr.Dataset:
    """Check that ``ds`` follows the region data model; return it unchanged.

    Only metadata is read (names, dims, dtypes, coordinates, CRS, attrs): no data is computed,
    so label values (1, 0, -1) are documented rather than checked.

    Raises
    ------
    RegionError
        Missing or mis-shaped variables, wrong dtypes, a ``feature`` coordinate that is not
        unique strings, missing or malformed normalisation of a continuous feature.
    GridError
        No or irregular y/x coordinates, non-square pixels, y not descending or x not
        ascending, no CRS.
    """
    if not isinstance(ds, xr.Dataset):
        raise RegionError(f"a region is an xarray.Dataset, got {type(ds).__name__}; {_BUILD_HINT}")
    for name, (dims, dtype) in _REQUIRED.items():
        if name not in ds.data_vars:
            raise RegionError(
                f"the region has no {name!r} variable (it has {sorted(ds.data_vars)}); "
                f"a region needs features (feature, y, x) float32, dem (y, x) float32 and "
                f"label (y, x) int8; {_BUILD_HINT}"
            )
        var = ds[name]
        if var.dims != dims:
            raise RegionError(
                f"{name!r} has dims {var.dims}, expected {dims}; "
                f"use ds[{name!r}].transpose{dims} (and rename dims to y/x)"
            )
        if var.dtype != dtype:
            raise RegionError(
                f"{name!r} has dtype {var.dtype}, expected {np.dtype(dtype).name}; "
                f"cast it with ds[{name!r}].astype('{np.dtype(dtype).name}')"
            )
    _check_feature_coord(ds)
    _check_uphill(ds)
    pixel = grid.pixel_size(ds)  # GridError: missing, irregular or non-square
    y = np.asarray(ds["y"].values)
    x = np.asarray(ds["x"].values)
    if y[1] > y[0]:
        raise GridError(
            "'y' must be descending (north up); reverse it with ds.isel(y=slice(None, None, -1))"
        )
    if x[1] < x[0]:
        raise GridError("'x' must be ascending; reverse it with ds.isel(x=slice(None, None, -1))")
    if _crs(ds) is None:
        raise GridError(
            "the region has no CRS; write one with ds.rio.write_crs('EPSG:....') "
            "(import rioxarray first)"
        )
    if not math.isfinite(pixel):  # pragma: no cover - pixel_size guards this
        raise GridError(f"pixel size {pixel} is not finite")
    norm = get_normalisation(ds)
    names = set(ds["feature"].values.tolist())
    for name in catalog.CONTINUOUS:
        if name not in names:
            continue
        entry = norm.get(name)
        if (
            entry is None
            or not math.isfinite(entry.get("mean", math.nan))
            or not (entry.get("std", 0.0) > 0 and math.isfinite(entry["std"]))
        ):
            raise RegionError(
                f"the continuous feature {name!r} needs attrs['normalisation'][{name!r}] = "
                f"{{'mean': float, 'std': float > 0}} (the statistics used to standardise it); "
                f"got {entry!r}"
            )
    return ds


def _check_feature_coord(ds):
    if "feature" not in ds.coords:
        raise RegionError(
            "'features' has no 'feature' coordinate; assign the layer names with "
            "ds.assign_coords(feature=list_of_names) (usually xlandslide.FEATURE_NAMES)"
        )
    values = ds["feature"].values
    if values.dtype.kind not in "OUT" or not all(isinstance(v, str) for v in values.tolist()):
        raise RegionError(
            f"the 'feature' coordinate must hold strings (feature names), got dtype "
            f"{values.dtype}; assign names with ds.assign_coords(feature=...)"
        )
    names = values.tolist()
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise RegionError(f"feature names must be unique; repeated: {dup}")


def _check_uphill(ds):
    present = [n for n in _UPHILL if n in ds.data_vars]
    if not present:
        return
    if len(present) == 1:
        raise RegionError(
            f"the region has {present[0]!r} but not its pair; store both uphill_dy and "
            "uphill_dx (xlandslide.uphill_offsets returns both)"
        )
    for name in _UPHILL:
        var = ds[name]
        if var.dims != ("distance", "y", "x"):
            raise RegionError(
                f"{name!r} has dims {var.dims}, expected ('distance', 'y', 'x'); "
                "use the output of xlandslide.uphill_offsets"
            )
        if var.dtype != np.int8:
            raise RegionError(f"{name!r} has dtype {var.dtype}, expected int8")
    if "distance" not in ds.coords or ds["distance"].dtype.kind not in "fiu":
        raise RegionError(
            "uphill offsets need a numeric 'distance' coordinate (metres); "
            "use the output of xlandslide.uphill_offsets"
        )


def _crs(obj):
    try:
        import rioxarray  # noqa: F401  (registers .rio)

        return obj.rio.crs
    except Exception:  # no grid mapping, or rioxarray missing
        return None


# ---------------------------------------------------------------------------------------------
# Normalisation attrs
# ---------------------------------------------------------------------------------------------
def get_normalisation(ds) -> dict:
    """The region's standardisation statistics ``{name: {"mean": float, "std": float}}``.

    Stored as ``attrs["normalisation"]``, either a mapping (what :func:`write_region` writes:
    Zarr keeps nested JSON exactly) or a JSON string (older or foreign stores); this function
    hides which.  Returns ``{}`` when the attr is absent.

    Raises
    ------
    RegionError
        When the attr is present but is not such a mapping.
    """
    raw = ds.attrs.get("normalisation")
    if raw is None:
        return {}
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise RegionError(
                f"attrs['normalisation'] is not valid JSON ({exc}); expected "
                "{name: {'mean': float, 'std': float}}"
            ) from None
    try:
        return {str(k): {"mean": float(v["mean"]), "std": float(v["std"])} for k, v in raw.items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        raise RegionError(
            f"attrs['normalisation'] must map feature names to {{'mean': float, 'std': float}}, "
            f"got {raw!r}"
        ) from None


# ---------------------------------------------------------------------------------------------
# Open
# ---------------------------------------------------------------------------------------------
def _is_url(store) -> bool:
    return isinstance(store, str) and "://" in store and not store.startswith("file://")


def open_region(store, *, chunks="store", validate: bool = True) -> xr.Dataset:
    """Open a Zarr region store lazily.

    Parameters
    ----------
    store : str or path-like
        A local path or an fsspec URL of a store written by :func:`write_region`.
    chunks : "store", "auto", dict or None
        ``"store"`` (default): dask arrays with the store's chunks; ``"auto"`` or a dict:
        dask chunks as in :func:`xarray.open_zarr`; ``None``: lazily indexed numpy-backed
        variables (no dask; the fastest for reading patches, each read touching only the
        chunks it needs).
    validate : bool
        Check the data model (metadata only; see :func:`validate_region`).

    Returns
    -------
    xarray.Dataset
        The region with its CRS (``spatial_ref``) and attrs.

    Raises
    ------
    RegionNotFoundError
        The path does not exist (a ``FileNotFoundError`` and a ``RegionError``).
    RegionError
        The path is not a Zarr store or the store is not a region.
    """
    if chunks == "store":
        chunks = {}
    if not _is_url(store):
        path = Path(str(store).removeprefix("file://")) if isinstance(store, str) else Path(store)
        if not path.exists():
            raise RegionNotFoundError(
                f"no region store at {str(path)!r}; check the path, or create one with "
                "xlandslide.write_region(region, path) (or `xlandslide synthetic STORE`)"
            )
        store = str(path)
    else:
        import fsspec

        fs, fs_path = fsspec.core.url_to_fs(store)
        if not fs.exists(fs_path):
            raise RegionNotFoundError(
                f"no region store at {store!r}; check the URL, or create one with "
                "xlandslide.write_region(region, url)"
            )
    try:
        ds = xr.open_zarr(store, chunks=chunks, decode_coords="all", consolidated=False)
    except Exception as exc:
        raise RegionError(
            f"{store!r} is not a readable Zarr store ({type(exc).__name__}: {exc}); "
            f"open a store written by xlandslide.write_region"
        ) from exc
    if "feature" in ds.coords and ds["feature"].dtype.kind in "OT":
        ds = ds.assign_coords(feature=np.array(ds["feature"].values.tolist(), dtype=str))
    if validate:
        try:
            validate_region(ds)
        except (RegionError, GridError) as exc:
            raise type(exc)(f"store {store!r} is not a valid region: {exc}") from None
    return ds


# ---------------------------------------------------------------------------------------------
# Write
# ---------------------------------------------------------------------------------------------
def _yx_chunks(chunks) -> tuple[int, int]:
    if chunks is None:
        return STORE_CHUNK, STORE_CHUNK
    if isinstance(chunks, dict):
        return int(chunks.get("y", STORE_CHUNK)), int(chunks.get("x", STORE_CHUNK))
    if isinstance(chunks, (int, np.integer)):
        return int(chunks), int(chunks)
    cy, cx = chunks
    return int(cy), int(cx)


def _prepared(ds: xr.Dataset, chunks) -> tuple[xr.Dataset, dict]:
    """A shallow copy chunked like the store (dask, lazy) and its Zarr encoding."""
    import zarr

    cy, cx = _yx_chunks(chunks)
    if cy < 1 or cx < 1:
        raise ValueError(f"store chunks must be positive, got {(cy, cx)}")
    out = ds.copy()
    encoding = {}
    for name, var in ds.data_vars.items():
        spec = {d: (cy if d == "y" else cx if d == "x" else -1) for d in var.dims}
        var = var.chunk(spec)  # lazy: wraps numpy / lazily indexed data, rechunks dask
        var.encoding = {}
        out[name] = var
        encoding[name] = {
            "chunks": tuple(var.chunks[i][0] for i in range(var.ndim)),
            "compressors": (zarr.codecs.ZstdCodec(level=ZSTD_LEVEL),),
        }
    for name in out.coords:
        out[name].encoding = {}
    if "feature" in out.coords:  # variable-length strings (the fixed-width kind has no v3 spec)
        out = out.assign_coords(feature=np.array(out["feature"].values.tolist(), dtype=object))
    norm = get_normalisation(ds)
    if "normalisation" in ds.attrs:
        out.attrs["normalisation"] = norm
    return out, encoding


def write_region(ds: xr.Dataset, store, *, overwrite: bool = False, chunks=None):
    """Write a region to a Zarr v3 store, block by block, atomically.

    Parameters
    ----------
    ds : xarray.Dataset
        A valid region (checked with :func:`validate_region`); numpy-, lazily indexed- or
        dask-backed.  It is never loaded whole: every variable is chunked (lazily) like the
        store and written chunk by chunk.
    store : str or path-like
        Local directory to create (or an fsspec URL, written in place: not atomic).
    overwrite : bool
        Replace an existing store.  Without it an existing store raises
        :class:`~xlandslide.errors.StoreExistsError`.
    chunks : int, (int, int), dict or None
        Chunk side(s) on y and x (default 256); every chunk holds all features (and all
        distances of the uphill offsets).

    Returns
    -------
    pathlib.Path or str
        The store written.

    Notes
    -----
    A local store is written to a temporary sibling directory and renamed into place only
    once complete; on failure the temporary directory is removed and any previous store
    under ``store`` is left intact.  Variables are zstd-compressed (level 3); attrs,
    normalisation and the CRS (``spatial_ref``) round-trip exactly.
    """
    validate_region(ds)
    out, encoding = _prepared(ds, chunks)
    if _is_url(store):
        return _write_url(out, encoding, store, overwrite)
    final = Path(str(store).removeprefix("file://")) if isinstance(store, str) else Path(store)
    with atomic_output(final, overwrite=overwrite) as tmp:
        out.to_zarr(tmp, mode="w-", zarr_format=3, encoding=encoding, consolidated=False)
    return final


def _write_url(out, encoding, url: str, overwrite: bool) -> str:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    if fs.exists(path):
        if not overwrite:
            raise StoreExistsError(
                f"{url!r} exists; pass overwrite=True to replace it, or choose another URL"
            )
        fs.rm(path, recursive=True)
    out.to_zarr(url, mode="w-", zarr_format=3, encoding=encoding, consolidated=False)
    return url


# ---------------------------------------------------------------------------------------------
# Build a region from a real DEM
# ---------------------------------------------------------------------------------------------
def _features_block(slope_z, dem_z, layout):
    """(94, ny, nx) float32 features from standardised slope and dem blocks (NaN invalid)."""
    n, i_slope, i_dem, i_fam, i_age = layout
    valid = np.isfinite(slope_z) & np.isfinite(dem_z)
    out = np.zeros((n, *slope_z.shape), dtype=np.float32)
    out[i_slope] = slope_z
    out[i_dem] = dem_z
    out[i_fam] = 1.0
    out[i_age] = 1.0
    out[:, ~valid] = np.nan
    return out


def region_from_dem(dem: xr.DataArray, label: xr.DataArray | None = None) -> xr.Dataset:
    """Build a valid region from a real DEM (and optional labels) on the same grid.

    ``slope`` is computed with :func:`xlandslide.terrain.slope`; ``slope`` and ``dem`` are
    standardised with their mean and standard deviation over the valid pixels — **these two
    statistics are computed** (one dask pass over the DEM; everything else stays lazy) and
    stored in ``attrs["normalisation"]``.  Categorical features are unknown: every lithology
    and land-cover map is 0, ``rock_family_unknown`` and ``rock_age_unknown_age`` are 1.

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
        A region (see :func:`validate_region`) with the chunks of ``dem`` (numpy when ``dem``
        is numpy-backed).  Valid pixels are those with a finite DEM *and* a finite slope (the
        one-pixel rim of the DEM and of its nodata holes is not): features are NaN and the
        label -1 elsewhere; ``dem`` keeps every finite elevation.
    """
    import dask
    import dask.array as da

    from .grid import check_same_grid
    from .terrain import slope as horn_slope

    if not isinstance(dem, xr.DataArray):
        raise TypeError(f"dem must be an xarray.DataArray, got {type(dem).__name__}")
    if "band" in dem.dims and dem.sizes["band"] == 1:
        dem = dem.squeeze("band", drop=True)
    crs = _crs(dem)
    if crs is None:
        raise GridError(
            "the DEM has no CRS; open it with rioxarray.open_rasterio or write one with "
            "dem.rio.write_crs('EPSG:....')"
        )
    nodata = None
    try:
        nodata = dem.rio.nodata
    except Exception:  # pragma: no cover
        nodata = None
    z = dem.astype(np.float32)
    if nodata is not None and not np.isnan(nodata):
        z = z.where(z != np.float32(nodata))
    sl = horn_slope(z)
    data_z, data_s = z.data, sl.data
    lazy = isinstance(data_z, da.Array)
    valid = np.isfinite(data_z) & np.isfinite(data_s)
    stats = []
    with warnings.catch_warnings():  # an all-NaN DEM is reported below
        warnings.simplefilter("ignore", RuntimeWarning)
        for arr in (data_s, data_z):
            masked = (da if lazy else np).where(valid, arr.astype(np.float64), np.nan)
            stats += [np.nanmean(masked), np.nanstd(masked)]
        stats = dask.compute(*stats) if lazy else stats
    s_mean, s_std, z_mean, z_std = (float(v) for v in stats)
    if not all(math.isfinite(v) for v in stats) or s_std <= 0 or z_std <= 0:
        raise RegionError(
            "the DEM has too few valid pixels (or is flat) to standardise slope and dem; "
            "check its nodata value and extent"
        )
    s_z = ((data_s - np.float32(s_mean)) / np.float32(s_std)).astype(np.float32)
    z_z = ((data_z - np.float32(z_mean)) / np.float32(z_std)).astype(np.float32)
    idx = catalog.feature_index
    layout = (
        len(catalog.FEATURE_NAMES),
        idx(["slope"])[0],
        idx(["dem"])[0],
        idx(["rock_family_unknown"])[0],
        idx(["rock_age_unknown_age"])[0],
    )
    if lazy:
        feats = da.map_blocks(
            _features_block,
            s_z,
            z_z,
            layout=layout,
            new_axis=0,
            chunks=((layout[0],), *s_z.chunks),
            dtype=np.float32,
            meta=np.empty((0, 0, 0), dtype=np.float32),
        )
    else:
        feats = _features_block(np.asarray(s_z), np.asarray(z_z), layout)

    if label is None:
        if lazy:
            lab = da.full(z.shape, -1, dtype=np.int8, chunks=data_z.chunks)
        else:
            lab = np.full(z.shape, -1, dtype=np.int8)
    else:
        if "band" in label.dims and label.sizes["band"] == 1:
            label = label.squeeze("band", drop=True)
        check_same_grid(label, z, "label and dem")
        raw = label.data
        if lazy and not isinstance(raw, da.Array):
            raw = da.from_array(raw, chunks=data_z.chunks)
        xp = da if isinstance(raw, da.Array) else np
        lab = xp.where(raw == 1, 1, xp.where(raw == 0, 0, -1)).astype(np.int8)
    lab = (da if lazy else np).where(valid, lab, np.int8(-1)).astype(np.int8)

    coords = {"feature": np.array(catalog.FEATURE_NAMES), "y": z["y"], "x": z["x"]}
    region = region_dataset(
        feats,
        data_z,
        lab,
        coords=coords,
        attrs={
            "title": "xlandslide region built from a DEM",
            "normalisation": {
                "slope": {"mean": s_mean, "std": s_std},
                "dem": {"mean": z_mean, "std": z_std},
            },
        },
    )
    return region.rio.write_crs(crs)


def region_dataset(features, dem, label, *, coords: dict, attrs: dict) -> xr.Dataset:
    """A region Dataset from its three arrays (numpy or dask), with the data model's attrs.

    ``features`` (feature, y, x) float32, ``dem`` (y, x) float32 in metres, ``label``
    (y, x) int8; ``coords`` holds ``feature``, ``y`` and ``x``.  No CRS is written.
    """
    return xr.Dataset(
        {
            "features": (
                ("feature", "y", "x"),
                features,
                {
                    "long_name": "input features (slope and dem standardised, others one-hot)",
                    "units": "1",
                },
            ),
            "dem": (("y", "x"), dem, {"long_name": "elevation", "units": "m"}),
            "label": (
                ("y", "x"),
                label,
                {
                    "long_name": "landslide label",
                    "flag_values": [-1, 0, 1],
                    "flag_meanings": "unknown stable landslide",
                    "units": "1",
                },
            ),
        },
        coords=coords,
        attrs=attrs,
    )
