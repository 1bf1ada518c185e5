"""Classed rasters (susceptibility zones) as GeoTIFF with a colour table and class names.

:func:`write_classed` writes a uint8 class map (:func:`xlandslide.zoning`) block by block
to a Cloud Optimized GeoTIFF (:mod:`xlandslide.io.cog`) with

- a colour table (green for very low ... red for very high; 255 = no data, transparent):
  QGIS and GDAL draw the classes in their colours without any styling;
- the class names as GDAL category names (in the PAM sidecar ``NAME.tif.aux.xml``, where
  GDAL keeps them for GeoTIFF) and as band metadata (``CLASS_NAMES``, ``BREAKS``, JSON);
- a QGIS style sidecar ``NAME.qml`` (a paletted renderer with one labelled entry per
  class), which QGIS loads as the layer's default style: the legend lists the classes by
  name.

Each file is written atomically (:func:`xlandslide.io.atomic.atomic_output`).  The GeoTIFF
carries the tag ``XLANDSLIDE_CLASSED`` and the sidecars a ``written by xlandslide`` comment:
``overwrite`` replaces only such files (the GDAL sidecar also when the GeoTIFF beside it is
one), never a user's raster or style.
"""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import ConfigError, ShapeError
from .atomic import SOFTWARE, atomic_output, check_outputs, replaceable_marked
from .cog import write_cog
from .integrity import foreign_output

#: GeoTIFF tag of the class maps xlandslide writes (its value: the package version).
CLASSED_TAG = "XLANDSLIDE_CLASSED"
#: The comment that marks the sidecars xlandslide writes.
MARK = f"<!-- written by {SOFTWARE} -->"

#: Colours of five classes, very low to very high (ColorBrewer RdYlGn, reversed).
FIVE_COLOURS = ("#1a9641", "#a6d96a", "#ffffbf", "#fdae61", "#d7191c")
NODATA = 255


def class_colours(n: int) -> list[tuple[int, int, int]]:
    """``n`` RGB colours from green (lowest class) to red (highest), as 0-255 ints."""
    anchors = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in FIVE_COLOURS])
    if n == len(anchors):
        return [tuple(int(v) for v in a) for a in anchors]
    t = np.linspace(0, len(anchors) - 1, n)
    out = []
    for x in t:
        i = min(int(x), len(anchors) - 2)
        f = x - i
        out.append(tuple(int(np.rint(v)) for v in (1 - f) * anchors[i] + f * anchors[i + 1]))
    return out


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _qml(names, colours) -> str:
    entries = "\n".join(
        f'        <paletteEntry value="{i}" color="{_hex(c)}" alpha="255" label={quoteattr(name)}/>'
        for i, (name, c) in enumerate(zip(names, colours))
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
{MARK}
<qgis version="3.28.0" styleCategories="Symbology">
  <pipe>
    <provider>
      <resampling enabled="false" zoomedInResamplingMethod="nearestNeighbour"
        zoomedOutResamplingMethod="nearestNeighbour" maxOversampling="2"/>
    </provider>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <colorPalette>
{entries}
      </colorPalette>
      <colorramp type="randomcolors" name="[source]"/>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def _aux_xml(names, description: str) -> str:
    cats = "\n".join(f"      <Category>{_escape(n)}</Category>" for n in names)
    return f"""{MARK}
<PAMDataset>
  <PAMRasterBand band="1">
    <Description>{_escape(description)}</Description>
    <CategoryNames>
{cats}
    </CategoryNames>
  </PAMRasterBand>
</PAMDataset>
"""


def _escape(s: str) -> str:
    from xml.sax.saxutils import escape

    return escape(str(s))


def _classed_tag(path: Path) -> str | None:
    """The package version that wrote the class map ``path`` (``"legacy"``: one written
    before the tag, recognised by its band tags), or None."""
    import rasterio

    try:
        with rasterio.open(path) as src:
            tag = src.tags().get(CLASSED_TAG)
            band = src.tags(1) if src.count else {}
    except (rasterio.errors.RasterioError, OSError):
        return None
    if tag is None and {"CLASS_NAMES", "BREAKS", "METHOD"} <= set(band):
        return "legacy"
    return tag


def _replaceable_classed(path: Path) -> None:
    if not path.is_file() or path.is_symlink():
        raise foreign_output(path, "not a GeoTIFF")
    if _classed_tag(path) is None:
        raise foreign_output(path, f"not a class map: no {CLASSED_TAG} tag")


def _sidecar_of(tif: Path):
    """A check for a sidecar of ``tif``: ours if marked, or if ``tif`` is a class map of
    ours (GDAL may rewrite its sidecar without the mark; earlier versions wrote none)."""

    def check(path: Path) -> None:
        if tif.is_file() and _classed_tag(tif) is not None:
            return
        replaceable_marked(path)

    return check


def _sidecars(path: Path) -> dict[Path, object]:
    return {Path(f"{path}.aux.xml"): _sidecar_of(path), path.with_suffix(".qml"): _sidecar_of(path)}


def check_classed_output(path, *, overwrite: bool = False, sidecars: bool = True) -> Path:
    """Refuse, before any work, what :func:`write_classed` would refuse: a path that is not
    a ``.tif``, lies in a store, exists (without ``overwrite``) or is not a class map (and
    sidecars) that xlandslide wrote."""
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise ConfigError(f"a classed raster is written as GeoTIFF: use a .tif path, not {path}")
    targets = {path: _replaceable_classed, **(_sidecars(path) if sidecars else {})}
    check_outputs(targets, overwrite=overwrite)
    return path


def write_classed(
    classes: xr.DataArray,
    path,
    *,
    class_names=None,
    colours=None,
    overwrite: bool = False,
    sidecars: bool = True,
) -> Path:
    """Write a class map to a GeoTIFF with a colour table and class names, streaming.

    The GeoTIFF is a Cloud Optimized GeoTIFF (:mod:`xlandslide.io.cog`: 256 x 256 tiles,
    DEFLATE with the horizontal predictor, overviews by the most frequent class).

    Parameters
    ----------
    classes : DataArray (y, x) uint8
        Class codes ``0 .. n - 1`` and 255 for no data (:func:`xlandslide.zoning`), with a
        CRS (rioxarray) and regular ``y``/``x`` coordinates.  Dask-backed maps are written
        block by block.
    path : path
        ``.tif`` / ``.tiff``.
    class_names : sequence of str, optional
        Default ``classes.attrs["class_names"]``.
    colours : sequence of RGB tuples or "#rrggbb", optional
        One per class (default green to red, :func:`class_colours`).
    overwrite : bool
        Replace an existing class map (and its sidecars) that xlandslide wrote; anything
        else raises :class:`~xlandslide.errors.ForeignOutputError`.
    sidecars : bool
        Also write ``NAME.tif.aux.xml`` (GDAL category names) and ``NAME.qml`` (QGIS
        style).

    Returns
    -------
    Path

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import xlandslide
    >>> dem = xlandslide.synthetic_region(shape=(96, 96), seed=0)["dem"]
    >>> zones = xlandslide.zoning((dem - dem.min()) / (dem.max() - dem.min()), "quantile", 5)
    >>> path = xlandslide.write_classed(zones, Path(tempfile.mkdtemp()) / "zones.tif")
    >>> sorted(p.name for p in path.parent.iterdir())  # the COG and its sidecars
    ['zones.qml', 'zones.tif', 'zones.tif.aux.xml']
    >>> back = xlandslide.open_classed(path)
    >>> back.attrs["class_names"], bool((back == zones).all())
    (['very low', 'low', 'moderate', 'high', 'very high'], True)
    """
    import rioxarray  # noqa: F401  (registers .rio)

    path = check_classed_output(path, overwrite=overwrite, sidecars=sidecars)
    if not isinstance(classes, xr.DataArray) or set(classes.dims) != {"y", "x"}:
        raise ShapeError("classes must be a (y, x) DataArray (xlandslide.zoning)")
    classes = classes.transpose("y", "x")
    names = list(class_names if class_names is not None else classes.attrs.get("class_names", ()))
    rgb = _checked_colours(names, colours)
    if classes.rio.crs is None:
        raise ConfigError("the class map has no CRS; write one with rio.write_crs(...)")
    description = str(classes.attrs.get("long_name", "landslide susceptibility class"))
    with atomic_output(path, overwrite=overwrite, replaceable=_replaceable_classed) as tmp:
        _write_classed_cog(tmp, classes, names, rgb, description)
    if sidecars:
        texts = (_aux_xml(names, description), _qml(names, rgb))
        for (side, check), text in zip(_sidecars(path).items(), texts):
            with atomic_output(side, overwrite=overwrite, replaceable=check) as tmp:
                Path(tmp).write_text(text)
    return path


def _checked_colours(names, colours) -> list[tuple[int, ...]]:
    """The RGB colours of the classes ``names`` (default green to red), checked."""
    if not names:
        raise ConfigError("no class names: pass class_names=[...] or a map from xlandslide.zoning")
    if len(names) >= NODATA:
        raise ConfigError(f"at most {NODATA - 1} classes fit a uint8 map, got {len(names)}")
    if colours is None:
        return class_colours(len(names))
    rgb = [
        tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) if isinstance(c, str) else tuple(c)
        for c in colours
    ]
    if len(rgb) != len(names):
        raise ConfigError(f"{len(rgb)} colours for {len(names)} classes")
    return rgb


def _write_classed_cog(tmp, classes: xr.DataArray, names, rgb, description: str) -> None:
    """The class map as a COG (:mod:`xlandslide.io.cog`): its colour table, the names and
    breaks in the band's tags, overviews by the most frequent class (``mode``)."""
    import dask.array as da

    data = classes.data if classes.chunks is not None else da.from_array(classes.values, 1024)
    cmap = {i: (*c, 255) for i, c in enumerate(rgb)}
    cmap[NODATA] = (0, 0, 0, 0)
    write_cog(
        tmp,
        [data],
        crs=classes.rio.crs,
        transform=classes.rio.transform(),
        dtype="uint8",
        nodata=NODATA,
        resampling="MODE",
        tags={CLASSED_TAG: __version__},
        band_tags=[
            {
                "CLASS_NAMES": json.dumps(names),
                "BREAKS": json.dumps(list(classes.attrs.get("breaks", []))),
                "METHOD": str(classes.attrs.get("method", "")),
            }
        ],
        descriptions=[description],
        colormap=cmap,
    )


def open_classed(path) -> xr.DataArray:
    """Read a class map written by :func:`write_classed` (lazily), names in ``attrs``.

    ``attrs`` hold ``class_names``, ``colours`` (``#rrggbb``, one per class) and the
    ``breaks`` of the zoning; no data is code 255.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import xlandslide
    >>> dem = xlandslide.synthetic_region(shape=(96, 96), seed=0)["dem"]
    >>> zones = xlandslide.zoning(dem / float(dem.max()), breaks=[0.5])  # 2 classes
    >>> path = xlandslide.write_classed(
    ...     zones, Path(tempfile.mkdtemp()) / "zones.tif", class_names=["lower", "upper"],
    ...     colours=["#00ff00", "#ff0000"],
    ... )
    >>> back = xlandslide.open_classed(path)  # lazy
    >>> back.dtype.name, back.attrs["class_names"], back.attrs["colours"]
    ('uint8', ['lower', 'upper'], ['#00ff00', '#ff0000'])
    >>> int((back == 255).sum()) == int(dem.isnull().sum())  # no data outside the region
    True
    """
    import rasterio
    import rioxarray

    with rasterio.open(path) as src:
        tags = src.tags(1)
        cmap = src.colormap(1)
    import warnings

    with warnings.catch_warnings():
        # rioxarray 0.19 hands xarray its block-aligned chunks as a tuple (deprecated there)
        warnings.filterwarnings("ignore", message="Supplying chunks as dimension-order tuples")
        da_ = rioxarray.open_rasterio(path, chunks=True).squeeze("band", drop=True)
    names = json.loads(tags.get("CLASS_NAMES", "[]"))
    da_.attrs.update(
        class_names=names,
        breaks=json.loads(tags.get("BREAKS", "[]")),
        colours=[_hex(cmap[i][:3]) for i in range(len(names))],
    )
    return da_.rename("susceptibility_class")


__all__ = ["check_classed_output", "class_colours", "open_classed", "write_classed"]
