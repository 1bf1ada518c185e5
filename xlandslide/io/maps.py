"""Susceptibility maps on disk: Zarr and GeoTIFF, streamed, never half-written, resumable.

:func:`write_map` writes a (y, x) map lazily, block by block, to a ``.zarr`` store or a
tiled ``.tif``; :func:`open_map` reads one back lazily, after checking it is complete.  Both
formats keep the CRS.

Zarr maps are written block by block into a hidden partial folder and renamed into place when
complete; ``write_map(prob, path, resume=True)`` after a killed write computes only the
blocks still missing (``xlandslide predict ... --resume``): see
:mod:`xlandslide.io.resumable`.

GeoTIFF maps are Cloud Optimized GeoTIFFs (:mod:`xlandslide.io.cog`), streamed block by
block into a temporary sibling and renamed into place
(:func:`~xlandslide.io.atomic.atomic_output`); they carry the tag ``XLANDSLIDE_MAP``, which
tells :func:`open_map` and a later ``overwrite`` that xlandslide wrote them.  With
``resume=True`` the blocks go first into a resumable Zarr map in the hidden sibling
``.NAME.xlandslide-partial/map.zarr``, which is converted to the GeoTIFF once complete and
then removed: a killed write resumes with the missing blocks only, a killed conversion is
done again from the Zarr map (nothing recomputed).  Such a GeoTIFF also carries the map's
fingerprint (tag ``XLANDSLIDE_FINGERPRINT``): resuming a complete one computes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import (
    ConfigError,
    CorruptChunkError,
    IncompleteStoreError,
    InputTypeError,
    RegionNotFoundError,
    ShapeError,
)
from .atomic import atomic_output, check_writable, is_temporary, refuse_existing, remove
from .cog import write_cog
from .guard import GuardedArray, guarded_variable, open_guarded_zarr, refuse_reading
from .integrity import (
    Root,
    checked_arrays,
    foreign_output,
    is_url,
    local_path,
    missing_manifest_message,
    read_manifest,
    refuse_inside_store,
    replaceable_store,
)
from .lock import output_lock
from .resumable import NUMPY_CHUNK, map_fingerprint, partial_path, write_zarr_map

#: Map formats by file suffix.
MAP_SUFFIXES = (".zarr", ".tif", ".tiff")
#: GeoTIFF tag of the maps xlandslide writes (its value: the package version).
TIFF_TAG = "XLANDSLIDE_MAP"
#: GeoTIFF tag of a map written with ``resume=True``: what identifies the map.
FINGERPRINT_TAG = "XLANDSLIDE_FINGERPRINT"


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in MAP_SUFFIXES:
        raise ConfigError(
            f"unknown map format {suffix or '(none)'!r} for {str(path)!r}; use a path ending "
            f"in one of {', '.join(MAP_SUFFIXES)}"
        )
    return suffix


def _check_map(prob) -> None:
    if not isinstance(prob, (xr.DataArray, xr.Dataset)):
        raise InputTypeError(
            f"write_map needs an xarray.DataArray (y, x), got {type(prob).__name__}; pass "
            "the result of xlandslide.predict (or region.landslide.predict)"
        )
    maps = prob.data_vars.values() if isinstance(prob, xr.Dataset) else [prob]
    if not maps:
        raise ShapeError("write_map was given a Dataset without variables; pass a map (y, x)")
    for var in maps:
        if set(var.dims) != {"y", "x"}:
            raise ShapeError(
                f"a map has dims ('y', 'x'), got {var.dims}; select one map first (for "
                "example prob.isel(band=0))"
            )


def write_map(
    prob: xr.DataArray, path, *, overwrite: bool = False, resume: bool = False, progress=False
) -> Path:
    """Write a susceptibility map to ``path`` (``.zarr`` or ``.tif``/``.tiff``), streaming.

    Parameters
    ----------
    prob : xarray.DataArray or Dataset
        The (y, x) map, usually lazy (:func:`xlandslide.predict`): it is computed here,
        block by block (dask chunk by dask chunk), never whole.  A Dataset of (y, x) maps
        (:func:`xlandslide.uncertainty_map`: ``mean`` and ``std``) is written to one Zarr
        store, or to one GeoTIFF with a band per map (named by its band description);
        :func:`open_map` reads one of them (``name=``).  The attrs go along (GeoTIFF:
        as tags, JSON for lists such as an uncertainty map's ``members``).
    path : str or path-like
        ``.zarr``: a Zarr v3 store keeping the map's chunks and CRS (``spatial_ref``), a
        local path or an fsspec URL (written in place there: object stores cannot rename;
        it opens only once complete); ``.tif``/``.tiff``: a float32 Cloud Optimized
        GeoTIFF (:mod:`xlandslide.io.cog`: 256 x 256 tiles, DEFLATE with the floating-point
        predictor, overviews averaged), NaN as nodata, on a local (or shared) file system.
    overwrite : bool
        Replace an existing map written by xlandslide.  Anything else at ``path`` (a region
        store, a folder or file xlandslide did not write) raises
        :class:`~xlandslide.errors.ForeignOutputError`, overwrite or not.
    resume : bool
        Continue a write to ``path`` that was killed, computing only the blocks it had not
        written (a GeoTIFF: through a hidden resumable Zarr map, see the module notes).
        The map must be the same one (the same model, region and settings: its
        fingerprint is checked, else :class:`~xlandslide.errors.ResumeError`).  If the
        map is already complete under ``path``, nothing is computed.  Without ``resume``
        a leftover partial write is discarded and the map computed from scratch.
    progress : bool or str
        Report the computation's progress with an ETA on stderr (a bar on a terminal,
        a line every ~30 s in a log; :mod:`xlandslide._progress`); a string is the
        description (default ``"writing NAME"``).  Local dask schedulers only.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    StoreExistsError
        ``path`` exists and neither ``overwrite`` nor a completed ``resume`` applies.
    OutputIsInputError
        ``path`` is, holds or lies inside a store the map is computed from.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> model = xlandslide.fit(region, "naive", patches=patches)
    >>> prob = region.landslide.predict(model)  # lazy
    >>> out = Path(tempfile.mkdtemp()) / "susceptibility.zarr"
    >>> path = xlandslide.write_map(prob, out, resume=True)  # block by block
    >>> xlandslide.open_map(out).shape
    (96, 96)
    """
    if progress:
        from .._progress import dask_progress

        desc = progress if isinstance(progress, str) else f"writing {Path(str(path)).name}"
        with dask_progress(desc):
            return write_map(prob, path, overwrite=overwrite, resume=resume)
    _check_map(prob)
    url = is_url(path)
    path = str(path) if url else local_path(path)
    suffix = _suffix(Path(str(path).rstrip("/")))
    prob = prob.transpose("y", "x")
    if url:
        if suffix != ".zarr":
            raise ConfigError(
                f"a GeoTIFF is written to a local (or shared) file system, not to {path!r}; "
                "write the map to a .zarr URL, or to a local .tif and copy it"
            )
        return write_zarr_map(prob, path, overwrite=overwrite, resume=resume)
    refuse_inside_store(path)
    refuse_reading(prob, path)  # before anything is created next to or inside an input
    if suffix == ".zarr":
        return write_zarr_map(prob, path, overwrite=overwrite, resume=resume)
    if resume:
        return _write_tif_resumably(prob, path, overwrite=overwrite)
    if partial_path(path).exists():  # a resumable write of this path left: discarded
        remove(partial_path(path))
    return _write_tif(prob, path, overwrite=overwrite)


def check_map_output(path, *, overwrite: bool = False) -> Path:
    """Refuse, before any work, a local map output :func:`write_map` would refuse.

    An unknown suffix (:class:`~xlandslide.errors.ConfigError`), a path inside a store
    (:class:`~xlandslide.errors.OutputIsInputError`), an existing path without
    ``overwrite`` (:class:`~xlandslide.errors.StoreExistsError`) or, with it, one that is
    not a map xlandslide wrote (:class:`~xlandslide.errors.ForeignOutputError`), a folder
    where nothing can be written (:class:`~xlandslide.errors.OutputWriteError`).
    """
    path = local_path(path)
    suffix = _suffix(path)
    refuse_inside_store(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            refuse_existing(path)
        if suffix == ".zarr":
            replaceable_store("map")(path)
        else:
            _replaceable_tif(path)
    check_writable(path)
    return path


# ---------------------------------------------------------------------------------------------
# GeoTIFF
# ---------------------------------------------------------------------------------------------
def _tif_tag(path: Path, tag: str = TIFF_TAG) -> str | None:
    import rasterio

    try:
        with rasterio.open(path) as src:
            return src.tags().get(tag)
    except (rasterio.errors.RasterioError, OSError):
        return None


def _replaceable_tif(path: Path) -> None:
    if not path.is_file():
        raise foreign_output(path, "not a GeoTIFF")
    if _tif_tag(path) is None:
        raise foreign_output(path, f"no {TIFF_TAG} tag")


def _write_tif_resumably(prob: xr.DataArray, path: Path, *, overwrite: bool) -> Path:
    """The blocks into a resumable Zarr map beside ``path``, then the GeoTIFF from it."""
    with output_lock(path):  # for the whole write: blocks, then the conversion
        return _write_tif_resumably_locked(prob, path, overwrite=overwrite)


def _write_tif_resumably_locked(prob: xr.DataArray, path: Path, *, overwrite: bool) -> Path:
    fingerprint = map_fingerprint(prob)
    staging = partial_path(path)
    if path.exists():
        if _tif_tag(path, FINGERPRINT_TAG) == fingerprint:  # the same map, complete
            if staging.exists():
                remove(staging)  # killed after the GeoTIFF's rename
            return path
        if not overwrite:
            refuse_existing(path)
        _replaceable_tif(path)  # before any block is computed
    staging.mkdir(exist_ok=True)
    store = write_zarr_map(prob, staging / "map.zarr", overwrite=True, resume=True)
    names = list(prob.data_vars) if isinstance(prob, xr.Dataset) else [None]
    staged = [_open_zarr_map(store, n, verify=False, foreign=False, staged=True) for n in names]
    blocks = xr.Dataset(dict(zip(names, staged)), attrs=prob.attrs) if names[0] else staged[0]
    _write_tif(blocks, path, overwrite=True, tags={FINGERPRINT_TAG: fingerprint})
    remove(staging)
    return path


def _write_tif(prob, path: Path, *, overwrite: bool, tags=None) -> Path:
    """``prob`` (one map, or a Dataset of maps: one band each, named by its description)
    to the Cloud Optimized GeoTIFF ``path``, block by block (:mod:`xlandslide.io.cog`)."""
    import dask.array as da
    import rioxarray  # noqa: F401  (registers .rio)

    maps = list(prob.data_vars.values()) if isinstance(prob, xr.Dataset) else [prob]
    bands = [
        m.data if isinstance(m.data, da.Array) else da.from_array(np.asarray(m.data), NUMPY_CHUNK)
        for m in maps
    ]
    with atomic_output(path, overwrite=overwrite, replaceable=_replaceable_tif) as tmp:
        write_cog(
            tmp,
            bands,
            crs=prob.rio.crs,
            transform=prob.rio.transform(),
            dtype="float32",
            nodata=np.nan,
            resampling="AVERAGE",  # probabilities: the mean of the pixels below
            tags={**_tags(prob.attrs), TIFF_TAG: __version__, **(tags or {})},
            band_tags=[_tags(m.attrs) for m in maps] if len(maps) > 1 else None,
            descriptions=[str(m.name) for m in maps] if isinstance(prob, xr.Dataset) else None,
        )
    return path


def _tags(attrs) -> dict[str, str]:
    """GeoTIFF tags of a map's attrs: text as is, numbers as text, the rest as JSON."""
    out = {}
    for key, value in attrs.items():
        if isinstance(value, (str, int, float, np.number)) and not isinstance(value, bool):
            out[str(key)] = str(value)
        else:
            out[str(key)] = json.dumps(value, default=str)
    return out


# ---------------------------------------------------------------------------------------------
# Read
# ---------------------------------------------------------------------------------------------
def open_map(
    path, *, name: str | None = None, verify: bool = False, foreign: bool = False
) -> xr.DataArray:
    """Open a map written by :func:`write_map` lazily (dask-backed), with its CRS.

    Parameters
    ----------
    path : str or path-like
        A ``.zarr`` store or a ``.tif``/``.tiff`` written by :func:`write_map`.
    name : str, optional
        The variable of a Zarr store holding several (default: its only one, else
        ``susceptibility``, else ``mean``: the mean map of an uncertainty store).
    verify : bool
        Decode every chunk (Zarr) or block (GeoTIFF) before returning; by default a cheap
        check runs: the store's manifest lists every chunk file and its size, and they are
        compared with a directory listing (a GeoTIFF: its xlandslide tag).
    foreign : bool
        Read a map xlandslide did not write (no manifest or tag): its completeness cannot be
        checked.  Refused by default, since a map whose write was killed (a plain
        ``to_zarr``) reads as complete with holes of NaN.

    Raises
    ------
    RegionNotFoundError
        Nothing at ``path`` (a ``FileNotFoundError``).
    IncompleteStoreError
        No manifest or tag (unfinished or foreign), or a chunk missing or truncated.
    CorruptChunkError
        A chunk or block that does not decode (``verify=True``, or at read time).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import xlandslide
    >>> dem = xlandslide.synthetic_region(shape=(96, 96), seed=0)["dem"]
    >>> prob = ((dem - dem.min()) / (dem.max() - dem.min())).rename("susceptibility")
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("map.zarr", "map.tif"):
    ...     back = xlandslide.open_map(xlandslide.write_map(prob, folder / name))  # lazy
    ...     print(name, back.dims, back.rio.crs, np.array_equal(back, prob, equal_nan=True))
    map.zarr ('y', 'x') EPSG:32632 True
    map.tif ('y', 'x') EPSG:32632 True
    """
    url = is_url(path)
    path = str(path) if url else local_path(path)
    suffix = _suffix(Path(str(path).rstrip("/")))
    if not Root(path).exists():
        raise RegionNotFoundError(f"no map at {str(path)!r}; write one with xlandslide.write_map")
    if suffix == ".zarr":
        return _open_zarr_map(path, name, verify=verify, foreign=foreign)
    if url:
        raise ConfigError(f"GeoTIFF maps are read from local files, not {path!r}")
    return _open_tif(path, name, verify=verify, foreign=foreign)


def _open_zarr_map(
    path, name, *, verify: bool, foreign: bool, staged: bool = False
) -> xr.DataArray:
    """``staged``: the complete Zarr map a resumable GeoTIFF write converts (it lies in a
    hidden partial folder; anyone else is refused such a path)."""
    root = Root(path)
    if not staged and not root.url and is_temporary(root.path):  # not renamed yet
        raise IncompleteStoreError(missing_manifest_message(str(path), ""))
    manifest = read_manifest(path)
    if manifest is None:
        if not foreign:
            raise IncompleteStoreError(
                missing_manifest_message(str(path), "xlandslide.write_map(prob, path)")
            )
    elif manifest.get("kind") != "map":
        raise ConfigError(
            f"{str(path)!r} is an xlandslide {manifest.get('kind')} store, not a map: "
            "give a map written by xlandslide.write_map (or `xlandslide predict`)"
        )
    arrays, token = checked_arrays(path, root, manifest, verify=verify)
    ds = open_guarded_zarr(
        root,
        arrays,
        dask=True,
        token=token,
        manifest=manifest,
        decode_coords="all",
        consolidated=False,
    )
    names = list(ds.data_vars)
    default = "mean" if "susceptibility" not in names and "mean" in names else "susceptibility"
    key = name or (names[0] if len(names) == 1 else default)
    if key not in ds:
        raise ConfigError(f"{str(path)!r} holds {names}, not {key!r}; pass name=...")
    return ds[key]


def _sparse_blocks(src, band: int = 1) -> list[str]:
    """The blocks of ``band`` that the file does not hold (a sparse tile: offset or byte
    count 0, read as no-data by GDAL); every block of a map xlandslide writes is there."""
    out = []
    for (row, col), _ in src.block_windows(band):
        offset = src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=band)
        size = src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=band)
        if not offset or not size or int(offset) == 0 or int(size) == 0:
            out.append(f"block {(row, col)} is absent (a sparse tile)")
    return out


def _tif_variable(path: str, band: int = 1) -> xr.Variable:
    return _tif_array(path, band).variable


def _tif_array(path: str, band: int = 1) -> xr.DataArray:
    import rioxarray

    da0 = rioxarray.open_rasterio(path, masked=True, chunks=None, cache=False)
    return da0.isel(band=band - 1, drop=True)


def _tif_band(src, path, name) -> int:
    """The band of the map ``name`` (one band: that one; several: by description, the
    default as for a Zarr store of several maps)."""
    if src.count == 1:
        return 1
    names = [str(d) for d in src.descriptions]
    default = "mean" if "susceptibility" not in names and "mean" in names else "susceptibility"
    key = name or default
    if key not in names:
        raise ConfigError(f"{str(path)!r} holds the bands {names}, not {key!r}; pass name=...")
    return names.index(key) + 1


def _tif_problems(path: Path, name, *, verify: bool) -> tuple:
    """(tag, band, block shape, problems, band tags) of the GeoTIFF map ``path``."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            tag = src.tags().get(TIFF_TAG)
            band = _tif_band(src, path, name)
            problems = [] if tag is None else _sparse_blocks(src, band)
            if verify:
                for ij, window in src.block_windows(band):
                    try:
                        src.read(band, window=window)
                    except rasterio.errors.RasterioError as exc:
                        problems.append(f"block {ij} cannot be decoded ({exc})")
            return tag, band, src.block_shapes[band - 1], problems, src.tags(band)
    except rasterio.errors.RasterioError as exc:
        raise CorruptChunkError(
            f"{str(path)!r} is not a readable GeoTIFF ({exc}); write the map again with "
            "xlandslide.write_map"
        ) from exc


def _open_tif(path: Path, name, *, verify: bool, foreign: bool) -> xr.DataArray:
    import rasterio
    from dask.base import tokenize

    label = str(path)
    tag, band, (by, bx), problems, band_tags = _tif_problems(path, name, verify=verify)
    if tag is None and not foreign:
        raise IncompleteStoreError(
            f"the GeoTIFF {label!r} has no {TIFF_TAG} tag: xlandslide.write_map did not "
            "write it, so it cannot tell whether it is complete; write it with write_map, or "
            "pass foreign=True to read it anyway"
        )
    if problems:
        what, fix = (
            ("incomplete", "its blocks would read as no-data: write the map again")
            if "absent" in problems[0]
            else ("damaged", "write the map again")
        )
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        error = IncompleteStoreError if what == "incomplete" else CorruptChunkError
        raise error(f"the GeoTIFF {label!r} is {what}: {'; '.join(problems[:3])}{more}; {fix}")
    try:
        da0 = _tif_array(label, band)
    except (rasterio.errors.RasterioError, OSError) as exc:  # pragma: no cover - opened above
        raise CorruptChunkError(f"{label!r} is not a readable GeoTIFF ({exc})") from exc
    chunks = (by * max(1, NUMPY_CHUNK // by), bx * max(1, NUMPY_CHUNK // bx))
    guard = GuardedArray(
        label,
        label,
        f"band {band}",
        (by, bx),
        _tif_variable,
        (label, band),
        variable=da0.variable,
        dask_chunks=chunks,
    )
    token = tokenize(str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size, band)
    var = guarded_variable(guard, dask=True, token=token)
    out = xr.DataArray(var, coords=da0.coords, name=name or "susceptibility")
    out.attrs.pop(TIFF_TAG, None)
    if isinstance(out.attrs.get("long_name"), tuple):  # several bands: their descriptions
        del out.attrs["long_name"]
    out.attrs.update(band_tags)
    if isinstance(out.attrs.get("members"), str):
        out.attrs["members"] = json.loads(out.attrs["members"])
    return out


__all__ = ["MAP_SUFFIXES", "check_map_output", "open_map", "partial_path", "write_map"]
