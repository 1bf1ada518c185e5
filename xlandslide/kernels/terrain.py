"""Numba kernels for terrain: Horn slope, counter-based noise and the synthetic block generator.

Everything here is pure numba on numpy arrays — no xarray, dask or torch.  The public, lazy
wrappers are :func:`xlandslide.terrain.slope` and :func:`xlandslide.synthetic.synthetic_region`.

Stencil reach (halo), stated next to each kernel:

- :func:`horn_slope`: 1 pixel (3 x 3 window); edge pixels of its input are NaN.
- :func:`synthetic_block`: none on its input (it has no input raster); it evaluates the terrain
  analytically on its block extended by ``relief_radius + 1`` pixels, so every output pixel is a
  pure function of ``(seed, global row, global column)`` and the result does not depend on
  chunking.

Noise is counter-based: a splitmix64-style integer hash of ``(seed, lattice y, lattice x,
salt)`` gives every lattice point its random numbers, so any pixel can be evaluated without
evaluating its neighbours first.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit

_njit = jit  # the package compile policy (kernels._jit)

_RAD2DEG = 180.0 / math.pi


# --------------------------------------------------------------------------------------------
# Horn slope (reach: 1 pixel)
# --------------------------------------------------------------------------------------------
@_njit
def horn_slope(z, pixel):
    """Slope in degrees by Horn's method (3 x 3 window, the definition of ``xrspatial.slope``).

    ``z`` is a 2-D float array of elevations; ``pixel`` the (square) pixel size in the units of
    ``z``.  Returns float32 of the same shape; the outermost rows and columns, and any pixel
    that is NaN or has a NaN among its 8 neighbours, are NaN.  Computed in float64.
    """
    ny, nx = z.shape
    out = np.full((ny, nx), np.nan, dtype=np.float32)
    k = 1.0 / (8.0 * pixel)
    for i in range(1, ny - 1):
        for j in range(1, nx - 1):
            if math.isnan(z[i, j]):
                continue  # no elevation, no slope (xrspatial ignores the centre)
            a = np.float64(z[i + 1, j - 1])
            b = np.float64(z[i + 1, j])
            c = np.float64(z[i + 1, j + 1])
            d = np.float64(z[i, j - 1])
            f = np.float64(z[i, j + 1])
            g = np.float64(z[i - 1, j - 1])
            h = np.float64(z[i - 1, j])
            q = np.float64(z[i - 1, j + 1])
            dzdx = ((c + 2.0 * f + q) - (a + 2.0 * d + g)) * k
            dzdy = ((g + 2.0 * h + q) - (a + 2.0 * b + c)) * k
            out[i, j] = math.atan(math.sqrt(dzdx * dzdx + dzdy * dzdy)) * _RAD2DEG
    return out


# --------------------------------------------------------------------------------------------
# Counter-based hashing and gradient noise
# --------------------------------------------------------------------------------------------
_OFFSET = 1 << 40  # lattice coordinates may be negative (halo); shift them before the cast


@_njit
def _mix64(h):
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@_njit
def seed_hash(seed, salt):
    """Hash of a (seed, salt) pair: the key of one independent random field."""
    return _mix64(np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt))


@_njit
def hash2(key, a, b):
    """64-bit hash of the lattice point (a, b) (int64 above ``-2**40``) in the field ``key``."""
    h = _mix64(key ^ (np.uint64(a + _OFFSET) * np.uint64(0xC2B2AE3D27D4EB4F)))
    return _mix64(h ^ (np.uint64(b + _OFFSET) * np.uint64(0x165667B19E3779F9)))


@_njit
def unit(h):
    """Uniform float in [0, 1) from the top 53 bits of a 64-bit hash."""
    return np.float64(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


# 16 unit gradient directions of the gradient noise
_GX = np.array([math.cos(2.0 * math.pi * (k + 0.5) / 16.0) for k in range(16)])
_GY = np.array([math.sin(2.0 * math.pi * (k + 0.5) / 16.0) for k in range(16)])


@_njit
def _fade(t):
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


@_njit
def _corner(key, ix, iy, fx, fy):
    k = np.int64(hash2(key, iy, ix) & np.uint64(15))
    return _GX[k] * fx + _GY[k] * fy


@_njit
def perlin(x, y, key):
    """2-D gradient noise at (x, y) in lattice units, about [-1, 1]; 0 on lattice points."""
    x0 = math.floor(x)
    y0 = math.floor(y)
    fx = x - x0
    fy = y - y0
    ix = np.int64(x0)
    iy = np.int64(y0)
    n00 = _corner(key, ix, iy, fx, fy)
    n10 = _corner(key, ix + 1, iy, fx - 1.0, fy)
    n01 = _corner(key, ix, iy + 1, fx, fy - 1.0)
    n11 = _corner(key, ix + 1, iy + 1, fx - 1.0, fy - 1.0)
    u = _fade(fx)
    v = _fade(fy)
    nx0 = n00 + u * (n10 - n00)
    nx1 = n01 + u * (n11 - n01)
    return 1.41 * (nx0 + v * (nx1 - nx0))


@_njit
def octave_table(seed, salt, octaves):
    """Parameters of a fractal field: per octave (cos, sin, shift u, shift v) and its key.

    Octave ``k`` is rotated by ``0.7 k`` radians and shifted by a per-seed random offset so
    that octaves do not share lattice lines.
    """
    tab = np.empty((octaves, 4))
    keys = np.empty(octaves, dtype=np.uint64)
    for k in range(octaves):
        key = seed_hash(seed, 64 * salt + k)
        tab[k, 0] = math.cos(0.7 * k)
        tab[k, 1] = math.sin(0.7 * k)
        tab[k, 2] = 1000.0 * unit(hash2(key, 1, 0))
        tab[k, 3] = 1000.0 * unit(hash2(key, 2, 0))
        keys[k] = key
    return tab, keys


@_njit
def _octave(x, y, period, tab, keys, k):
    u = (tab[k, 0] * x - tab[k, 1] * y) / period + tab[k, 2]
    v = (tab[k, 1] * x + tab[k, 0] * y) / period + tab[k, 3]
    return perlin(u, v, keys[k])


@_njit
def fbm(x, y, period, gain, field):
    """Fractal sum of gradient noises (lacunarity 2) at (x, y) metres, about [-1, 1]."""
    tab, keys = field
    total = 0.0
    norm = 0.0
    amp = 1.0
    p = period
    for k in range(keys.shape[0]):
        total += amp * _octave(x, y, p, tab, keys, k)
        norm += amp
        amp *= gain
        p *= 0.5
    return total / norm


@_njit
def ridged(x, y, period, gain, field):
    """Ridged fractal noise in about [0, 1]: rounded crests where an octave crosses zero."""
    tab, keys = field
    total = 0.0
    norm = 0.0
    amp = 1.0
    p = period
    for k in range(keys.shape[0]):
        n = _octave(x, y, p, tab, keys, k)
        r = 1.0 - math.sqrt(n * n + 0.0009)
        total += amp * r * r
        norm += amp
        amp *= gain
        p *= 0.5
    return total / norm


@_njit
def smoothstep(lo, hi, v):
    t = (v - lo) / (hi - lo)
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


# --------------------------------------------------------------------------------------------
# The synthetic region (every value a function of the seed and the global pixel position)
# --------------------------------------------------------------------------------------------
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
    for the mountains.  The rule itself is documented in :mod:`xlandslide.synthetic`.
    """
    cont = octave_table(seed, _S_CONT, 3)
    mtn = octave_table(seed, _S_MTN, 7)
    high = octave_table(seed, _S_HIGH, 2)
    plain = octave_table(seed, _S_PLAIN, 3)
    coast = octave_table(seed, _S_COAST, 2)
    coast2 = octave_table(seed, _S_COAST2, 2)
    lith_wx = octave_table(seed, _S_LITH_WX, 2)
    lith_wy = octave_table(seed, _S_LITH_WY, 2)
    lc_wx = octave_table(seed, _S_LC_WX, 2)
    lc_wy = octave_table(seed, _S_LC_WY, 2)
    soil = octave_table(seed, _S_SOIL, 2)
    lith_key = seed_hash(seed, 64 * _S_LITH)
    lc_key = seed_hash(seed, 64 * _S_LC)
    flip_key = seed_hash(seed, 64 * _S_FLIP)
    trigger_key = seed_hash(seed, 64 * _S_TRIGGER)
    rows = max(nrows - 1, 1)
    # the mountain-to-plain transition spans 70 % of the region's height but at least
    # TRANSITION_MIN metres; the regional uplift is 1800 m, less in regions under 60 km tall
    height = rows * pixel
    geo = (height, max(0.7 * height, rule[_TRANSITION_MIN]), 1800.0 * min(1.0, height / 60000.0))

    # 1. terrain on the block extended by h = radius + 1 pixels (float32, as stored)
    h = radius + 1
    ny = nr + 2 * h
    nx = nc + 2 * h
    z = np.empty((ny, nx), dtype=np.float32)
    for i in range(ny):
        gi = r0 - h + i
        y = gi * pixel
        for j in range(nx):
            z[i, j] = elevation((c0 - h + j) * pixel, y, geo, cont, mtn, plain, high)

    # 2. Horn slope of the core (reach 1)
    slope = horn_slope(z[h - 1 : h + nr + 1, h - 1 : h + nc + 1], pixel)

    # 3. upslope relief: max elevation in the (2 radius + 1)^2 window minus the elevation
    rowmax = np.empty((nr + 2 * radius, nc), dtype=np.float32)
    for i in range(nr + 2 * radius):
        for j in range(nc):
            m = z[i + 1, j + 1]
            for k in range(j + 1, j + 2 * radius + 2):
                m = max(m, z[i + 1, k])
            rowmax[i, j] = m

    out = np.zeros((len(PACKED_LAYERS), nr, nc), dtype=np.float32)
    deg = math.pi / 180.0
    for i in range(nr):
        gi = r0 + i
        y = gi * pixel
        for j in range(nc):
            gj = c0 + j
            x = gj * pixel
            # outside: a ragged 'sea' along the east edge (|fbm| <= 1 bounds its width)
            east = ncols - 1 - gj
            sea = 0.04 * ncols
            if east < 2.5 * sea and east < sea * (
                1.0 + 0.8 * fbm(0.0, y, 4000.0, 0.5, coast) + 0.5 * fbm(x, y, 600.0, 0.5, coast2)
            ):
                out[_P_SLOPE, i, j] = np.nan
                out[_P_DEMZ, i, j] = np.nan
                for f in range(_P_LITH, _P_AGE + 1):
                    out[f, i, j] = _NODATA
                out[_P_DEM, i, j] = np.nan
                out[_P_LABEL, i, j] = -1.0
                continue
            elev = np.float64(z[h + i, h + j])
            top = rowmax[i, j]
            for k in range(i + 1, i + 2 * radius + 1):
                top = max(top, rowmax[k, j])
            relief = np.float64(top) - elev
            theta = np.float64(slope[i + 1, j + 1])

            # geology: domain-warped Voronoi cells; lowland or mountain class tables
            wx = x + 800.0 * fbm(x, y, 3000.0, 0.5, lith_wx)
            wy = y + 800.0 * fbm(x, y, 3000.0, 0.5, lith_wy)
            hc, px, py = _voronoi(wx, wy, rule[_LITH_CELL], lith_key)
            m = mountainness(px, py, geo, cont)
            table = 1 if unit(_mix64(hc ^ np.uint64(1))) < m else 0
            lith = _draw(unit(_mix64(hc ^ np.uint64(2))), lith_cum[table])
            if unit(_mix64(hc ^ np.uint64(3))) < rule[_UNKNOWN_AGE]:
                age = unknown_age
            else:
                span = lith_age_hi[lith] - lith_age_lo[lith] + 1
                age = lith_age_lo[lith] + min(
                    np.int64(unit(_mix64(hc ^ np.uint64(4))) * span), span - 1
                )
            wx = x + 200.0 * fbm(x, y, 800.0, 0.5, lc_wx)
            wy = y + 200.0 * fbm(x, y, 800.0, 0.5, lc_wy)
            hc, px, py = _voronoi(wx, wy, rule[_LC_CELL], lc_key)
            m = mountainness(px, py, geo, cont)
            table = 1 if unit(_mix64(hc ^ np.uint64(1))) < m else 0
            lc = _draw(unit(_mix64(hc ^ np.uint64(2))), lc_cum[table])

            # infinite-slope factor of safety with upslope wetness
            depth = rule[_SOIL_MIN] + (rule[_SOIL_MAX] - rule[_SOIL_MIN]) * (
                0.5 + 0.5 * fbm(x, y, 400.0, 0.5, soil)
            )
            wet = (relief - rule[_RELIEF_DRY]) / (rule[_RELIEF_SAT] - rule[_RELIEF_DRY])
            wet = min(max(wet, 0.0), 1.0)
            t = theta * deg
            slides = False
            if theta > 0.5 and lc_never[lc] == 0:
                sn = math.sin(t)
                cs = math.cos(t)
                fs = (lith_cohesion[lith] + lc_root[lc]) / (rule[_GAMMA] * depth * sn * cs) + (
                    1.0 - wet * rule[_GAMMA_W] / rule[_GAMMA]
                ) * lith_tan_phi[lith] * cs / sn
                if fs < rule[_FS_CRIT]:
                    # unstable: slides if its trigger cell (hidden) fired
                    hc, px, py = _voronoi(x, y, rule[_TRIGGER_CELL], trigger_key)
                    slides = unit(_mix64(hc ^ np.uint64(5))) < rule[_TRIGGER_FRACTION]
            u = unit(hash2(flip_key, gi, gj))
            if slides:
                slides = u >= rule[_FLIP_LOSS]
            else:
                slides = u < rule[_FLIP_GAIN]

            out[_P_SLOPE, i, j] = (theta - rule[_SLOPE_MEAN]) / rule[_SLOPE_STD]
            out[_P_DEMZ, i, j] = (elev - rule[_DEM_MEAN]) / rule[_DEM_STD]
            out[_P_LITH, i, j] = lith
            out[_P_LC, i, j] = lc
            out[_P_FAM, i, j] = lith_family[lith]
            out[_P_AGE, i, j] = age
            out[_P_DEM, i, j] = elev
            out[_P_LABEL, i, j] = 1.0 if slides else 0.0
    return out
