"""Grid arithmetic: pixel size, halo, patch geometry, CRS and alignment checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, GridError, GridMismatchError, HaloError

#: Halo of the paper, in pixels: covers the largest looking radius (30 px at 10 m) and the
#: network's field of view.  It is the ``depth`` of every ``map_overlap`` in the package.
HALO = 64

#: Core size of a training / prediction patch, in pixels (the paper's 500 x 500).
CORE = 500


#: The paper's looking distances, in metres (the default of ``with_offsets``, the demo, the CLI).
PAPER_DISTANCES = (30.0, 100.0, 300.0)

#: Core of a cross-validation patch, in pixels (:func:`cv_geometry`).
CV_CORE = 64
#: Smallest halo of a cross-validation patch, in pixels (:func:`cv_geometry`).
MIN_HALO = 16

#: Cores the default geometry tries, largest first (:func:`geometry_for`).
CORE_CHOICES = (500, 256, 128, 64, 32)
#: Patches the default geometry leaves at least in the smallest split of a random split.
MIN_PATCHES_PER_SPLIT = 3


@dataclass(frozen=True)
class PatchGeometry:
    """Size of a patch: a ``core`` x ``core`` square plus ``halo`` pixels on every side.

    The loss and the metrics only see the core; the halo gives context.  The paper's
    geometry is ``PatchGeometry(core=500, halo=64)``, a 628 x 628 input.

    Examples
    --------
    >>> from xlandslide import PatchGeometry
    >>> PatchGeometry()  # the paper's
    PatchGeometry(core=500, halo=64)
    >>> PatchGeometry().size, PatchGeometry(core=32, halo=16).size  # core + 2 * halo
    (628, 64)
    >>> PatchGeometry(core=0)
    Traceback (most recent call last):
    ...
    xlandslide.errors.ConfigError: PatchGeometry core must be an integer >= 1, got 0
    """

    core: int = CORE
    halo: int = HALO

    def __post_init__(self):
        for name, low in (("core", 1), ("halo", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(
                    f"PatchGeometry {name} must be an integer >= {low}, got {value!r}"
                )
            object.__setattr__(self, name, int(value))

    @property
    def size(self) -> int:
        """Side of the input window: ``core + 2 * halo``."""
        return self.core + 2 * self.halo


def pixel_size(obj) -> float:
    """Return the pixel size (map units) of a DataArray/Dataset with ``y`` and ``x`` coords.

    Pixels must be square and regularly spaced (relative tolerance 1e-6); otherwise
    :class:`GridError` says so.
    """
    for dim in ("y", "x"):
        if dim not in obj.coords:
            raise GridError(
                f"no {dim!r} coordinate: a region needs 'y' and 'x' coordinates in map units "
                "(rioxarray's open_rasterio provides them; or assign_coords(y=..., x=...))"
            )
        if obj.sizes[dim] < 2:
            raise GridError(
                f"the grid needs at least 2 pixels along {dim!r} to know the pixel size"
            )
    sizes = []
    for dim in ("y", "x"):
        c = np.asarray(obj[dim].values, dtype="float64")
        d = np.diff(c)
        step = abs(d[0])
        if step == 0 or not np.allclose(np.abs(d), step, rtol=1e-6, atol=0):
            raise GridError(f"coordinate {dim!r} is not regularly spaced; resample the grid first")
        sizes.append(step)
    if not math.isclose(sizes[0], sizes[1], rel_tol=1e-6):
        raise GridError(
            f"pixels are not square (y step {sizes[0]}, x step {sizes[1]}); "
            "reproject to square pixels explicitly (rio.reproject with resolution=...)"
        )
    return float(sizes[1])


def radius_pixels(distance: float, pixel: float) -> int:
    """Ring radius in pixels for a looking ``distance``: ``round(distance / pixel)``.

    Raises :class:`HaloError` when the radius is below 1 pixel.  Whether it fits a halo is
    :func:`check_halo`'s question.
    """
    r = round(float(distance) / float(pixel))
    if r < 1:
        raise HaloError(
            f"distance {distance} with pixel size {pixel} gives a ring radius of {r} pixels "
            f"(round(distance / pixel)); use distances above half a pixel ({pixel / 2:g} m)"
        )
    return r


def reach(distances, pixel: float) -> int:
    """The reach of the offsets of ``distances`` at ``pixel``: the largest ring radius in
    pixels (0 without distances), the depth a per-pixel model needs around a block.

    >>> reach((30, 100, 300), 10.0), reach((), 10.0)
    (30, 0)
    """
    return max((radius_pixels(d, pixel) for d in distances), default=0)


def cv_geometry(distances, pixel: float) -> PatchGeometry:
    """The patch geometry of a spatial cross-validation: core :data:`CV_CORE`, halo the
    reach of ``distances`` (:func:`reach`) and at least :data:`MIN_HALO`.

    >>> cv_geometry((30, 100, 300), 10.0)
    PatchGeometry(core=64, halo=30)
    """
    return PatchGeometry(core=CV_CORE, halo=max(MIN_HALO, reach(distances, pixel)))


def check_halo(distances, pixel: float, halo: int, *, what: str = "the configuration") -> int:
    """Refuse looking distances whose ring radius does not fit in ``halo``; return the largest.

    This is the one check of the halo against the aligned features' reach, used by
    :func:`xlandslide.uphill_offsets` (its ``halo``), :func:`xlandslide.fit` (the patches'
    halo) and :func:`xlandslide.predict` (the model's halo).  A uphill point farther than the
    halo would fall outside a patch: the model would read padding there in training and the
    true terrain at prediction time, silently, with seams between patches.

    Returns the largest radius in pixels (0 when ``distances`` is empty).

    Raises
    ------
    HaloError
        A radius below 1 pixel or above ``halo``; the message names both fixes (a larger
        halo, or shorter distances).
    """
    radii = [radius_pixels(d, pixel) for d in distances]
    if not radii:
        return 0
    worst = max(radii)
    if worst > halo:
        d = max(distances, key=float)
        raise HaloError(
            f"{what}: the looking distance {float(d):g} m is a ring of {worst} pixels at "
            f"{pixel:g} m, beyond the halo of {halo} pixels; uphill points would fall outside "
            f"the patches (and predictions would show seams).  Use a halo of at least {worst} "
            f"(PatchGeometry(core=..., halo={worst})) or distances up to {halo * pixel:g} m"
        )
    return worst


def check_same_grid(a, b, what: str = "inputs") -> None:
    """Raise :class:`GridMismatchError` unless ``a`` and ``b`` share y/x coords and CRS."""
    for dim in ("y", "x"):
        if a.sizes.get(dim) != b.sizes.get(dim):
            raise GridMismatchError(
                f"{what} differ in size along {dim!r}: {a.sizes.get(dim)} vs {b.sizes.get(dim)}; "
                "align them first (xarray.align or rio.reproject_match)"
            )
        if dim in a.coords and dim in b.coords:
            if not np.allclose(a[dim].values, b[dim].values, rtol=0, atol=1e-6 * pixel_size(a)):
                raise GridMismatchError(
                    f"{what} have different {dim!r} coordinates; "
                    "reproject one onto the other explicitly (rio.reproject_match)"
                )
    crs_a, crs_b = _crs(a), _crs(b)
    if crs_a is not None and crs_b is not None and crs_a != crs_b:
        raise GridMismatchError(
            f"{what} have different CRS ({crs_a} vs {crs_b}); reproject explicitly"
        )


def _crs(obj):
    try:
        return obj.rio.crs
    except Exception:  # rioxarray not importable or no grid mapping
        return None


def geometry_for(
    shape, halo: int = HALO, fractions=(0.8, 0.1, 0.1), min_per_split: int = MIN_PATCHES_PER_SPLIT
) -> tuple[PatchGeometry, str | None]:
    """The default patch geometry for a region of ``shape`` (rows, columns).

    The paper's core (500) when its grid leaves at least ``min_per_split`` patches in the
    smallest split of ``fractions``; else the largest of :data:`CORE_CHOICES` that does
    (the smallest one when none does).  Returns the geometry and, when it is not the
    paper's, a sentence saying what was chosen and why (``None`` otherwise).

    >>> geometry_for((19500, 21005))[0]
    PatchGeometry(core=500, halo=64)
    >>> g, why = geometry_for((900, 860))
    >>> g.core, why is not None
    (128, True)
    """
    ny, nx = (int(v) for v in shape)
    share = min(float(f) for f in fractions if f > 0)
    for core in CORE_CHOICES:
        n = -(-ny // core) * -(-nx // core)
        if n * share >= min_per_split:
            break
    geometry = PatchGeometry(core=core, halo=int(halo))
    if core == CORE:
        return geometry, None
    n = -(-ny // core) * -(-nx // core)
    return geometry, (
        f"a {ny} x {nx} region cut in the paper's {CORE}-pixel cores gives "
        f"{-(-ny // CORE) * -(-nx // CORE)} patches, too few for {min_per_split} in each "
        f"split; using core {core} ({n} patches)"
    )
