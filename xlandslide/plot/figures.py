"""One call per figure the command line draws: each takes what a command has (paths or
in-memory results), draws the figure and writes a PNG through
:func:`~xlandslide.plot.save_figure` (atomic; a PNG xlandslide did not write is never
replaced); each returns the path written.

- :func:`zoning_figure` (``zone``): the classed map and the landslide density per class;
- :func:`susceptibility_figure` (``predict --figure``): the map beside the truth;
- :func:`cv_figure` (``cv``): per-fold ROC curves and the fold map;
- :func:`uncertainty_figure` (``uncertainty``): mean and standard deviation;
- :func:`calibration_figure`, :func:`importance_figure` (``report``, ``importance``).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ._base import save_figure


def _label(label):
    """A label DataArray from a DataArray, a region Dataset or a region store's path."""
    if label is None or (hasattr(label, "dims") and not hasattr(label, "data_vars")):
        return label
    if not hasattr(label, "data_vars"):
        from ..io import open_region

        label = open_region(label)
    if "label" not in label:
        raise ConfigError("the region holds no 'label' variable to mark landslides")
    return label["label"]


def _map(prob):
    if hasattr(prob, "dims"):
        return prob
    from ..io import open_map

    return open_map(prob)


def susceptibility_figure(
    prob, path, *, label=None, base_rate=None, title=None, stretch="percentile", overwrite=True
) -> Path:
    """Draw :func:`~xlandslide.plot.plot_susceptibility` and write it to ``path`` (PNG).

    ``prob``: a map (DataArray) or the path of one written by :func:`xlandslide.write_map`;
    ``label``: a label DataArray, a region or a region store's path (the truth panel and
    the base rate), optional.
    """
    from .maps import plot_susceptibility

    fig = plot_susceptibility(
        _map(prob), _label(label), title=title, stretch=stretch, base_rate=base_rate
    )
    return save_figure(fig, path, overwrite=overwrite)


def zoning_figure(classes, path, *, label=None, table=None, title=None, overwrite=True) -> Path:
    """Draw :func:`~xlandslide.plot.plot_zoning` (with the density panel when ``table`` or
    ``label`` is given) and write it to ``path`` (PNG).

    ``classes``: :func:`xlandslide.zoning`'s map or the path of a class map written by
    :func:`~xlandslide.io.classed.write_classed`; ``table``: its
    :func:`xlandslide.zoning_table` (computed from ``label`` when not given); ``label``: a
    label DataArray, a region or a region store's path.
    """
    from .zones import plot_zoning

    if not hasattr(classes, "dims"):
        from ..io.classed import open_classed

        classes = open_classed(classes)
    if table is None and label is not None:
        from ..evaluate.zoning import zoning_table

        table = zoning_table(classes, _label(label))
    fig = plot_zoning(classes, table=table, title=title)
    return save_figure(fig, path, overwrite=overwrite)


def cv_figure(result, path, *, region=None, model=None, title=None, overwrite=True) -> Path:
    """Draw :func:`~xlandslide.plot.plot_cv` (per-fold ROC curves and the fold map) of a
    :func:`xlandslide.cross_validate` result and write it to ``path`` (PNG).

    ``region``: the region (Dataset or store path) the CV ran on: coordinates, CRS and the
    landslides on the fold map (without it the map is in the folds' grid, unlabelled).
    """
    from .zones import plot_cv

    if region is not None and not hasattr(region, "data_vars"):
        from ..io import open_region

        region = open_region(region)
    fig = plot_cv(result, region, model=model, title=title)
    return save_figure(fig, path, overwrite=overwrite)


def _uncertainty(u):
    """The Dataset of mean and std from a Dataset, or a map written by
    :func:`xlandslide.write_map` (a ``.zarr`` store or a ``.tif`` holding both)."""
    import xarray as xr

    from ..io import open_map

    if hasattr(u, "data_vars"):
        return u
    mean, std = open_map(u, name="mean"), open_map(u, name="std")
    return xr.Dataset({"mean": mean, "std": std}, attrs=dict(mean.attrs))


def uncertainty_figure(u, path, *, label=None, title=None, overwrite=True) -> Path:
    """Draw :func:`~xlandslide.plot.plot_uncertainty` and write it to ``path`` (PNG).

    ``u``: :func:`xlandslide.uncertainty_map`'s Dataset, or what the ``uncertainty``
    command wrote (a ``.zarr`` store with ``mean`` and ``std``, or a ``.tif`` with the
    bands ``mean`` and ``std``); ``label``: a label DataArray, region or store path (base rate).
    """
    from .zones import plot_uncertainty

    fig = plot_uncertainty(_uncertainty(u), label=_label(label), title=title)
    return save_figure(fig, path, overwrite=overwrite)


def calibration_figure(maps, label, path, *, mask=None, n_bins=10, title=None, overwrite=True):
    """Reliability diagram of ``maps`` (``name -> map or map path``) on quantile bins of
    equal counts (:func:`~xlandslide.plot.quantile_calibration`), written to ``path``."""
    from .curves import plot_calibration, quantile_calibration

    label = _label(label)
    results = {
        n: quantile_calibration(_map(m), label, mask, n_bins=n_bins) for n, m in maps.items()
    }
    fig = plot_calibration(results, title=title or f"reliability ({n_bins} bins of equal counts)")
    return save_figure(fig, path, overwrite=overwrite)


def importance_figure(table, path, *, region=None, title=None, overwrite=True) -> Path:
    """Draw :func:`~xlandslide.plot.plot_importance` of the classes present in ``region``
    (Dataset or store path; every row drawn without it) and write it to ``path``."""
    from .importance import plot_importance

    if region is not None and not hasattr(region, "data_vars"):
        from ..io import open_region

        region = open_region(region)
    fig = plot_importance(table, presence=region, title=title)
    return save_figure(fig, path, overwrite=overwrite)


__all__ = [
    "calibration_figure",
    "cv_figure",
    "importance_figure",
    "susceptibility_figure",
    "uncertainty_figure",
    "zoning_figure",
]
