"""The synthetic world's block generator (numba): every value a function of the seed and the
global pixel position.

:func:`synthetic_block` has no input raster (no halo on its input): it evaluates the terrain
analytically on its block extended by ``relief_radius + 1`` pixels, so every output pixel is
a pure function of ``(seed, global row, global column)`` and the result does not depend on
the chunking.  The rule itself is documented in :mod:`xlandslide.synthetic.world`; the lazy
wrapper is :func:`xlandslide.synthetic.synthetic_region`.
"""

from __future__ import annotations

import math

import numpy as np

from ..kernels._jit import jit
from ..kernels.terrain import horn_slope
from .noise import _mix64, fbm, hash2, octave_table, ridged, seed_hash, smoothstep, unit

_njit = jit  # the package compile policy (kernels._jit)

# salts of the independent random fields
_S_CONT, _S_MTN, _S_PLAIN, _S_COAST, _S_COAST2 = 1, 2, 3, 4, 5
_S_LITH_WX, _S_LITH_WY, _S_LC_WX, _S_LC_WY, _S_SOIL = 6, 7, 8, 9, 10
_S_LITH, _S_LC, _S_FLIP, _S_HIGH, _S_TRIGGER = 11, 12, 13, 14, 15

#: Positions of the rule's scalar constants in the ``rule`` array of :func:`synthetic_block`.
RULE_FIELDS = (
    "slope_mean",
    "slope_std",
    "dem_mean",
    "dem_std",
    "lith_cell",
    "lc_cell",
    "unknown_age_fraction",
    "soil_min",
    "soil_max",
    "gamma",
    "gamma_w",
    "relief_saturation",
    "fs_critical",
    "flip_loss",
    "flip_gain",
    "trigger_cell",
    "trigger_fraction",
    "transition_min",
    "relief_dry",
)
(
    _SLOPE_MEAN,
    _SLOPE_STD,
    _DEM_MEAN,
    _DEM_STD,
    _LITH_CELL,
    _LC_CELL,
    _UNKNOWN_AGE,
    _SOIL_MIN,
    _SOIL_MAX,
    _GAMMA,
    _GAMMA_W,
    _RELIEF_SAT,
    _FS_CRIT,
    _FLIP_LOSS,
    _FLIP_GAIN,
    _TRIGGER_CELL,
    _TRIGGER_FRACTION,
    _TRANSITION_MIN,
    _RELIEF_DRY,
) = range(19)

#: Layers of the packed output of :func:`synthetic_block`, in order.
PACKED_LAYERS = (
    "slope",  # standardised
    "dem_z",  # standardised
    "lithology",  # class codes (255 outside)
    "land_cover",
    "rock_family",
    "rock_age",
    "dem",  # metres
    "label",  # 1, 0, -1
)
_P_SLOPE, _P_DEMZ, _P_LITH, _P_LC, _P_FAM, _P_AGE, _P_DEM, _P_LABEL = range(8)
_NODATA = 255.0


@_njit
def mountainness(x, y, geo, cont):
    """Weight of the mountain relief: 1 in the north, 0 in the southern plain.

    ``geo = (height, transition, uplift)``: the region's height (m), the width (m) of the
    north-to-south transition, centred on the region and made ragged by 20 km noise, and the
    regional uplift (m) of the mountains.
    """
    t = 0.5 + (y - 0.5 * geo[0]) / geo[1] + 0.15 * fbm(x, y, 20000.0, 0.5, cont)
    return 1.0 - smoothstep(0.0, 1.0, t)


@_njit
def elevation(x, y, geo, cont, mtn, plain, high):
    """Elevation (m) at (x, y) metres east / south of the region's north-west corner."""
    south = min(max(y / geo[0], 0.0), 1.0)
    base = 20.0 + 100.0 * (1.0 - south) + 15.0 * fbm(x, y, 3000.0, 0.5, plain)
    m = mountainness(x, y, geo, cont)
    if m <= 0.0:
        return base
    relief = 1500.0 * ridged(x, y, 6400.0, 0.5, mtn)
    relief += geo[2] * (0.5 + 0.5 * fbm(x, y, 40000.0, 0.5, high))
    return base + m * relief


@_njit
def _voronoi(x, y, cell, key):
    """Hash of the jittered-lattice Voronoi cell holding (x, y) and its seed point."""
    cx = math.floor(x / cell)
    cy = math.floor(y / cell)
    best = np.inf
    best_h = np.uint64(0)
    best_x = 0.0
    best_y = 0.0
    for dy in range(-1, 2):
        for dx in range(-1, 2):
            ix = np.int64(cx) + dx
            iy = np.int64(cy) + dy
            h = hash2(key, iy, ix)
            px = (ix + 0.1 + 0.8 * unit(h)) * cell
            py = (iy + 0.1 + 0.8 * unit(_mix64(h ^ np.uint64(0x5851F42D4C957F2D)))) * cell
            d = (px - x) * (px - x) + (py - y) * (py - y)
            if d < best:
                best = d
                best_h = h
                best_x = px
                best_y = py
    return best_h, best_x, best_y


@_njit
def _draw(u, cumulative):
    """Index of the class whose cumulative-probability bin holds ``u``."""
    n = cumulative.shape[0]
    for k in range(n):
        if u < cumulative[k]:
            return k
    return n - 1


# the world's fractal fields, in the order of :func:`_fields`
_F_CONT, _F_MTN, _F_HIGH, _F_PLAIN, _F_COAST, _F_COAST2 = 0, 1, 2, 3, 4, 5
_F_LITH_WX, _F_LITH_WY, _F_LC_WX, _F_LC_WY, _F_SOIL = 6, 7, 8, 9, 10
# its Voronoi and flip keys, in the order of :func:`_fields`
_K_LITH, _K_LC, _K_FLIP, _K_TRIGGER = 0, 1, 2, 3


@_njit
def _fields(seed):
    """The world's random fields of ``seed``: fractal-noise tables and hash keys."""
    fields = (
        octave_table(seed, _S_CONT, 3),
        octave_table(seed, _S_MTN, 7),
        octave_table(seed, _S_HIGH, 2),
        octave_table(seed, _S_PLAIN, 3),
        octave_table(seed, _S_COAST, 2),
        octave_table(seed, _S_COAST2, 2),
        octave_table(seed, _S_LITH_WX, 2),
        octave_table(seed, _S_LITH_WY, 2),
        octave_table(seed, _S_LC_WX, 2),
        octave_table(seed, _S_LC_WY, 2),
        octave_table(seed, _S_SOIL, 2),
    )
    keys = (
        seed_hash(seed, 64 * _S_LITH),
        seed_hash(seed, 64 * _S_LC),
        seed_hash(seed, 64 * _S_FLIP),
        seed_hash(seed, 64 * _S_TRIGGER),
    )
    return fields, keys


@_njit
def _terrain(r, c, ny, nx, pixel, geo, fields):
    """Elevations (float32, as stored) of the ``ny x nx`` pixels from global ``(r, c)``."""
    cont, mtn = fields[_F_CONT], fields[_F_MTN]
    plain, high = fields[_F_PLAIN], fields[_F_HIGH]
    z = np.empty((ny, nx), dtype=np.float32)
    for i in range(ny):
        gi = r + i
        y = gi * pixel
        for j in range(nx):
            z[i, j] = elevation((c + j) * pixel, y, geo, cont, mtn, plain, high)
    return z


@_njit
def _row_max(z, nr, nc, radius):
    """Per row of ``z`` (less its first), the max over the ``2 radius + 1`` columns of each
    core column's window: the first pass of the upslope relief's square window."""
    rowmax = np.empty((nr + 2 * radius, nc), dtype=np.float32)
    for i in range(nr + 2 * radius):
        for j in range(nc):
            m = z[i + 1, j + 1]
            for k in range(j + 1, j + 2 * radius + 2):
                m = max(m, z[i + 1, k])
            rowmax[i, j] = m
    return rowmax


@_njit
def _is_sea(x, y, gj, ncols, fields):
    """Outside the region: a ragged 'sea' along the east edge (|fbm| <= 1 bounds its width)."""
    east = ncols - 1 - gj
    sea = 0.04 * ncols
    return east < 2.5 * sea and east < sea * (
        1.0
        + 0.8 * fbm(0.0, y, 4000.0, 0.5, fields[_F_COAST])
        + 0.5 * fbm(x, y, 600.0, 0.5, fields[_F_COAST2])
    )


@_njit
def _cell_class(x, y, warp, period, wx, wy, cell, key, geo, cont, cum):
    """The class of the domain-warped Voronoi cell at (x, y) (lowland or mountain table)
    and the cell's hash."""
    u = x + warp * fbm(x, y, period, 0.5, wx)
    v = y + warp * fbm(x, y, period, 0.5, wy)
    hc, px, py = _voronoi(u, v, cell, key)
    m = mountainness(px, py, geo, cont)
    table = 1 if unit(_mix64(hc ^ np.uint64(1))) < m else 0
    return _draw(unit(_mix64(hc ^ np.uint64(2))), cum[table]), hc


@_njit
def _geology(x, y, geo, fields, keys, rule, unknown_age, lith_cum, lith_age_lo, lith_age_hi):
    """Lithology, rock age and land cover codes at (x, y)."""
    cont = fields[_F_CONT]
    lith, hc = _cell_class(
        x,
        y,
        800.0,
        3000.0,
        fields[_F_LITH_WX],
        fields[_F_LITH_WY],
        rule[_LITH_CELL],
        keys[_K_LITH],
        geo,
        cont,
        lith_cum,
    )
    if unit(_mix64(hc ^ np.uint64(3))) < rule[_UNKNOWN_AGE]:
        age = unknown_age
    else:
        span = lith_age_hi[lith] - lith_age_lo[lith] + 1
        age = lith_age_lo[lith] + min(np.int64(unit(_mix64(hc ^ np.uint64(4))) * span), span - 1)
    return lith, age


@_njit
def _slides(x, y, gi, gj, theta, relief, lith, lc, fields, keys, rule, lith_t, lc_t):
    """Whether the pixel slides: the infinite-slope factor of safety with upslope wetness,
    the hidden trigger cell, then the label noise."""
    lith_cohesion, lith_tan_phi = lith_t
    lc_root, lc_never = lc_t
    depth = rule[_SOIL_MIN] + (rule[_SOIL_MAX] - rule[_SOIL_MIN]) * (
        0.5 + 0.5 * fbm(x, y, 400.0, 0.5, fields[_F_SOIL])
    )
    wet = (relief - rule[_RELIEF_DRY]) / (rule[_RELIEF_SAT] - rule[_RELIEF_DRY])
    wet = min(max(wet, 0.0), 1.0)
    t = theta * (math.pi / 180.0)
    slides = False
    if theta > 0.5 and lc_never[lc] == 0:
        sn = math.sin(t)
        cs = math.cos(t)
        fs = (lith_cohesion[lith] + lc_root[lc]) / (rule[_GAMMA] * depth * sn * cs) + (
            1.0 - wet * rule[_GAMMA_W] / rule[_GAMMA]
        ) * lith_tan_phi[lith] * cs / sn
        if fs < rule[_FS_CRIT]:
            # unstable: slides if its trigger cell (hidden) fired
            hc, _, _ = _voronoi(x, y, rule[_TRIGGER_CELL], keys[_K_TRIGGER])
            slides = unit(_mix64(hc ^ np.uint64(5))) < rule[_TRIGGER_FRACTION]
    u = unit(hash2(keys[_K_FLIP], gi, gj))
    if slides:
        return u >= rule[_FLIP_LOSS]
    return u < rule[_FLIP_GAIN]


@_njit
def _write_sea(out, i, j):
    out[_P_SLOPE, i, j] = np.nan
    out[_P_DEMZ, i, j] = np.nan
    for f in range(_P_LITH, _P_AGE + 1):
        out[f, i, j] = _NODATA
    out[_P_DEM, i, j] = np.nan
    out[_P_LABEL, i, j] = -1.0


@_njit
def synthetic_block(
    seed,
    r0,
    c0,
    nr,
    nc,
    nrows,
    ncols,
    pixel,
    radius,
    unknown_age,
    rule,
    lith_cum,
    lith_family,
    lith_age_lo,
    lith_age_hi,
    lith_cohesion,
    lith_tan_phi,
    lc_cum,
    lc_root,
    lc_never,
):
    """Generate block ``[r0, r0 + nr) x [c0, c0 + nc)`` of a synthetic region of ``nrows x ncols``.

    Returns a float32 array ``(8, nr, nc)`` of the layers :data:`PACKED_LAYERS`: standardised
    slope and DEM, the codes of lithology, land cover, rock family and rock age (255 outside
    the region), the DEM in metres (NaN outside) and the label (1, 0, -1 outside).
    ``unknown_age`` is the code of the unknown rock age.  ``radius`` is the
    half-width (pixels) of the square window of the upslope relief; the terrain is evaluated
    on the block extended by ``radius + 1`` pixels (the reach of the relief and of the Horn
    slope), which makes every value independent of the chunking.  ``lith_cum`` and ``lc_cum``
    are cumulative class probabilities of shape (2, n_class): row 0 for the lowlands, row 1
    for the mountains.  The rule itself is documented in :mod:`xlandslide.synthetic.world`.
    """
    fields, keys = _fields(seed)
    # the mountain-to-plain transition spans 70 % of the region's height but at least
    # TRANSITION_MIN metres; the regional uplift is 1800 m, less in regions under 60 km tall
    height = max(nrows - 1, 1) * pixel
    geo = (height, max(0.7 * height, rule[_TRANSITION_MIN]), 1800.0 * min(1.0, height / 60000.0))
    # 1. terrain on the block extended by h = radius + 1 pixels; 2. Horn slope of the core
    h = radius + 1
    z = _terrain(r0 - h, c0 - h, nr + 2 * h, nc + 2 * h, pixel, geo, fields)
    slope = horn_slope(z[h - 1 : h + nr + 1, h - 1 : h + nc + 1], pixel)
    # 3. upslope relief: max elevation in the (2 radius + 1)^2 window minus the elevation
    rowmax = _row_max(z, nr, nc, radius)
    lith_t = (lith_cohesion, lith_tan_phi)
    lc_t = (lc_root, lc_never)
    out = np.zeros((len(PACKED_LAYERS), nr, nc), dtype=np.float32)
    for i in range(nr):
        gi = r0 + i
        y = gi * pixel
        for j in range(nc):
            gj = c0 + j
            x = gj * pixel
            if _is_sea(x, y, gj, ncols, fields):
                _write_sea(out, i, j)
                continue
            elev = np.float64(z[h + i, h + j])
            top = rowmax[i, j]
            for k in range(i + 1, i + 2 * radius + 1):
                top = max(top, rowmax[k, j])
            theta = np.float64(slope[i + 1, j + 1])
            lith, age = _geology(
                x, y, geo, fields, keys, rule, unknown_age, lith_cum, lith_age_lo, lith_age_hi
            )
            lc, _ = _cell_class(
                x,
                y,
                200.0,
                800.0,
                fields[_F_LC_WX],
                fields[_F_LC_WY],
                rule[_LC_CELL],
                keys[_K_LC],
                geo,
                fields[_F_CONT],
                lc_cum,
            )
            relief = np.float64(top) - elev
            slides = _slides(
                x, y, gi, gj, theta, relief, lith, lc, fields, keys, rule, lith_t, lc_t
            )
            out[_P_SLOPE, i, j] = (theta - rule[_SLOPE_MEAN]) / rule[_SLOPE_STD]
            out[_P_DEMZ, i, j] = (elev - rule[_DEM_MEAN]) / rule[_DEM_STD]
            out[_P_LITH, i, j] = lith
            out[_P_LC, i, j] = lc
            out[_P_FAM, i, j] = lith_family[lith]
            out[_P_AGE, i, j] = age
            out[_P_DEM, i, j] = elev
            out[_P_LABEL, i, j] = 1.0 if slides else 0.0
    return out
