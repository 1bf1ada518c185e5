"""A region store from one small TOML file: the grid, the layers, the mappings, the labels.

:func:`read_ingest_config` reads and checks the file (every key known, every type right,
paths relative to the file); :func:`ingest_region` builds the region with
:func:`~xlandslide.build_region` and writes it with :func:`~xlandslide.write_region`
(progress bars with tqdm).  ``xlandslide ingest CONFIG.toml`` is the command line of it.

The file (``examples/ecuador.toml`` and ``examples/coded_polygons.toml`` are complete ones)::

    out = "region.zarr"          # the store (--out overrides); relative to this file
    title = "My region"          # optional
    chunks = 1024                # optional: dask chunk side while building
    store_chunks = 256           # optional: chunk side of the store
    reproject = false            # optional: reproject layers on another grid / CRS
    terrain = ["slope", "dem"]   # optional: DEM-derived layers first

    [dem]
    path = "dem.tif"             # band = "elev" | 4, nodata = -9999: optional
    # range = [-500, 9000]       # optional: plausible elevations (m); outside is an error

    [continuous]                 # optional: more layers, by name
    rainfall = "rain.tif"
    cplan = { path = "terrain.tif", band = "cplan" }

    [categorical.lithology]      # optional: one table per group
    path = "geology.gpkg"        # polygons (any vector file) or a raster (.tif...)
    column = "CODE"              # the code attribute (polygons)
    preset = "inspire"           # "inspire" | "corine"; omit for your own classes
    codes = { 101 = "gneiss", 102 = "limestone" }
    # classes = [...]            # your own classes (no preset), in code order
    # unknown = "..."            # the class of codes the mapping lacks...
    # unmapped = "unknown"       # ...used only when asked ("unknown" | "nodata")

    [labels]                     # optional
    path = "inventory.gpkg"      # polygons, points (with column) or a raster (with nodata)
    # column = "lslpts"

    [boundary]                   # optional
    path = "region.gpkg"

    [normalisation]              # optional: statistics to use instead of computing them
    # dem = { mean = 2400.0, std = 300.0 }
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, ConfigNotFoundError, StoreExistsError
from ..mapping import class_mapping
from .build import build_region
from .layers import CategoricalLayer
from .plausible import checked_range
from .raster import RasterLayer, is_raster_path
from .store import write_region
from .summary import warn_summary

_TOP = {
    "out": str,
    "title": str,
    "chunks": int,
    "store_chunks": int,
    "reproject": bool,
    "terrain": list,
    "dem": (str, dict),
    "continuous": dict,
    "categorical": dict,
    "labels": (str, dict),
    "boundary": (str, dict),
    "normalisation": dict,
}
_RASTER = {"path": str, "band": (int, str), "nodata": (int, float)}
_CATEGORICAL = {
    "path": str,
    "column": str,
    "band": (int, str),
    "nodata": (int, float),
    "preset": str,
    "codes": dict,
    "classes": list,
    "unknown": str,
    "unmapped": str,
}
_LABELS = {"path": str, "column": str, "band": (int, str), "nodata": (int, float)}
_BOUNDARY = {"path": str}


@dataclass(frozen=True)
class IngestConfig:
    """A checked ingest configuration.

    Attributes
    ----------
    build : dict
        Keyword arguments of :func:`~xlandslide.build_region` (``dem`` first).
    out : pathlib.Path or None
        The store to write (absolute; None when the file names none).
    store_chunks : int or None
        Chunk side of the store (None: the store's default).
    source : pathlib.Path
        The configuration file.
    """

    build: dict = field(repr=False)
    out: Path | None
    store_chunks: int | None
    source: Path


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def _check(table, allowed: dict, where: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, got {type(table).__name__}")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; the keys are {sorted(allowed)}")
    for key, value in table.items():
        kinds = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
        names = " or ".join(k.__name__ for k in kinds)
        # a bool is an int in Python, never in a config
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise ConfigError(
                f"{where}: {key} must be {names}, got {type(value).__name__} {value!r}"
            )
    return table


def _path(value, base: Path) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _raster(entry, base, where):
    if isinstance(entry, str):
        entry = {"path": entry}
    entry = _check(entry, _RASTER, where)
    if "path" not in entry:
        raise ConfigError(f"{where} needs a path")
    return RasterLayer(_path(entry["path"], base), entry.get("band"), entry.get("nodata"))


def _categorical(group, entry, base):
    where = f"[categorical.{group}]"
    entry = _check(entry, _CATEGORICAL, where)
    if "path" not in entry:
        raise ConfigError(f"{where} needs a path")
    mapping = class_mapping(
        group,
        preset=entry.get("preset"),
        codes=entry.get("codes"),
        classes=entry.get("classes"),
        unknown=entry.get("unknown"),
    )
    path = _path(entry["path"], base)
    if is_raster_path(path):
        if "column" in entry:
            raise ConfigError(f"{where}: column is for polygon layers; {path.name} is a raster")
        source = RasterLayer(path, entry.get("band"), entry.get("nodata"))
    else:
        for key in ("band", "nodata"):
            if key in entry:
                raise ConfigError(f"{where}: {key} is for rasters; {path.name} is a vector layer")
        source = path
    return CategoricalLayer(
        source, mapping=mapping, column=entry.get("column"), unmapped=entry.get("unmapped")
    )


def read_ingest_config(path) -> IngestConfig:
    """Read and check an ingest configuration (TOML); paths become absolute.

    Raises
    ------
    ConfigNotFoundError
        No file at ``path``.
    ConfigError
        Not TOML, an unknown key, a value of the wrong type, a missing ``[dem]``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import xlandslide
    >>> folder = Path(tempfile.mkdtemp())
    >>> toml = 'out = "region.zarr"\\n[dem]\\npath = "dem.tif"\\nnodata = -9999\\n'
    >>> _ = (folder / "region.toml").write_text(toml)
    >>> config = xlandslide.read_ingest_config(folder / "region.toml")  # no file read yet
    >>> config.out == folder / "region.zarr", config.build["dem"].nodata
    (True, -9999)
    >>> _ = (folder / "typo.toml").write_text('[dem]\\npath = "dem.tif"\\nbands = 2\\n')
    >>> xlandslide.read_ingest_config(folder / "typo.toml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    xlandslide.errors.ConfigError: [dem]: unknown key(s) ['bands']; the keys are [...]
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigNotFoundError(
            f"no configuration file at {str(path)!r}; see examples/ecuador.toml for one"
        )
    try:
        raw = _toml().loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:  # tomllib.TOMLDecodeError is a ValueError
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    raw = _check(raw, _TOP, str(path))
    base = path.resolve().parent
    if "dem" not in raw:
        raise ConfigError(f"{path}: a [dem] table (path = ...) is required: the DEM is the grid")
    dem = raw["dem"] if isinstance(raw["dem"], dict) else {"path": raw["dem"]}
    dem_range = _check(dict(dem), {**_RASTER, "range": list}, "[dem]").pop("range", None)
    build = {"dem": _raster({k: v for k, v in dem.items() if k != "range"}, base, "[dem]")}
    if dem_range is not None:
        build["dem_range"] = checked_range(dem_range)
    for key in ("reproject", "chunks", "title"):
        if key in raw:
            build[key] = raw[key]
    if "terrain" in raw:
        build["terrain"] = tuple(raw["terrain"])
    if "continuous" in raw:
        build["continuous"] = {
            name: _raster(entry, base, f"[continuous] {name}")
            for name, entry in raw["continuous"].items()
        }
    if "categorical" in raw:
        build["categorical"] = {
            group: _categorical(group, entry, base) for group, entry in raw["categorical"].items()
        }
    if "labels" in raw:
        entry = raw["labels"]
        entry = _check({"path": entry} if isinstance(entry, str) else entry, _LABELS, "[labels]")
        if "path" not in entry:
            raise ConfigError("[labels] needs a path")
        p = _path(entry["path"], base)
        if is_raster_path(p):
            if "column" in entry:
                raise ConfigError("[labels]: column is for point layers, not a label raster")
            build["labels"] = RasterLayer(p, entry.get("band"), entry.get("nodata"))
        else:
            for key in ("band", "nodata"):
                if key in entry:
                    raise ConfigError(f"[labels]: {key} is for a label raster, not a vector")
            build["labels"] = p
            if "column" in entry:
                build["label_column"] = entry["column"]
    if "boundary" in raw:
        entry = raw["boundary"]
        entry = _check(
            {"path": entry} if isinstance(entry, str) else entry, _BOUNDARY, "[boundary]"
        )
        if "path" not in entry:
            raise ConfigError("[boundary] needs a path")
        build["boundary"] = _path(entry["path"], base)
    if "normalisation" in raw:
        norm = {}
        for name, stats in raw["normalisation"].items():
            stats = _check(
                stats, {"mean": (int, float), "std": (int, float)}, f"[normalisation] {name}"
            )
            if set(stats) != {"mean", "std"}:
                raise ConfigError(f"[normalisation] {name} needs mean and std")
            norm[name] = {"mean": float(stats["mean"]), "std": float(stats["std"])}
        build["normalisation"] = norm
    out = _path(raw["out"], base) if "out" in raw else None
    return IngestConfig(build, out, raw.get("store_chunks"), path)


def ingest_region(config, out=None, *, overwrite: bool = False, progress: bool = False):
    """Build the region a configuration describes and write it to a region store.

    Parameters
    ----------
    config : path or IngestConfig
        The TOML file (see the module docstring) or its :func:`read_ingest_config`.
    out : path, optional
        The store to write (default: the file's ``out``).
    overwrite : bool
        Replace an existing store (else :class:`~xlandslide.errors.StoreExistsError`).
    progress : bool
        Progress bars (tqdm, on stderr) over the statistics pass and the write.

    Returns
    -------
    (pathlib.Path, xarray.Dataset)
        The store written and the (lazy) region built.  What the ingest found (the classes
        present per group with their share of the valid pixels, the source codes behind
        them, the patches) is in ``region.attrs["xlandslide_build"]``;
        :func:`~xlandslide.io.summary.summary_lines` says it in words.

    Warns
    -----
    IngestWarning
        A group with one class present, or a region too small for three patches in each
        split (:mod:`xlandslide.io.summary`).

    Examples
    --------
    A DEM and a label raster (1 landslide, 0 stable, -1 unknown) as GeoTIFFs, and the
    TOML file naming them:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import xlandslide
    >>> synthetic = xlandslide.synthetic_region(shape=(192, 192), seed=0)
    >>> folder = Path(tempfile.mkdtemp())
    >>> synthetic["dem"].rio.to_raster(folder / "dem.tif")
    >>> synthetic["label"].rio.to_raster(folder / "label.tif")
    >>> toml = 'out = "region.zarr"\\n[dem]\\npath = "dem.tif"\\n[labels]\\npath = "label.tif"\\n'
    >>> _ = (folder / "region.toml").write_text(toml)
    >>> store, region = xlandslide.ingest_region(folder / "region.toml")
    >>> store == folder / "region.zarr", region["continuous"].layer.values.tolist()
    (True, ['slope', 'dem'])
    >>> back = xlandslide.open_region(store)
    >>> bool(((back["label"] == synthetic["label"]) | (back["label"] == -1)).all())
    True
    """
    cfg = config if isinstance(config, IngestConfig) else read_ingest_config(config)
    target = Path(out) if out is not None else cfg.out
    if target is None:
        raise ConfigError(
            f'{cfg.source}: no store to write; give out = "STORE.zarr" in the file or --out'
        )
    if target.exists() and not overwrite:
        raise StoreExistsError(
            f"{str(target)!r} exists; pass overwrite=True (--overwrite) to replace it, or "
            "choose another out"
        )
    region = build_region(**cfg.build, progress=progress)
    warn_summary(region.attrs["xlandslide_build"])  # before the write: a user can stop it
    if progress:
        from tqdm.dask import TqdmCallback

        with TqdmCallback(desc=f"writing {target.name}", leave=False):
            path = write_region(region, target, overwrite=overwrite, chunks=cfg.store_chunks)
    else:
        path = write_region(region, target, overwrite=overwrite, chunks=cfg.store_chunks)
    return Path(path), region


__all__ = ["IngestConfig", "ingest_region", "read_ingest_config"]
