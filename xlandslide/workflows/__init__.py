"""What chains stages: the workflows built from the package's single-stage functions.

Each stage (:func:`xlandslide.fit`, :func:`xlandslide.predict`, :func:`xlandslide.evaluate`,
...) does one thing on what it is given; the workflows here run several of them in order:

- :mod:`~xlandslide.workflows.cv`: :func:`~xlandslide.workflows.cv.cross_validate` (every
  model on every spatial fold, scored on held-out pixels; mean ± sd; out-of-fold maps),
  :func:`~xlandslide.workflows.cv.compare` (spatial against random CV);
- :mod:`~xlandslide.workflows.report`: the paper's Table 2 and Figures 4-6 in one call
  (:func:`~xlandslide.workflows.report.paper_report`);
- :mod:`~xlandslide.workflows.demo`: the whole pipeline on a built-in synthetic region (the
  ``xlandslide demo`` command).

The modules import the stages they chain when called, so importing them stays light.
"""

from __future__ import annotations

from .cv import CVResult, compare, cross_validate, hanley_mcneil_se
from .demo import DemoConfig, run_demo
from .report import PAPER_MODELS, paper_report

__all__ = [
    "PAPER_MODELS",
    "CVResult",
    "DemoConfig",
    "compare",
    "cross_validate",
    "hanley_mcneil_se",
    "paper_report",
    "run_demo",
]
