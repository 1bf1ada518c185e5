"""Hypothesis strategies shared by the tests (cf. flox's tests/strategies.py).

- :func:`chunkings`: random chunks of an axis (every chunking is a valid one);
- :func:`yx_chunks`: random (y, x) chunks of a 2-D shape;
- :func:`region_shapes`: small region shapes;
- :func:`layouts`: random feature layouts (continuous layers and categorical groups);
- :func:`regions`: small numpy-backed regions of a random (or given) layout, with no-data
  pixels drawn independently per layer (:func:`random_region` builds one from a seed).
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st


@st.composite
def chunkings(draw, n: int, max_chunks: int | None = None):
    """Random chunks of an axis of length ``n``: a tuple of positive sizes summing to ``n``."""
    limit = n - 1 if max_chunks is None else min(n - 1, max_chunks - 1)
    cuts = draw(st.sets(st.integers(1, n - 1), max_size=max(limit, 0))) if n > 1 else set()
    bounds = [0, *sorted(cuts), n]
    return tuple(hi - lo for lo, hi in itertools.pairwise(bounds))


@st.composite
def yx_chunks(draw, shape, max_chunks: int | None = 6):
    """Random dask chunks ``(y_chunks, x_chunks)`` of a (ny, nx) shape."""
    return draw(chunkings(shape[0], max_chunks)), draw(chunkings(shape[1], max_chunks))


def region_shapes(lo: int = 8, hi: int = 64):
    """Shapes (ny, nx) of small regions."""
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


@st.composite
def layouts(draw, max_continuous: int = 3, max_groups: int = 3, max_classes: int = 6):
    """Random :class:`xlandslide.FeatureLayout` (at least one layer or group)."""
    from xlandslide.catalog import FeatureLayout

    n_cont = draw(st.integers(0, max_continuous))
    n_groups = draw(st.integers(0 if n_cont else 1, max_groups))
    groups = {
        f"g{g}": tuple(f"k{k}" for k in range(draw(st.integers(1, max_classes))))
        for g in range(n_groups)
    }
    return FeatureLayout(tuple(f"c{i}" for i in range(n_cont)), groups)


def random_region(layout, shape, seed: int = 0, *, nodata_fraction: float = 0.15):
    """A valid numpy-backed region of ``layout`` and ``shape`` with random values.

    Continuous layers are standard normal with NaN, codes uniform over the group's classes
    with 255 (no data), each on its own random ``nodata_fraction`` of the pixels; the label
    is 1 / 0 / -1; 10 m pixels, EPSG:32632, normalisation ``(0, 1)`` for every layer.
    """
    import rioxarray  # noqa: F401  (registers .rio)

    from xlandslide.region import region_dataset

    rng = np.random.default_rng(seed)
    ny, nx = shape
    cont = rng.standard_normal((len(layout.continuous), ny, nx)).astype(np.float32)
    cont[rng.random(cont.shape) < nodata_fraction] = np.nan
    codes = np.zeros((len(layout.n_classes), ny, nx), dtype=np.uint8)
    for g, n in enumerate(layout.n_classes):
        codes[g] = rng.integers(0, n, shape)
    codes[rng.random(codes.shape) < nodata_fraction] = 255
    label = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=shape, p=[0.2, 0.7, 0.1])
    dem = (500.0 + 50.0 * rng.standard_normal(shape)).astype(np.float32)
    return region_dataset(
        dem=dem,
        label=label,
        layout=layout,
        continuous=cont if layout.continuous else None,
        categorical=codes if layout.groups else None,
        coords={
            "y": 5000.0 - 10.0 * (np.arange(ny) + 0.5),
            "x": 300.0 + 10.0 * (np.arange(nx) + 0.5),
        },
        normalisation={n: {"mean": 0.0, "std": 1.0} for n in layout.continuous},
    ).rio.write_crs("EPSG:32632")


@st.composite
def regions(draw, layout=None, shapes=None):
    """A small numpy-backed region (:func:`random_region`) of a random or given layout."""
    layout = draw(layouts()) if layout is None else layout
    shape = draw(region_shapes(2, 24) if shapes is None else shapes)
    return random_region(layout, shape, seed=draw(st.integers(0, 2**32 - 1)))


__all__ = ["chunkings", "layouts", "random_region", "region_shapes", "regions", "yx_chunks"]
