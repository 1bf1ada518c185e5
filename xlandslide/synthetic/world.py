"""Deterministic synthetic regions of any size, generated chunk by chunk.

:func:`synthetic_region` returns a lazy, dask-backed region (the package's data model, with
the paper's INSPIRE layout: standardised ``continuous`` slope and DEM, ``categorical`` codes of
lithology, land cover, rock family and rock age, ``dem``, ``label`` and a projected CRS) —
94 features in the one-hot view — whose every value is a pure
function of ``(seed, global row, global column)`` and of the region's shape (which places the
large-scale layout).  Noise comes from a counter-based integer hash (the splitmix64 finaliser)
of the seed and lattice coordinates, so a block is generated without its neighbours, with its
halo evaluated analytically, and the result is identical for any chunking.  One
``map_blocks`` produces all layers of a block and the variables are slices of it: a
Veneto-size region (19500 x 21005, 6,391 blocks of 256 x 256) is built in about 0.1 s and
nothing is computed until asked.  Generation runs at about 0.75 Mpixel/s per thread
(the numba kernel compiles once, in about 6 s, and is cached on disk).

The world
---------
Coordinates are metres from the region's north-west corner (``x`` east, ``y`` south); the
region is ``H`` metres tall; ``N(period, octaves)`` is fractal gradient noise in [-1, 1].

- **Terrain** (``dem``, m): ``base + M * (1500 R + U (0.5 + 0.5 N(40 km, 2)))``.

  - ``R``: ridged fractal noise in [0, 1] (7 octaves from a 6.4 km period down to 100 m,
    gain 0.5, crests slightly rounded): mountains with sharp ridges and V-shaped valleys,
    median slope about 24 degrees where ``M = 1``.
  - ``M = 1 - smoothstep(0, 1, 0.5 + (y - H/2) / W + 0.15 N(20 km, 3))``: 1 in the north,
    0 in the south; the transition is ``W = max(0.7 H, TRANSITION_MIN)`` wide, so every
    region holds mountains (north), foothills and a plain (south) whatever its size.
  - ``U = 1800 min(1, H / 60 km)``: a regional uplift (elevations reach about 2,600 m in a
    Veneto-size region, 1,600 m in a 10 km one).
  - ``base = 20 + 100 (1 - y/H) + 15 N(3 km, 3)``: a gently undulating plain.
- **Region boundary**: pixels fewer than ``0.04 ncols (1 + 0.8 N(4 km, 2)(y) + 0.5 N(600 m,
  2))`` columns from the east edge are outside the region (a ragged "sea", about 4 % of the
  pixels): continuous layers and dem are NaN there, codes 255 and the label -1 (unknown).
- **Lithology** (44 classes) and **rock age** (38): domain-warped Voronoi cells of
  ``LITHOLOGY_CELL`` (warp 800 m) from a hashed jittered lattice.  A cell draws its
  lithology from the mountain table of :data:`LITHOLOGY_TABLE` with probability ``M`` at the
  cell's seed point, else from the lowland table (unconsolidated deposits dominate the plain;
  carbonates, crystalline rocks and flysch the mountains); its rock age uniformly in the
  lithology's age range (``unknown_age`` in ``UNKNOWN_AGE_FRACTION`` of the cells); its rock
  family from the lithology (gneiss -> metamorphic, granite -> plutonic, anthropogenic
  material -> unknown...).
- **Land cover** (5 classes): domain-warped Voronoi cells of ``LAND_COVER_CELL`` (warp
  200 m), drawn likewise from the lowland or mountain weights of :data:`LAND_COVER_TABLE`.
- Every valid pixel has one class (code) per group.
- **slope**: Horn's slope (degrees) of the stored float32 DEM with the kernel of
  :func:`xlandslide.terrain.slope`, evaluated on the terrain beyond the block and beyond the
  region: it equals ``terrain.slope(ds.dem)`` wherever that is finite, and is finite on every
  valid pixel (also next to the boundary).
- ``slope`` and ``dem`` are standardised with the fixed constants :data:`NORMALISATION`
  (typical statistics of regions from 1024 x 1024 to Veneto size), stored in
  ``attrs["normalisation"]``: computed statistics would break laziness and chunk invariance.

The label rule
--------------
An infinite-slope factor of safety whose pore pressure depends on the terrain *upslope*::

    FS = (c' + (gamma - m gamma_w) z cos^2(theta) tan(phi')) / (gamma z sin(theta) cos(theta))

- ``theta``: the slope (degrees, before standardisation);
- ``c' = c_soil(lithology) + c_root(land cover)`` (kPa) and ``phi'`` the friction angle of
  the lithology (:data:`LITHOLOGY_TABLE`: 23–41 degrees, 0.5–8 kPa;
  :data:`LAND_COVER_TABLE`: forests add 5 kPa of roots, farmland 1 kPa);
- ``z``: soil depth (m), a hidden smooth field ``SOIL_MIN + (SOIL_MAX - SOIL_MIN)
  (0.5 + 0.5 N(400 m, 2))`` that no feature carries;
- ``m = clip((relief - RELIEF_DRY) / (RELIEF_SATURATION - RELIEF_DRY), 0, 1)``: wetness from
  the **upslope relief**, the highest elevation within a square window of
  +-``RELIEF_RADIUS`` metres minus the pixel's elevation (dry near crests, saturated below a
  long slope), computed on the block's halo so that it is chunk-invariant;
- ``gamma = GAMMA`` (soil), ``gamma_w = GAMMA_W`` (water), in kN/m^3.

A pixel is *unstable* when ``FS < FS_CRITICAL`` (never on water bodies nor below 0.5
degrees); an unstable pixel is a landslide when its hidden *trigger cell* fired: Voronoi
cells of ``TRIGGER_CELL`` metres (the size of a landslide body), each firing with
probability ``TRIGGER_FRACTION``, which makes landslides spatially coherent blobs.  Label
noise: a hashed-random ``FLIP_LOSS`` fraction of the landslide pixels is turned stable and a
``FLIP_GAIN`` fraction of the stable pixels is turned into landslides.  ``TRIGGER_FRACTION``
is the calibration constant: 0.8–2.2 % of the valid pixels slide in 600 x 700 regions
(16 seeds, mean 1.6 %), 1.0–1.9 % in 1024 x 1024 ones, about 1.2 % in 2048 x 2048, 4096 x
4096 and Veneto-size ones.

No feature is computed from the label, from ``FS`` or from the hidden fields: slope, dem and
the class codes are *inputs* of the rule.  A per-pixel model sees slope, lithology and land
cover; the wetness needs the terrain upslope — the elevation of the highest pixels within a
few hundred metres — which is what locally aligned (uphill) features provide.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import xarray as xr

from .. import catalog
from ..catalog import INSPIRE
from ..errors import ConfigError
from ..region import region_dataset
from .tables import (
    FLIP_GAIN,
    FLIP_LOSS,
    FS_CRITICAL,
    GAMMA,
    GAMMA_W,
    LAND_COVER_CELL,
    LAND_COVER_TABLE,
    LITHOLOGY_CELL,
    LITHOLOGY_TABLE,
    NORMALISATION,
    RELIEF_DRY,
    RELIEF_RADIUS,
    RELIEF_SATURATION,
    SOIL_MAX,
    SOIL_MIN,
    TRANSITION_MIN,
    TRIGGER_CELL,
    TRIGGER_FRACTION,
    UNKNOWN_AGE_FRACTION,
)

_DEFAULT_CHUNKS = 256


def _cumulative(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype="float64")
    cum = np.cumsum(w / w.sum(axis=-1, keepdims=True), axis=-1)
    cum[..., -1] = 1.0
    return cum


@functools.lru_cache(maxsize=1)
def _tables():
    """Per-class arrays handed to the numba kernel (checked against the catalog)."""
    from .block import RULE_FIELDS

    lith = catalog.INSPIRE_GROUPS["lithology"]
    lc = catalog.INSPIRE_GROUPS["land_cover"]
    fam = catalog.INSPIRE_GROUPS["rock_family"]
    age = catalog.INSPIRE_GROUPS["rock_age"]
    if tuple(LITHOLOGY_TABLE) != lith or tuple(LAND_COVER_TABLE) != lc:  # pragma: no cover
        raise RuntimeError("synthetic tables are out of step with xlandslide.catalog")
    rows = [LITHOLOGY_TABLE[n] for n in lith]
    lith_family = np.array([fam.index(r[0]) for r in rows], dtype=np.int64)
    lith_age_lo = np.array([age.index(r[1][0]) for r in rows], dtype=np.int64)
    lith_age_hi = np.array([age.index(r[1][1]) for r in rows], dtype=np.int64)
    lith_cohesion = np.array([r[2] for r in rows], dtype=np.float64)
    lith_tan_phi = np.tan(np.radians([r[3] for r in rows]))
    lith_cum = _cumulative(np.array([[r[4] for r in rows], [r[5] for r in rows]]))
    lc_rows = [LAND_COVER_TABLE[n] for n in lc]
    lc_root = np.array([r[0] for r in lc_rows], dtype=np.float64)
    lc_never = np.array([int(r[1]) for r in lc_rows], dtype=np.int64)
    lc_cum = _cumulative(np.array([[r[2] for r in lc_rows], [r[3] for r in lc_rows]]))

    rule = {
        "slope_mean": NORMALISATION["slope"]["mean"],
        "slope_std": NORMALISATION["slope"]["std"],
        "dem_mean": NORMALISATION["dem"]["mean"],
        "dem_std": NORMALISATION["dem"]["std"],
        "lith_cell": LITHOLOGY_CELL,
        "lc_cell": LAND_COVER_CELL,
        "unknown_age_fraction": UNKNOWN_AGE_FRACTION,
        "soil_min": SOIL_MIN,
        "soil_max": SOIL_MAX,
        "gamma": GAMMA,
        "gamma_w": GAMMA_W,
        "relief_saturation": RELIEF_SATURATION,
        "fs_critical": FS_CRITICAL,
        "flip_loss": FLIP_LOSS,
        "flip_gain": FLIP_GAIN,
        "trigger_cell": TRIGGER_CELL,
        "trigger_fraction": TRIGGER_FRACTION,
        "transition_min": TRANSITION_MIN,
        "relief_dry": RELIEF_DRY,
    }
    return dict(
        unknown_age=age.index("unknown_age"),
        rule=np.array([rule[k] for k in RULE_FIELDS], dtype=np.float64),
        lith_cum=lith_cum,
        lith_family=lith_family,
        lith_age_lo=lith_age_lo,
        lith_age_hi=lith_age_hi,
        lith_cohesion=lith_cohesion,
        lith_tan_phi=lith_tan_phi,
        lc_cum=lc_cum,
        lc_root=lc_root,
        lc_never=lc_never,
    )


def relief_radius_pixels(pixel_size: float) -> int:
    """Half-width in pixels of the upslope-relief window: ``round(RELIEF_RADIUS / pixel)``."""
    return max(1, round(RELIEF_RADIUS / float(pixel_size)))


def generate_block(
    seed: int,
    rows: tuple[int, int],
    cols: tuple[int, int],
    shape: tuple[int, int],
    pixel_size: float = 10.0,
) -> np.ndarray:
    """Generate one block as a packed float32 array ``(8, ny, nx)`` (eager, numpy).

    The layers are :data:`xlandslide.synthetic.block.PACKED_LAYERS` — standardised slope and
    DEM, the codes of the four INSPIRE groups (255 outside), the DEM in metres and the label
    (-1, 0, 1) — of the pixels ``rows[0]:rows[1]`` x ``cols[0]:cols[1]`` of a ``shape``
    region.  This is what
    :func:`synthetic_region` calls per block; it is public for tests and benchmarks.
    """
    from .block import synthetic_block

    (r0, r1), (c0, c1) = rows, cols
    return synthetic_block(
        int(seed),
        int(r0),
        int(c0),
        int(r1 - r0),
        int(c1 - c0),
        int(shape[0]),
        int(shape[1]),
        float(pixel_size),
        relief_radius_pixels(pixel_size),
        **_tables(),
    )


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _check_args(shape, seed, pixel_size):
    try:
        ok = len(shape) == 2 and all(_is_number(n) and int(n) == n and n >= 3 for n in shape)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ConfigError(f"shape must be two integers >= 3 (rows, columns), got {shape!r}")
    if not (_is_number(seed) and math.isfinite(seed) and int(seed) == seed):
        raise ConfigError(f"seed must be an integer in [0, 2**62), got {seed!r}")
    if not 0 <= int(seed) < 2**62:
        raise ConfigError(f"seed must be an integer in [0, 2**62), got {seed!r}")
    if not (_is_number(pixel_size) and math.isfinite(pixel_size) and pixel_size > 0):
        raise ConfigError(f"pixel_size must be a positive number of metres, got {pixel_size!r}")


def synthetic_region(
    shape: tuple[int, int] = (1024, 1024),
    seed: int = 0,
    chunks=_DEFAULT_CHUNKS,
    *,
    pixel_size: float = 10.0,
    crs="EPSG:32632",
    origin: tuple[float, float] = (700000.0, 5100000.0),
) -> xr.Dataset:
    """A lazy, deterministic synthetic region (see the module docstring for the world's rule).

    Parameters
    ----------
    shape : (int, int)
        Rows and columns (``y``, ``x``).
    seed : int
        Seed of every random field; the same seed gives the same values for any chunking.
    chunks : int, tuple, tuple of tuples or dict
        Dask chunks on (y, x), as accepted by ``dask.array.core.normalize_chunks`` (or a
        dict with ``"y"`` / ``"x"`` keys); ``continuous`` and ``categorical`` hold all their
        layers in every chunk.  The values do not depend on the chunks.
    pixel_size : float
        Square pixel size in metres (the terrain is defined in metres, so a coarser pixel
        samples the same world).
    crs : CRS-like
        Projected CRS written with rioxarray (default UTM 32N, as Veneto).
    origin : (float, float)
        Map coordinates (x, y) of the north-west corner of the north-west pixel.

    Returns
    -------
    xarray.Dataset
        ``continuous`` (layer, y, x) float32, ``categorical`` (group, y, x) uint8, ``dem``
        (y, x) float32 metres, ``label`` (y, x) int8, coords ``y`` (descending), ``x``,
        ``layer``, ``group`` and ``spatial_ref``; attrs
        ``normalisation``, ``title``, ``description``, ``seed``.  Dask-backed; nothing is
        computed.

    Examples
    --------
    >>> import xlandslide as xl
    >>> ds = xl.synthetic_region((512, 512), seed=1, chunks=128)
    >>> ds.categorical.shape, ds.landslide.features().shape
    ((4, 512, 512), (94, 512, 512))
    """
    import dask.array as da
    import rioxarray  # noqa: F401  (registers ds.rio)
    from dask.base import tokenize

    _check_args(shape, seed, pixel_size)
    ny, nx = int(shape[0]), int(shape[1])
    seed = int(seed)
    pixel = float(pixel_size)
    if isinstance(chunks, dict):
        chunks = (chunks.get("y", _DEFAULT_CHUNKS), chunks.get("x", _DEFAULT_CHUNKS))
    yx_chunks = da.core.normalize_chunks(chunks, (ny, nx), dtype=np.float32)

    def block(block_info=None):
        (_, _), rows, cols = block_info[None]["array-location"]
        return generate_block(seed, rows, cols, (ny, nx), pixel)

    name = "synthetic-region-" + tokenize(seed, ny, nx, pixel, yx_chunks)
    packed = da.map_blocks(
        block,
        chunks=((8,), *yx_chunks),
        dtype=np.float32,
        meta=np.empty((0, 0, 0), dtype=np.float32),
        name=name,
    )
    x0, y0 = float(origin[0]), float(origin[1])
    coords = {
        "y": y0 - (np.arange(ny, dtype=np.float64) + 0.5) * pixel,
        "x": x0 + (np.arange(nx, dtype=np.float64) + 0.5) * pixel,
    }
    ds = region_dataset(
        dem=packed[6],
        label=packed[7].astype(np.int8),
        layout=INSPIRE,
        continuous=packed[0:2],
        categorical=packed[2:6].astype(np.uint8),
        coords=coords,
        normalisation=NORMALISATION,
        attrs={
            "title": f"xlandslide synthetic region (seed {seed})",
            "description": _DESCRIPTION,
            "seed": seed,
        },
    )
    ds["y"].attrs.update(units="m", long_name="y coordinate of projection")
    ds["x"].attrs.update(units="m", long_name="x coordinate of projection")
    return ds.rio.write_crs(crs)


_DESCRIPTION = (
    "Synthetic region of xlandslide.synthetic: ridged-noise mountains in the north, a plain in "
    "the south, a ragged sea (unknown pixels) along the east edge; Voronoi lithology, rock "
    "age/family and land cover. Label: unstable where the infinite-slope factor of safety "
    "FS = (c' + (gamma - m gamma_w) z cos^2 theta tan phi') / (gamma z sin theta cos theta) "
    f"< {FS_CRITICAL}, with cohesion and friction from lithology and land cover, a hidden soil "
    f"depth ({SOIL_MIN}-{SOIL_MAX} m) and wetness m rising from 0 to 1 as the upslope relief "
    f"(highest elevation within +-{RELIEF_RADIUS:g} m minus the elevation) goes from "
    f"{RELIEF_DRY:g} to {RELIEF_SATURATION:g} m; an unstable pixel slides when its hidden "
    f"{TRIGGER_CELL:g} m trigger cell fired (probability {TRIGGER_FRACTION}); label noise: "
    f"{FLIP_LOSS} of landslides turned stable, {FLIP_GAIN} of stable pixels turned landslide."
)
