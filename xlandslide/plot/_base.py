"""Shared pieces of the figures: the matplotlib import, one-panel axes, lazy downsampling,
map extents, the CRS's name, and writing a figure."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import MissingOptionalDependency


def _figure_class():
    try:
        import matplotlib  # noqa: F401  (the package first: a stub of it fails here)
        from matplotlib.figure import Figure
    except ImportError as err:
        raise MissingOptionalDependency(
            "plotting needs matplotlib, which is not installed: "
            "pip install 'xlandslide[plot]' (or matplotlib)"
        ) from err
    return Figure


def require_matplotlib() -> None:
    """Raise :class:`~xlandslide.errors.MissingOptionalDependency` now when matplotlib is
    missing: a workflow that ends with figures calls it before its work, not after."""
    _figure_class()


def _single_axes(ax):
    """``(figure, axes)``: a new 5.5 x 5 inch one-panel figure, or the given axes' own."""
    Figure = _figure_class()
    if ax is None:
        fig = Figure(figsize=(5.5, 5), layout="constrained")
        return fig, fig.subplots()
    return ax.figure, ax


def _downsample(a: xr.DataArray, factor: int, how: str) -> np.ndarray:
    """``a`` reduced by ``factor`` on y and x without loading it whole.

    dask-backed: a lazy ``coarsen`` (mean for probabilities, max for labels) then compute;
    otherwise every ``factor``-th pixel (a strided read of a lazily indexed store).
    """
    if factor <= 1:
        return np.asarray(a.values)
    if a.chunks is not None:
        c = a.coarsen(y=factor, x=factor, boundary="pad")
        return np.asarray((c.mean() if how == "mean" else c.max()).values)
    return np.asarray(a.isel(y=slice(None, None, factor), x=slice(None, None, factor)).values)


def _extent(a: xr.DataArray):
    if "x" not in a.coords or "y" not in a.coords or a.sizes["x"] < 2 or a.sizes["y"] < 2:
        return None
    x = a["x"].values
    y = a["y"].values
    dx = (x[-1] - x[0]) / (x.size - 1)
    dy = (y[-1] - y[0]) / (y.size - 1)
    return (x[0] - dx / 2, x[-1] + dx / 2, y[-1] + dy / 2, y[0] - dy / 2)


def crs_name(a) -> str | None:
    """``"EPSG:32717"`` (or the CRS's name) of a map, or None."""
    try:
        import rioxarray  # noqa: F401

        crs = a.rio.crs
    except Exception:  # no grid mapping
        return None
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def reduction_factor(size: int, max_pixels: int) -> int:
    """The integer factor that brings ``size`` pixels to at most ``max_pixels``."""
    return max(1, math.ceil(math.sqrt(size / max(int(max_pixels), 1))))


def save_figure(fig, path, *, dpi: int = 150, overwrite: bool = True) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, parents created); returns the path.

    The file is written atomically (:func:`xlandslide.io.atomic.atomic_output`); a PNG
    carries the ``Software`` text ``xlandslide VERSION``, and an existing PNG is replaced
    only if it carries it too (:class:`~xlandslide.errors.ForeignOutputError` otherwise);
    ``overwrite=False`` refuses any existing file.
    """
    from ..io.atomic import SOFTWARE, atomic_output, replaceable_figure

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    png = fmt == "png"
    metadata = {"Software": f"{SOFTWARE} {__version__}"} if png else None
    check = replaceable_figure if png else None
    with atomic_output(path, overwrite=overwrite, replaceable=check) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt, metadata=metadata)
    return path


__all__ = ["crs_name", "reduction_factor", "save_figure"]
