"""Raster layers onto a region's grid: open, pick a band, mask no-data, check or reproject.

- :class:`RasterLayer`: a raster source (a path or a DataArray), its band and its no-data
  value, as :func:`xlandslide.build_region` takes it;
- :func:`read_raster`: a (y, x) DataArray, lazily from a file, declared no-data as NaN;
- :func:`align_raster`: a raster on the grid of another one — refused with the fix when the
  grids differ, reprojected (rasterio / GDAL, never by hand) only when asked;
- :func:`check_projected`: a DEM grid must be in a projected CRS with metre units;
- :func:`check_nodata`: refuses values that are no-data by convention (-9999, -32768...)
  when the layer does not declare them.

:func:`~xlandslide.io.build.region_from_dem` (slope and DEM as a region) lives beside
:func:`~xlandslide.io.build.build_region`, which it wraps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import (
    CRSUnitsError,
    GridError,
    GridMismatchError,
    LayerError,
    LayerNotFoundError,
    NodataError,
)
from .guard import guarded_raster
from .warp import reproject_lazy

#: File suffixes read as rasters (anything else is read as a vector layer by geopandas).
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".asc", ".nc", ".jp2", ".bil", ".hgt")

#: Values that mark no data by convention.  A layer holding one of them without declaring
#: it as its no-data value is refused (:func:`check_nodata`): taken as data, a -9999 in a
#: DEM standardises the whole layer with a standard deviation ten times too large.
NODATA_SENTINELS = (
    -9999.0,
    -99999.0,
    -999999.0,
    -32768.0,
    -32767.0,
    float(np.finfo(np.float32).min),
    float(np.finfo(np.float32).max),
    float(np.finfo(np.float64).min),
    float(np.finfo(np.float64).max),
)

#: Default dask chunk side (pixels) of layers opened from files.
READ_CHUNK = 1024


@dataclass(frozen=True)
class RasterLayer:
    """A raster source: a file path (GeoTIFF or any GDAL raster) or an xarray.DataArray.

    Parameters
    ----------
    source : str, path-like or xarray.DataArray
        The raster.  A file is opened lazily (rioxarray, dask chunks).
    band : int or str, optional
        The band of a multi-band source: its 1-based number, or its name (the band's
        ``long_name`` / description).  Required when the source has more than one band.
    nodata : float, optional
        The source's no-data value, when the file does not declare it (a declared one, and
        NaN, are always no data).

    Examples
    --------
    >>> RasterLayer("terrain.tif", band="elev")  # doctest: +ELLIPSIS
    RasterLayer(source='terrain.tif', band='elev', nodata=None)
    """

    source: object
    band: int | str | None = None
    nodata: float | None = None

    def describe(self) -> str:
        """A short text naming the source (for messages and provenance)."""
        if isinstance(self.source, xr.DataArray):
            text = f"<DataArray {self.source.name or ''}>".replace(" >", ">")
        else:
            text = str(self.source)
        return text if self.band is None else f"{text} (band {self.band!r})"


def as_raster_layer(source, what: str) -> RasterLayer:
    """``source`` (a :class:`RasterLayer`, a path or a DataArray) as a :class:`RasterLayer`."""
    if isinstance(source, RasterLayer):
        return source
    if isinstance(source, (str, os.PathLike, xr.DataArray)):
        return RasterLayer(source)
    raise LayerError(
        f"{what}: expected a raster (a file path, an xarray.DataArray or "
        f"xlandslide.RasterLayer), got {type(source).__name__}"
    )


def is_raster_path(source) -> bool:
    """Whether a path names a raster file (by its suffix, :data:`RASTER_SUFFIXES`)."""
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in (
        RASTER_SUFFIXES
    )


# ---------------------------------------------------------------------------------------------
# Open
# ---------------------------------------------------------------------------------------------
def _band_names(da: xr.DataArray) -> list[str]:
    names = da.attrs.get("long_name")
    if isinstance(names, str):
        names = [names]
    return [str(n) for n in names] if names is not None else []


def _select_band(da: xr.DataArray, band, what: str) -> xr.DataArray:
    if "band" not in da.dims:
        if band not in (None, 1):
            raise LayerError(f"{what} has no band dimension; band {band!r} does not exist")
        return da
    n = da.sizes["band"]
    names = _band_names(da)
    listing = ", ".join(
        f"{i + 1}" + (f" ({names[i]!r})" if i < len(names) else "") for i in range(n)
    )
    if band is None:
        if n != 1:
            raise LayerError(
                f"{what} has {n} bands: {listing}; choose one with band=NUMBER or band=NAME "
                f"(xlandslide.RasterLayer(path, band=...), or band = ... in the config)"
            )
        index = 0
    elif isinstance(band, str):
        if band not in names:
            raise LayerError(f"{what} has no band named {band!r}; its bands: {listing}")
        index = names.index(band)
    elif isinstance(band, (int, np.integer)) and not isinstance(band, bool) and 1 <= band <= n:
        index = int(band) - 1
    else:
        raise LayerError(
            f"{what}: band {band!r} is not a band number (1..{n}) or name; its bands: {listing}"
        )
    out = da.isel(band=index, drop=True)
    if names:
        out.attrs["long_name"] = names[index]
    return out


def _mask_nodata(da: xr.DataArray, nodata, dtype) -> xr.DataArray:
    """``da`` as ``dtype`` floats, NaN where it holds its declared or given no-data value."""
    declared = da.rio.nodata if da.rio.encoded_nodata is None else None
    out = da.astype(dtype) if da.dtype != dtype else da
    for value in (declared, nodata):
        if value is not None and not np.isnan(value):
            out = out.where(da != value)
    return out.astype(dtype)


def read_raster(
    source, *, band=None, nodata=None, chunks=None, dtype="float32", what: str | None = None
) -> xr.DataArray:
    """A (y, x) raster with its CRS, no-data as NaN; lazy (dask) when read from a file.

    Parameters
    ----------
    source : str, path-like, xarray.DataArray or RasterLayer
        A raster file (opened with ``rioxarray.open_rasterio``) or a DataArray on (y, x)
        (or (band, y, x)).  A :class:`RasterLayer` brings its own ``band`` and ``nodata``.
    band : int or str, optional
        The band of a multi-band source (1-based number or name).
    nodata : float, optional
        A no-data value the source does not declare.
    chunks : int, optional
        Dask chunk side for a file (default 1024); a DataArray keeps its own chunks.
    dtype : str
        Float dtype of the result (``float64`` keeps integer codes up to 2**53 exact).
    what : str, optional
        How to name the layer in messages.

    Returns
    -------
    xarray.DataArray
        dims ``(y, x)``, float ``dtype``, NaN where the source has no data (NaN, its
        declared no-data value, or ``nodata``).

    Raises
    ------
    LayerNotFoundError
        The file does not exist.
    LayerError
        A multi-band source without ``band``, an unknown band, dims other than (y, x).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> folder = Path(tempfile.mkdtemp())
    >>> region["dem"].rio.to_raster(folder / "dem.tif")
    >>> dem = xlandslide.read_raster(folder / "dem.tif")  # lazy
    >>> dem.dims, dem.shape, dem.chunks is not None, dem.rio.crs == region.rio.crs
    (('y', 'x'), (96, 96), True, True)
    >>> np.array_equal(dem.values, region["dem"].values, equal_nan=True)
    True

    A declared no-data value becomes NaN (here the codes' 255, "no class"):

    >>> codes = region["categorical"].sel(group="lithology")
    >>> codes.rio.write_nodata(255).rio.to_raster(folder / "lithology.tif")
    >>> lith = xlandslide.read_raster(folder / "lithology.tif")
    >>> lith.dtype.name, int(lith.isnull().sum()) == int((codes == 255).sum())
    ('float32', True)
    """

    if isinstance(source, RasterLayer):
        band = source.band if band is None else band
        nodata = source.nodata if nodata is None else nodata
        source = source.source
    what = what or f"raster {source if not isinstance(source, xr.DataArray) else ''}".strip()
    if isinstance(source, xr.DataArray):
        da = source
    elif isinstance(source, (str, os.PathLike)):
        if not Path(source).exists():
            raise LayerNotFoundError(f"{what}: no file at {str(source)!r}; check the path")
        try:
            da = guarded_raster(str(source), int(chunks or READ_CHUNK), what)
        except Exception as err:  # rasterio.errors.RasterioIOError and friends
            raise LayerError(
                f"{what}: {str(source)!r} is not a readable raster ({err}); "
                f"rasters are read by suffix: {', '.join(RASTER_SUFFIXES)}"
            ) from None
    else:
        raise LayerError(
            f"{what}: expected a raster path or an xarray.DataArray, got {type(source).__name__}"
        )
    da = _select_band(da, band, what)
    if da.dims != ("y", "x"):
        raise LayerError(
            f"{what} has dims {da.dims}, expected ('y', 'x'); rename and transpose it "
            "(da.rename({'lat': 'y', 'lon': 'x'}).transpose('y', 'x'))"
        )
    return _mask_nodata(da, nodata, np.dtype(dtype))


# ---------------------------------------------------------------------------------------------
# The grid
# ---------------------------------------------------------------------------------------------
def check_projected(da: xr.DataArray, what: str = "the DEM") -> None:
    """Refuse a grid without a CRS, in a geographic CRS, or whose units are not metres."""
    crs = da.rio.crs
    if crs is None:
        raise GridError(
            f"{what} has no CRS; open it with rioxarray.open_rasterio or write one with "
            "dem.rio.write_crs('EPSG:....')"
        )
    if crs.is_geographic:
        raise CRSUnitsError(
            f"{what} is in a geographic CRS ({crs.to_string()}, degrees): slope and distances "
            "need metres.  Reproject it to a projected CRS first, e.g. a UTM zone: "
            "dem.rio.reproject(dem.rio.estimate_utm_crs()) (or gdalwarp -t_srs EPSG:326..)"
        )
    units = (crs.linear_units or "").lower()
    if units not in ("metre", "meter", "metres", "meters", "m"):
        raise CRSUnitsError(
            f"{what} is in {crs.to_string()} whose units are {crs.linear_units!r}, not metres; "
            "reproject it to a metric CRS (dem.rio.reproject(dem.rio.estimate_utm_crs()))"
        )


def _grid_difference(da: xr.DataArray, like: xr.DataArray) -> str | None:
    """Why ``da`` is not on the grid of ``like`` (None when it is)."""
    if da.rio.crs != like.rio.crs:
        return f"its CRS is {da.rio.crs} and the DEM's {like.rio.crs}"
    if da.shape != like.shape:
        return f"its shape is {da.shape} and the DEM's {like.shape}"
    pixel = abs(float(like.rio.transform().a))
    for dim in ("y", "x"):
        shift = np.max(np.abs(da[dim].values - like[dim].values))
        if shift > 1e-6 * pixel:
            return f"its {dim!r} coordinates are shifted by up to {shift:g} from the DEM's"
    return None


def align_raster(
    source,
    like: xr.DataArray,
    *,
    kind: str,
    reproject: bool = False,
    what: str = "a layer",
    dtype="float32",
) -> xr.DataArray:
    """A raster on the grid of ``like`` (same shape, coordinates, CRS and dask chunks).

    Parameters
    ----------
    source : str, path-like, xarray.DataArray or RasterLayer
        The raster (see :func:`read_raster`).
    like : xarray.DataArray
        The target grid (the DEM), with a CRS; dask-backed or not.
    kind : {"continuous", "categorical", "label"}
        Sets the resampling of a reprojection: bilinear for continuous layers, nearest for
        categorical codes and labels.
    reproject : bool
        Reproject a raster on another grid (another CRS, pixel size, extent or a shift)
        onto ``like``'s, lazily, chunk by chunk: a file through a GDAL ``WarpedVRT``, a
        DataArray (numpy- or dask-backed) with :func:`xlandslide.io.warp.reproject_lazy`
        (each block reads only its source window).  Without it such a raster is refused
        with :class:`GridMismatchError`.
    what : str
        How to name the layer in messages.
    dtype : str
        Float dtype of the result.

    Returns
    -------
    xarray.DataArray
        (y, x) float ``dtype``, no-data as NaN (also where a reprojected source has no
        pixel), ``like``'s coordinates and chunks.
    """
    from rasterio.enums import Resampling

    layer = as_raster_layer(source, what)
    resampling = {
        "continuous": Resampling.bilinear,
        "categorical": Resampling.nearest,
        "label": Resampling.nearest,
    }[kind]
    chunks = like.chunks
    side = chunks[0][0] if chunks else None
    da = read_raster(layer, chunks=side, dtype=dtype, what=what)
    if da.rio.crs is None:
        raise GridMismatchError(
            f"{what} has no CRS; write the CRS it is in with da.rio.write_crs('EPSG:....')"
        )
    why = _grid_difference(da, like)
    if why is not None:
        if not reproject:
            raise GridMismatchError(
                f"{what} is not on the DEM's grid: {why}.  Reproject it onto the DEM's grid "
                "explicitly: build_region(..., reproject=True) (bilinear for continuous "
                "layers, nearest for codes and labels), reproject = true in the config, or "
                "da.rio.reproject_match(dem) yourself"
            )
        if isinstance(layer.source, xr.DataArray):
            da = reproject_lazy(da, like, resampling, dtype=dtype)
        else:
            da = _warped(layer, like, resampling, dtype, what)
    da = da.assign_coords(y=like["y"].values, x=like["x"].values)
    if chunks:
        da = da.chunk({"y": chunks[0], "x": chunks[1]})
    return da.astype(dtype)


def _warped(layer: RasterLayer, like, resampling, dtype, what):
    """A file warped lazily onto ``like``'s grid through a GDAL WarpedVRT."""
    import rasterio
    import rioxarray
    from rasterio.vrt import WarpedVRT

    side = like.chunks[0][0] if like.chunks else READ_CHUNK
    with rasterio.open(layer.source) as src:
        src_nodata = layer.nodata if layer.nodata is not None else src.nodata
        vrt = WarpedVRT(
            src,
            crs=like.rio.crs,
            transform=like.rio.transform(),
            width=like.sizes["x"],
            height=like.sizes["y"],
            resampling=resampling,
            dtype=dtype,
            src_nodata=src_nodata,
            nodata=np.nan,
        )
        da = rioxarray.open_rasterio(vrt, chunks={"band": 1, "y": side, "x": side}, masked=True)
        descriptions = src.descriptions
    if any(descriptions):
        da.attrs["long_name"] = tuple(d or "" for d in descriptions)
    return _select_band(da, layer.band, what).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------
def block_location(block_info) -> str:
    if not block_info:
        return ""
    (r0, r1), (c0, c1) = block_info[0]["array-location"][-2:]
    return f" (first seen in rows {r0}:{r1}, columns {c0}:{c1})"


def check_nodata_block(block, *, what: str, block_info=None):
    """``block`` unchanged, or :class:`NodataError` if it holds an undeclared no-data value."""
    finite = np.isfinite(block)
    if not finite.all() and np.isinf(block).any():
        raise NodataError(
            f"{what} holds infinite values{block_location(block_info)}; mask them as no data "
            "(da.where(np.isfinite(da))) before building the region"
        )
    values = block[finite]
    if values.size and (values.min() <= -9999 or values.max() >= 3e38):
        top = float(np.finfo(block.dtype).max)
        for sentinel in (s for s in NODATA_SENTINELS if abs(s) <= top):
            n = int(np.count_nonzero(values == np.asarray(sentinel, dtype=block.dtype)))
            if n:
                where = block_location(block_info)
                raise NodataError(
                    f"{what} holds {sentinel:g} in {n} pixels{where}: a no-data "
                    "value used as data (the statistics and the standardised layer would "
                    f"include it).  Declare it: RasterLayer(path, nodata={sentinel:g}) (nodata "
                    f"= {sentinel:g} in the config), or da.rio.write_nodata({sentinel:g}) on a "
                    "DataArray"
                )
    return block


def check_nodata(da: xr.DataArray, what: str) -> xr.DataArray:
    """``da`` with :func:`check_nodata_block` run on every block when its values are computed
    (lazily for dask; at once for numpy)."""
    if da.chunks is None:
        check_nodata_block(da.values, what=what)
        return da
    data = da.data.map_blocks(check_nodata_block, what=what, dtype=da.dtype, meta=da.data._meta)
    return da.copy(data=data)


__all__ = [
    "NODATA_SENTINELS",
    "RASTER_SUFFIXES",
    "RasterLayer",
    "align_raster",
    "check_nodata",
    "check_projected",
    "read_raster",
]
