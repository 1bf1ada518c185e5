"""Figures (matplotlib): maps beside the ground truth, ROC and reliability curves, zoning
maps with a classed legend, success / prediction-rate curves, importance bars, uncertainty
maps.

matplotlib is imported inside the functions; without it they raise
:class:`~xlandslide.errors.MissingOptionalDependency`.  Figures are built with the
object-oriented API (``matplotlib.figure.Figure``, no pyplot state, no ``show``), so they
work with the Agg backend on headless machines; write them with :func:`save_figure`.  Map
axes are in map units with the CRS named.

- :mod:`~xlandslide.plot.maps`: :func:`plot_susceptibility`, :func:`plot_model_maps`,
  :func:`plot_zoning`, :func:`plot_uncertainty`;
- :mod:`~xlandslide.plot.curves`: :func:`plot_roc`, :func:`plot_cv_roc`,
  :func:`plot_calibration`, :func:`plot_rate_curves`, :func:`plot_importance`.
"""

from __future__ import annotations

from ._base import save_figure
from .curves import (
    plot_calibration,
    plot_cv_roc,
    plot_importance,
    plot_partial_effects,
    plot_rate_curves,
    plot_roc,
)
from .maps import plot_model_maps, plot_susceptibility, plot_uncertainty, plot_zoning

__all__ = [
    "plot_calibration",
    "plot_cv_roc",
    "plot_importance",
    "plot_model_maps",
    "plot_partial_effects",
    "plot_rate_curves",
    "plot_roc",
    "plot_susceptibility",
    "plot_uncertainty",
    "plot_zoning",
    "save_figure",
]
