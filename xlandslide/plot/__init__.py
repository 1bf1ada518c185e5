"""Figures (matplotlib) fit for a report: maps beside the ground truth, every model in a
window inside the region, the zoning figure, the uncertainty figure, the cross-validation
figure, ROC and reliability curves, success / prediction-rate curves, importance bars.

matplotlib is imported inside the functions; without it they raise
:class:`~xlandslide.errors.MissingOptionalDependency`.  Figures are built with the
object-oriented API (``matplotlib.figure.Figure``, no pyplot state, no ``show``), so they
work with the Agg backend on headless machines; write them with :func:`save_figure`, or
draw and write one in a call with the functions of :mod:`~xlandslide.plot.figures`.

Every map has its axes in the CRS's units with the CRS named, a title, a scale bar
(matplotlib-scalebar when installed) and a north arrow; probabilities use a 2-98 %
percentile (or log) stretch with the base rate marked on the colour bar
(:mod:`~xlandslide.plot.decor`).

- :mod:`~xlandslide.plot.maps`: :func:`plot_susceptibility`, :func:`plot_model_maps`,
  :func:`inside_window`;
- :mod:`~xlandslide.plot.zones`: :func:`plot_zoning`, :func:`plot_uncertainty`,
  :func:`plot_folds`, :func:`plot_cv`;
- :mod:`~xlandslide.plot.curves`: :func:`plot_roc`, :func:`plot_cv_roc`,
  :func:`plot_calibration` (with :func:`quantile_calibration`), :func:`plot_rate_curves`,
  :func:`plot_partial_effects`;
- :mod:`~xlandslide.plot.importance`: :func:`plot_importance`, :func:`class_presence`;
- :mod:`~xlandslide.plot.figures`: :func:`susceptibility_figure`, :func:`zoning_figure`,
  :func:`cv_figure`, :func:`uncertainty_figure`, :func:`calibration_figure`,
  :func:`importance_figure`.
"""

from __future__ import annotations

from ._base import require_matplotlib, save_figure
from .curves import (
    plot_calibration,
    plot_cv_roc,
    plot_partial_effects,
    plot_rate_curves,
    plot_roc,
    quantile_calibration,
    quantile_edges,
)
from .figures import (
    calibration_figure,
    cv_figure,
    importance_figure,
    susceptibility_figure,
    uncertainty_figure,
    zoning_figure,
)
from .importance import class_presence, plot_importance
from .maps import inside_window, plot_model_maps, plot_susceptibility
from .zones import plot_cv, plot_folds, plot_uncertainty, plot_zoning

__all__ = [
    "calibration_figure",
    "class_presence",
    "cv_figure",
    "importance_figure",
    "inside_window",
    "plot_calibration",
    "plot_cv",
    "plot_cv_roc",
    "plot_folds",
    "plot_importance",
    "plot_model_maps",
    "plot_partial_effects",
    "plot_rate_curves",
    "plot_roc",
    "plot_susceptibility",
    "plot_uncertainty",
    "plot_zoning",
    "quantile_calibration",
    "quantile_edges",
    "require_matplotlib",
    "save_figure",
    "susceptibility_figure",
    "uncertainty_figure",
    "zoning_figure",
]
