"""The synthetic world: deterministic regions of any size, generated chunk by chunk.

See :mod:`xlandslide.synthetic.world` for the terrain, the geology and the factor-of-safety
rule of the labels, and :mod:`xlandslide.synthetic.tables` for their constants.
"""

from __future__ import annotations

from .world import generate_block, relief_radius_pixels, synthetic_region

__all__ = ["generate_block", "relief_radius_pixels", "synthetic_region"]
