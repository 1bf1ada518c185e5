"""Regions from real data: :func:`build_region` (a DEM, rasters, coded polygons, labels) and
its thin wrapper :func:`region_from_dem` (slope and DEM only).

Everything is brought onto the DEM's grid (:mod:`~xlandslide.io.layers`: rasters checked
against it or reprojected on request, vector layers rasterised chunk by chunk) and the region
is built lazily, with the DEM's chunks.  One dask pass computes the normalisation statistics
of every continuous layer (and runs the value checks of every layer); nothing else is
computed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .._dispatch import reduce_blocks
from ..catalog import LABEL_LANDSLIDE, LABEL_STABLE, LABEL_UNKNOWN, NODATA_CODE, FeatureLayout
from ..errors import ConfigError, InputTypeError, LabelError, RegionError
from ..region import region_dataset
from .layers import (
    DEM_RANGE,
    TERRAIN,
    SourceCodes,
    categorical_codes,
    continuous_layers,
    describe_source,
    label_array,
    open_dem,
)
from .summary import code_counts, group_summary, patch_summary
from .vector import rasterize, read_vector, to_grid_crs


# ---------------------------------------------------------------------------------------------
# The one pass
# ---------------------------------------------------------------------------------------------
def _block_stats(dem, *arrays, n_cont, n_classes, has_inside):
    """Per-block sums of the one pass: valid count, label counts, per layer (mean, M2) and
    per group the valid pixels of each class and, last, those without a class; shape
    (K,).  Every input is a (y, x) block: no stacked intermediate, so the pass holds
    little more than the blocks in flight.
    """
    cont = arrays[:n_cont]
    label = arrays[n_cont]
    codes = arrays[n_cont + 1 : n_cont + 1 + len(n_classes)]
    valid = _valid(dem, *cont, *(arrays[-1:] if has_inside else ()))
    n = int(valid.sum())
    lab = label[valid]
    out = [n, int((lab == LABEL_LANDSLIDE).sum()), int((lab == LABEL_STABLE).sum())]
    for x in cont:
        x = x[valid].astype(np.float64)
        mean = float(x.mean()) if n else 0.0
        out += [mean, float(((x - mean) ** 2).sum()) if n else 0.0]
    for c, k in zip(codes, n_classes):
        counts = np.bincount(c[valid].ravel(), minlength=NODATA_CODE + 1)
        out += [*counts[:k].tolist(), int(counts[NODATA_CODE])]
    return np.asarray(out, dtype=np.float64)


def _valid(dem, *layers):
    """Valid pixels: a finite DEM and finite layers (the last, when boolean, is the inside
    of the boundary)."""
    valid = np.isfinite(dem)
    for x in layers:
        valid &= x if x.dtype == bool else np.isfinite(x)
    return valid


def _standardise(cont, valid, *, mean, std):
    out = (cont - mean[:, None, None]) / std[:, None, None]
    out[:, ~valid] = np.nan
    return out.astype(np.float32)


def _combine(stats: np.ndarray, n_cont: int):
    """Chan et al.'s pairwise combination of per-block (n, mean, M2): float64; then the
    label counts and the sums of the group counts."""
    s = stats.reshape(-1, stats.shape[-1])
    n_b = s[:, 0]
    n = float(n_b.sum())
    means, stds = [], []
    for k in range(n_cont):
        m_b, m2_b = s[:, 3 + 2 * k], s[:, 4 + 2 * k]
        mean = float((n_b * m_b).sum() / n) if n else math.nan
        m2 = float((m2_b + n_b * (m_b - mean) ** 2).sum()) if n else math.nan
        means.append(mean)
        stds.append(math.sqrt(m2 / n) if n else math.nan)
    return n, means, stds, s[:, 1].sum(), s[:, 2].sum(), s[:, 3 + 2 * n_cont :].sum(axis=0)


def _check_label_counts(n: int, n_slides: int, n_stable: int, labels) -> None:
    """Labels that give a model nothing to learn (no landslide, or no stable pixel, among
    the valid pixels) are refused, naming the counts and the likely fix."""

    if n_slides and n_stable:
        return
    counts = f"{n_slides} landslide and {n_stable} stable pixels among {n} valid pixels"
    where = describe_source(labels)
    if not n_slides:
        fix = (
            "check that the landslides lie inside the DEM and the boundary (the same place "
            "and CRS: a layer in another CRS needs reproject=True), and that their label is 1"
        )
    else:
        fix = (
            "a model also needs stable pixels: landslide polygons leave the rest of the region "
            "stable, points need absences (label_column 0 / False), a raster needs 0s"
        )
    raise LabelError(f"the labels ({where}) give {counts}: {fix}")


def build_region(
    dem,
    *,
    continuous: Mapping | None = None,
    categorical: Mapping | None = None,
    labels=None,
    label_column: str | None = None,
    boundary=None,
    reproject: bool = False,
    terrain: Sequence[str] = TERRAIN,
    normalisation: Mapping | None = None,
    chunks: int | None = None,
    progress: bool = False,
    title: str | None = None,
    dem_range=DEM_RANGE,
) -> xr.Dataset:
    """Build a region from real data: a DEM, continuous rasters, coded layers and labels.

    Parameters
    ----------
    dem : path, xarray.DataArray or RasterLayer
        The grid and the elevations (m): a projected CRS with metre units (a geographic
        CRS is refused with the fix), square pixels, north up.  No data: NaN, the declared
        no-data value or ``RasterLayer(..., nodata=...)``.
    continuous : mapping of str to path, DataArray or RasterLayer, optional
        More continuous layers by name (curvature, catchment area, rainfall...).  A layer
        named ``slope`` is used instead of the slope computed from the DEM (degrees, 0..90).
    categorical : mapping of str to CategoricalLayer, optional
        Categorical groups by name (``lithology``, ``land_cover``...): coded polygons or
        rasters with a mapping from their codes to classes (the INSPIRE preset, CORINE, or
        your own classes).
    labels : path, GeoDataFrame, DataArray or RasterLayer, optional
        Landslide polygons (1 inside, 0 elsewhere in the region), presence/absence points
        (with ``label_column``; 1 / 0 at their pixels, -1 elsewhere), or a label raster (1,
        0, and -1 / NaN / its no-data value as unknown; e.g. from
        :func:`~xlandslide.labels_from_points`).  Without it every label is -1 (unknown).
        Labels that give no landslide or no stable pixel among the valid pixels (all 0,
        all 1, or landslides outside the DEM) raise :class:`~xlandslide.errors.LabelError`
        in the statistics pass (not run when ``normalisation`` gives every layer's).
    label_column : str, optional
        The presence/absence column of point labels (boolean or 0/1).
    boundary : path or GeoDataFrame, optional
        Polygons of the region: outside them every layer is NaN, every code 255 and every
        label -1 (unknown); the DEM keeps its elevations (uphill points may lie there).
    reproject : bool
        Bring layers on another grid or CRS onto the DEM's: rasters with rasterio / GDAL
        (bilinear for continuous layers, nearest for codes and labels; files lazily through
        a ``WarpedVRT``, DataArrays lazily block by block with
        :func:`xlandslide.io.warp.reproject_lazy`), vectors with ``to_crs``.  Without it
        they are refused (:class:`~xlandslide.errors.GridMismatchError`) with this fix.
    terrain : sequence of {"slope", "dem"}
        DEM-derived layers placed first among the continuous layers (default both, the
        INSPIRE order); ``()`` for none.
    normalisation : mapping, optional
        ``{layer: {"mean": float, "std": float}}`` to use instead of computing them (e.g. a
        model's ``spec.normalisation``).  When every continuous layer has its statistics
        nothing is computed at all, and bad values are reported when the region is.
    chunks : int, optional
        Dask chunk side on y and x (default: the DEM's chunks, or 1024 for a file).
    progress : bool
        Show a progress bar (tqdm) over the statistics pass.
    title : str, optional
        ``attrs["title"]`` of the region.
    dem_range : (float, float) or None
        The plausible elevations of the DEM in metres (default -500..9000): values outside
        raise :class:`~xlandslide.errors.ImplausibleValuesError` (a DEM in feet or
        centimetres, an undeclared no-data value); declare the range of a DEM that truly
        lies outside, or ``None`` to skip the check.

    Returns
    -------
    xarray.Dataset
        A region of the data model (:mod:`xlandslide.region`) with the DEM's CRS and
        coordinates: lazy (dask, the DEM's chunks) unless the DEM is a numpy-backed
        DataArray and ``chunks`` is None (then computed, numpy-backed).  Valid pixels have
        a finite DEM, slope and every continuous layer, inside the boundary; elsewhere the
        layers are NaN, the codes 255 and the label -1.

    Raises
    ------
    CRSUnitsError, GridError
        A DEM in a geographic CRS or not in metres, or whose pixels (below 1 cm) or
        coordinates (degrees) say so; no CRS; irregular or non-square pixels.
    ImplausibleValuesError
        Elevations outside ``dem_range`` (when computed).
    GridMismatchError
        A layer on another grid or in another CRS (and ``reproject`` is False).
    LabelError
        Point labels whose column is not boolean / 0-1, a label raster with other values.
    NodataError
        A layer holding a no-data value (-9999, -32768...) it does not declare.
    UnmappedCodeError
        A categorical code missing from its mapping (unless ``unmapped`` says otherwise).
    LayerError, ConfigError
        A layer that cannot be read, a multi-band raster without a band, bad settings.
    RegionError
        Too few valid pixels, or a constant continuous layer (std 0).

    Examples
    --------
    From layers in memory (here those of the synthetic region, with a local relief layer):

    >>> import xlandslide
    >>> s = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> relief = s["dem"] - s["dem"].rolling(y=5, x=5, center=True).mean()
    >>> region = xlandslide.build_region(s["dem"], continuous={"relief": relief}, labels=s["label"])
    >>> region["continuous"].layer.values.tolist(), region.rio.crs == s.rio.crs
    (['slope', 'dem', 'relief'], True)
    >>> sorted(xlandslide.get_normalisation(region))  # standardised over the valid pixels
    ['dem', 'relief', 'slope']

    From your files (paths: rasters by their suffix, vectors otherwise):

    >>> region = build_region(  # doctest: +SKIP
    ...     "dem.tif",
    ...     continuous={"rainfall": "rain.tif"},
    ...     categorical={
    ...         "lithology": CategoricalLayer("geology.gpkg", column="CODE",
    ...                                       mapping=class_mapping("lithology",
    ...                                           preset="inspire", codes={12: "gneiss"})),
    ...         "land_cover": CategoricalLayer("clc.gpkg", column="CODE_18", mapping="corine"),
    ...     },
    ...     labels="inventory.gpkg",
    ...     boundary="region.gpkg",
    ... )
    """
    inputs = _Inputs.read(
        dem,
        continuous,
        categorical,
        labels,
        label_column,
        boundary,
        reproject,
        terrain,
        chunks,
        dem_range,
    )
    given, names = dict(normalisation or {}), inputs.names
    summary = {}
    if any(n not in given for n in names) or not names:
        stats, code_hists = _one_pass(inputs, progress)
        summary = _statistics(inputs, stats, code_hists, given, labels)
    norm = {
        n: {"mean": float(given[n]["mean"]), "std": float(given[n]["std"])} for n in inputs.names
    }
    build = {
        "dem": inputs.dem_layer.describe(),
        "continuous": {
            n: describe_source((continuous or {}).get(n, "the DEM")) for n in inputs.names
        },
        "categorical": {g: describe_source(categorical[g].source) for g, *_ in inputs.groups},
        "labels": None if labels is None else describe_source(labels),
        "boundary": None if boundary is None else describe_source(boundary),
        "reproject": bool(reproject),
        **summary,
    }
    if "slope" in inputs.names and "slope" not in (continuous or {}):
        build["continuous"]["slope"] = "computed from the DEM (Horn, degrees)"
    return _assemble(
        inputs, norm, {"title": title or "xlandslide region", "xlandslide_build": build}
    )


@dataclass
class _Inputs:
    """Every layer of a region on the DEM's grid, lazy: the steps of :func:`build_region`."""

    grid: xr.DataArray
    eager: bool
    dem_layer: object
    layers: list  # [(name, DataArray)]
    groups: list  # [(group, codes, ClassMapping, source codes)]
    label: object
    inside: object  # boolean (y, x) dask array, or None
    valid: object

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.layers]

    @classmethod
    def read(
        cls,
        dem,
        continuous,
        categorical,
        labels,
        label_column,
        boundary,
        reproject,
        terrain,
        chunks,
        dem_range,
    ) -> _Inputs:
        import dask.array as da

        grid, eager, dem_layer = open_dem(dem, chunks, dem_range)
        layers = continuous_layers(grid, continuous, tuple(terrain), reproject)
        groups = [
            (str(group), *categorical_codes(str(group), layer, grid, reproject))
            for group, layer in dict(categorical or {}).items()
        ]
        if not layers and not groups:
            raise ConfigError("a region needs input layers: continuous ones, terrain or groups")
        label = label_array(labels, label_column, grid, reproject)
        inside = None
        if boundary is not None:
            gdf = read_vector(boundary, "the boundary")
            gdf = to_grid_crs(gdf, grid, reproject=reproject, what="the boundary")
            inside = rasterize(gdf.geometry, grid, fill=0) == 1
        extra = () if inside is None else (inside,)
        valid = da.map_blocks(
            _valid, grid.data, *(layer.data for _, layer in layers), *extra, dtype=bool
        )
        return cls(grid, eager, dem_layer, layers, groups, label, inside, valid)


def _one_pass(inputs: _Inputs, progress: bool):
    """The statistics pass (one dask compute): its per-block sums, and per categorical
    raster the counts of its source codes."""
    import dask

    codes = [c for _, c, _, _ in inputs.groups]
    data = [inputs.grid.data, *(layer.data for _, layer in inputs.layers), inputs.label, *codes]
    if inputs.inside is not None:
        data.append(inputs.inside)
    n_classes = tuple(len(m.classes) for _, _, m, _ in inputs.groups)
    pass_ = reduce_blocks(
        _block_stats,
        data,
        3 + 2 * len(inputs.layers) + sum(n_classes) + len(n_classes),
        "xlandslide-build-stats",
        n_cont=len(inputs.layers),
        n_classes=n_classes,
        has_inside=inputs.inside is not None,
    )
    sources = [s for *_, s in inputs.groups if isinstance(s, SourceCodes)]
    counts = [
        reduce_blocks(
            code_counts,
            [s.raw, inputs.valid],
            s.keys.size + 1,
            "xlandslide-code-counts",
            keys=s.keys,
        ).sum(axis=(0, 1))
        for s in sources
    ]
    if progress:
        from tqdm.dask import TqdmCallback

        with TqdmCallback(desc="statistics and checks", leave=False):
            stats, *hists = dask.compute(pass_, *counts)
    else:
        stats, *hists = dask.compute(pass_, *counts)
    return stats, hists


def _statistics(inputs: _Inputs, stats, code_hists, given: dict, labels) -> dict:
    """The statistics and counts of the pass, checked; ``given`` receives the layers'
    normalisation.  Returns the counts of the build record."""
    n, means, stds, n_slides, n_stable, group_sums = _combine(stats, len(inputs.layers))
    if n == 0:
        raise RegionError(
            "the DEM has too few valid pixels to standardise its layers (none where the "
            "DEM, slope and every continuous layer are finite inside the boundary); check "
            "the no-data values, the extents and the boundary"
        )
    if labels is not None:
        _check_label_counts(int(n), int(n_slides), int(n_stable), labels)
    for name, mean, std in zip(inputs.names, means, stds):
        if name not in given:
            if not (math.isfinite(std) and std > 0):
                raise RegionError(
                    f"the continuous layer {name!r} is constant (or is flat) over the "
                    f"{int(n)} valid pixels (std {std:g}); it cannot be standardised: "
                    "drop it"
                )
            given[name] = {"mean": mean, "std": std}
    bounds = np.cumsum([0] + [len(m.classes) + 1 for _, _, m, _ in inputs.groups])
    hists = [group_sums[a:b] for a, b in itertools.pairwise(bounds)]
    return {
        "valid_pixels": int(n),
        "landslide_pixels": int(n_slides),
        "stable_pixels": int(n_stable),
        "unclassed_pixels": {g: int(h[-1]) for (g, *_), h in zip(inputs.groups, hists)},
        **group_summary(inputs.groups, hists, int(n), code_hists),
        "patches": patch_summary(inputs.grid.shape),
    }


def _assemble(inputs: _Inputs, norm: dict, attrs: dict) -> xr.Dataset:
    """The region of the data model from the layers and their normalisation (lazy)."""
    import dask.array as da

    valid, names = inputs.valid, inputs.names
    lab = da.where(valid, inputs.label, np.int8(LABEL_UNKNOWN)).astype(np.int8)
    layers, groups = inputs.layers, inputs.groups
    cont = da.stack([layer.data for _, layer in layers]).rechunk({0: -1}) if layers else None
    codes = da.stack([c for _, c, _, _ in groups]).rechunk({0: -1}) if groups else None
    if cont is not None:
        mean = np.array([norm[n]["mean"] for n in names], dtype=np.float32)
        std = np.array([norm[n]["std"] for n in names], dtype=np.float32)
        cont = da.map_blocks(_standardise, cont, valid, mean=mean, std=std, dtype=np.float32)
    if codes is not None:
        codes = da.where(valid, codes, np.uint8(NODATA_CODE)).astype(np.uint8)
    grid = inputs.grid
    region = region_dataset(
        dem=grid.data,
        label=lab,
        layout=FeatureLayout(tuple(names), {g: m.classes for g, _, m, _ in groups}),
        continuous=cont,
        categorical=codes,
        coords={"y": grid["y"], "x": grid["x"]},
        normalisation=norm,
        attrs=attrs,
    ).rio.write_crs(grid.rio.crs)
    return region.compute() if inputs.eager else region


def region_from_dem(dem: xr.DataArray, label: xr.DataArray | None = None) -> xr.Dataset:
    """Build a region from a real DEM (and optional labels) on the same grid.

    A thin wrapper of :func:`xlandslide.build_region`: the continuous layers are ``slope``
    (:func:`xlandslide.slope`, degrees) and ``dem``, standardised with their mean and
    standard deviation over the valid pixels (computed in one dask pass, stored in
    ``attrs["normalisation"]``); no categorical group.

    Parameters
    ----------
    dem : xarray.DataArray
        Elevations (m) on (y, x) (a ``band`` dimension of size 1 is dropped) in a projected
        CRS with metre units, square pixels; no data as NaN or as ``dem.rio.nodata``.
    label : xarray.DataArray, optional
        On the same grid: 1 landslide, 0 stable, -1 or NaN (or its declared no-data value)
        unknown; any other value is refused (:class:`~xlandslide.errors.LabelError`).
        Without it every label is -1 (unknown).

    Returns
    -------
    xarray.Dataset
        A region with the chunks of ``dem`` (numpy when ``dem`` is numpy-backed).  Valid
        pixels are those with a finite DEM *and* a finite slope (the one-pixel rim of the DEM
        and of its nodata holes is not): layers are NaN and the label -1 elsewhere; ``dem``
        keeps every finite elevation.

    Examples
    --------
    >>> import numpy as np
    >>> import xlandslide
    >>> synthetic = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> region = xlandslide.region_from_dem(synthetic["dem"], synthetic["label"])
    >>> region["continuous"].layer.values.tolist(), "categorical" in region
    (['slope', 'dem'], False)
    >>> z = region["continuous"].sel(layer="dem")  # standardised over the valid pixels
    >>> abs(float(z.mean())) < 1e-5, round(float(z.std()), 4)
    (True, 1.0)
    >>> stats = xlandslide.get_normalisation(region)["dem"]
    >>> elevation = synthetic["dem"].where(z.notnull())
    >>> np.allclose([stats["mean"], stats["std"]], [elevation.mean(), elevation.std()])
    True
    """
    if not isinstance(dem, xr.DataArray):
        raise InputTypeError(
            f"dem must be an xarray.DataArray, got {type(dem).__name__}; read a file with "
            "xlandslide.read_raster(path) or pass it to xlandslide.build_region(path)"
        )
    return build_region(dem, labels=label, title="xlandslide region built from a DEM")


__all__ = ["build_region", "region_from_dem"]
