""":func:`spatial_folds` and :class:`SpatialFolds`: spatial cross-validation folds of a region.

Random splits of autocorrelated pixels overstate skill (DESIGN §5); spatial folds do not.
:func:`spatial_folds` assigns every pixel to one of ``k`` folds by a spatial rule and
returns a :class:`SpatialFolds`, which gives each fold as lazy pixel masks (test pixels,
training pixels outside an optional buffer) and round-trips through JSON like a
:class:`~xlandslide.PatchSet`.  Pixel masks, not patches, because landslide inventories
are points as often as polygons: :func:`~xlandslide.patches.grid.mask_patches` makes the
patches whose cores hold a mask's pixels, and the loss counts only those pixels.

Fold rules (``SpatialFolds.method``)
------------------------------------
- ``"kmeans"``: k-means (``scipy.cluster.vq.kmeans2``, k-means++ start, seeded) on the map
  coordinates of the labelled pixels (Brenning 2012) — all of them when there are at most
  ``sample``, else a seeded uniform sample of about ``sample`` (each labelled pixel kept
  when a hash of its position and the seed falls below ``sample / n_labelled``, so the
  sample does not depend on the chunks); a pixel belongs to the fold of its nearest
  centroid (Voronoi cells: compact and disjoint).  Folds are numbered by their centroids,
  north to south.
- ``"blocks"``: square blocks of ``block_size`` metres on a grid anchored at the region's
  first pixel; the blocks holding labelled pixels are dealt to folds balanced by their
  landslide pixels and their labelled pixels
  (:func:`~xlandslide.patches.fold_rules.deal_blocks`: seeded deals in random order, each
  block to the fold whose larger share stays smallest; the most even of 16 deals is kept, as
  blockCV's ``cv_spatial`` keeps the most even of its random assignments).  Landslides
  cluster: a deal balanced by labelled pixels alone once gave a fold 57 of a region's 3466
  landslide pixels.
- ``"polygons"``: leave-region-out — the pixels whose centre lies in a polygon belong to its
  fold (one fold per polygon, or per value of ``column``; a later polygon wins where they
  overlap); pixels outside every polygon are in no fold.
- ``"user"``: the fold ids given, as a (y, x) raster (negative or NaN: no fold) or as one id
  per labelled pixel in row-major order; stored run-length encoded.
- ``"random"``: pixel-wise random folds (a hash of the position and the seed): the
  non-spatial cross-validation to put beside the spatial one.

After the folds are made, :func:`check_fold_support` warns about a fold whose test set holds
too few landslides for a meaningful AUC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from ..errors import ConfigError, GridMismatchError, PatchError
from .fold_rules import (
    _CHUNK,
    _check_buffer,
    _check_fold_count,
    _crs_wkt,
    _fold_block,
    _fold_count,
    _label_of,
    blocks_rule,
    fold_counts,
    kmeans_rule,
    polygon_rule,
    user_rule,
)
from .splits import JsonRecord, yx_chunks

FOLD_METHODS = ("kmeans", "blocks", "polygons", "user", "random")
_FOLDS_VERSION = 1
#: Default largest number of labelled pixels k-means sees (a seeded sample above it).
KMEANS_SAMPLE = 100_000


@dataclass(frozen=True)
class SpatialFolds(JsonRecord):
    """``k`` folds of a region's pixels, by a spatial rule (see :func:`spatial_folds`).

    Attributes
    ----------
    method : str
        One of :data:`FOLD_METHODS` (the rules are in the module notes).
    k : int
        Number of folds; fold ids are ``0 .. k - 1``.
    grid : dict
        ``shape`` (ny, nx), ``x0``/``y0`` (coordinates of the first pixel's centre) and
        ``dx``/``dy`` (signed steps) of the region the folds were made for.
    rule : dict
        What decides a pixel's fold (JSON-ready): k-means ``centroids`` (map units),
        ``blocks`` (block side in pixels and the fold of every block), ``polygons`` (WKT
        and fold of each), ``runs`` (user folds, run-length encoded over row-major pixels).
    buffer : float
        Metres around each test fold's labelled pixels excluded from training.
    seed : int
        The seed of the rule (k-means start, block order, random folds).
    counts : dict
        Labelled pixels, landslide pixels and separate landslides per fold when made
        (``{"labelled": [...], "landslide": [...], "landslides": [...]}``; folds saved
        by an older version lack ``"landslides"``), for reports and
        :func:`check_fold_support`.
    crs : str, optional
        The region's CRS (WKT), for polygons and reports.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> folds = xlandslide.spatial_folds(region, "kmeans", k=2, seed=0)
    >>> folds.method, folds.k, folds.shape, folds.grid["dx"]
    ('kmeans', 2, (96, 96), 10.0)
    >>> labelled = int((region.label >= 0).sum())
    >>> times = sum(folds.test_mask(f, region).astype(int) for f in range(folds.k))
    >>> int(times.max()), int(times.sum()) == labelled  # the test masks partition them
    (1, True)
    >>> sum(folds.counts["labelled"]) == labelled
    True
    >>> train = folds.train_mask(0, region)  # k = 2, no buffer: the labelled pixels of fold 1
    >>> int(train.sum()) == folds.counts["labelled"][1]
    True
    >>> buffered = folds.with_buffer(100.0).train_mask(0, region)  # 10 pixels off fold 0
    >>> bool((buffered & ~train).any()), int(buffered.sum()) < int(train.sum())
    (False, True)
    >>> xlandslide.SpatialFolds.from_dict(folds.to_dict()) == folds
    True
    """

    _what = "spatial folds"  # in messages (a plain class attribute, not a field)

    method: str
    k: int
    grid: dict
    rule: dict
    buffer: float = 0.0
    seed: int = 0
    counts: dict = field(default_factory=dict)
    crs: str | None = None

    def __post_init__(self):
        if self.method not in FOLD_METHODS:
            raise ConfigError(f"unknown fold method {self.method!r}; use one of {FOLD_METHODS}")
        k = int(self.k)
        if k < 2:
            raise ConfigError(f"cross-validation needs at least 2 folds, got k={self.k!r}")
        buffer = float(self.buffer)
        if not math.isfinite(buffer) or buffer < 0:
            raise ConfigError(f"buffer must be a distance >= 0 in metres, got {self.buffer!r}")
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "buffer", buffer)
        object.__setattr__(self, "seed", int(self.seed))
        g = dict(self.grid)
        g["shape"] = tuple(int(n) for n in g["shape"])
        object.__setattr__(self, "grid", g)

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid["shape"]

    # ------------------------------------------------------------------ masks

    def fold_ids(self, like=None) -> xr.DataArray:
        """Lazy int16 (y, x) raster of the fold of every pixel (-1: in no fold).

        Defined for every pixel, labelled or not (k-means and blocks cover the whole grid;
        polygons their inside; user folds where given): the out-of-fold map of
        :func:`xlandslide.cross_validate` follows it.  ``like`` (a region or a map on its
        grid) gives the chunks and coordinates; its grid must be the folds'.
        """
        import dask.array as da

        chunks, coords = self._layout(like)
        data = da.map_blocks(
            _fold_block,
            chunks=chunks,
            dtype=np.int16,
            meta=np.array((), dtype=np.int16),
            folds=self,
            token=f"xlandslide-folds-{self.method}",
        )
        return xr.DataArray(
            data, dims=("y", "x"), coords=coords, name="fold", attrs={"long_name": "fold id"}
        )

    def test_mask(self, fold: int, region) -> xr.DataArray:
        """Lazy bool (y, x): the labelled pixels of ``fold`` (what fold ``fold`` scores)."""
        fold = self._check_fold(fold)
        label = _label_of(region)
        return (self.fold_ids(label) == fold) & (label >= 0)

    def train_mask(self, fold: int, region, *, exclude: Sequence[int] = ()) -> xr.DataArray:
        """Lazy bool (y, x): the labelled pixels that train the model tested on ``fold``.

        Labelled pixels of the other folds, except those of ``exclude`` (e.g. a validation
        fold) and those within ``buffer`` metres of a labelled pixel of ``fold`` or of
        ``exclude``.
        """
        fold = self._check_fold(fold)
        held = [fold, *(self._check_fold(f) for f in exclude)]
        label = _label_of(region)
        ids = self.fold_ids(label)
        known = label >= 0
        out = known & (ids >= 0)
        for f in held:
            out = out & (ids != f)
        if self.buffer > 0:
            held_pixels = known & ids.isin(held)
            from ._buffer import near

            out = out & ~near(held_pixels, self.buffer, chunk=_CHUNK)
        return out

    def _check_fold(self, fold) -> int:
        if isinstance(fold, bool) or int(fold) != fold or not 0 <= int(fold) < self.k:
            raise ConfigError(f"fold must be an integer in 0 .. {self.k - 1}, got {fold!r}")
        return int(fold)

    def _layout(self, like):
        """(normalised dask chunks, coords) for masks on ``like``'s grid."""
        import dask.array as da

        ny, nx = self.shape
        coords: dict = {}
        chunks = None
        if like is not None:
            check_fold_grid(self, like)
            for name in ("y", "x", "spatial_ref"):
                if name in like.coords:
                    coords[name] = like.coords[name]
            chunks = yx_chunks(like)
        if chunks is None:
            chunks = (min(_CHUNK, ny), min(_CHUNK, nx))
        return da.core.normalize_chunks(chunks, (ny, nx)), coords

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """A JSON-ready dict holding everything needed to rebuild the folds."""
        return {
            "format": "xlandslide.SpatialFolds",
            "version": _FOLDS_VERSION,
            "method": self.method,
            "k": self.k,
            "grid": {**self.grid, "shape": list(self.shape)},
            "rule": self.rule,
            "buffer": self.buffer,
            "seed": self.seed,
            "counts": self.counts,
            "crs": self.crs,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SpatialFolds:
        """Rebuild folds written by :meth:`to_dict`."""
        cls._check_record(d, _FOLDS_VERSION)
        try:
            return cls(
                method=d["method"],
                k=d["k"],
                grid=d["grid"],
                rule=d["rule"],
                buffer=d.get("buffer", 0.0),
                seed=d.get("seed", 0),
                counts=d.get("counts", {}),
                crs=d.get("crs"),
            )
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ConfigError):
                raise
            what = f"no {err}" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
            raise PatchError(
                f"damaged spatial folds ({what}); make them anew with spatial_folds"
            ) from None

    def with_buffer(self, buffer: float) -> SpatialFolds:
        """The same folds with another training buffer (metres)."""
        import dataclasses

        return dataclasses.replace(self, buffer=buffer)


def spatial_folds(
    region,
    method: str = "kmeans",
    k: int = 5,
    seed: int = 0,
    buffer: float = 0.0,
    *,
    block_size: float | None = None,
    polygons=None,
    column: str | None = None,
    folds=None,
    sample: int = KMEANS_SAMPLE,
) -> SpatialFolds:
    """Spatial cross-validation folds of a region's labelled pixels.

    Parameters
    ----------
    region : Dataset
        A region with ``label`` (1 landslide, 0 stable, -1 unknown) and ``y``/``x``
        coordinates in metres; numpy-, store- or dask-backed.
    method : {"kmeans", "blocks", "polygons", "user", "random"}
        The rule (see the module notes).
    k : int
        Number of folds (k-means, blocks, random); polygons and user folds take theirs from
        the data.
    seed : int
        Seeds the k-means start and sample, the block order, the random folds.
    buffer : float
        Metres around each test fold's labelled pixels excluded from its training pixels
        (0: none).
    block_size : float
        ``"blocks"``: the side of a block in metres (rounded to whole pixels).
    polygons : GeoDataFrame or path
        ``"polygons"``: the regions left out, in the region's CRS.
    column : str, optional
        ``"polygons"``: a column whose values group polygons into folds (sorted values give
        fold ids); default one fold per polygon.
    folds : DataArray or array-like
        ``"user"``: a (y, x) raster of fold ids on the region's grid (negative or NaN: no
        fold), or one fold id per labelled pixel in row-major order.
    sample : int
        ``"kmeans"``: at most about this many labelled pixels are clustered (a seeded,
        chunk-independent sample above it).

    Returns
    -------
    SpatialFolds
        ``test_mask(f, region)``, ``train_mask(f, region)``, ``fold_ids(region)`` (lazy),
        ``to_json(path)``.

    Raises
    ------
    ConfigError
        An unknown method, missing or bad arguments of the method, fewer than 2 folds.
    PatchError
        A fold holding no labelled pixel (the message says which).
    GridMismatchError
        Polygons in another CRS; a user raster on another grid.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> folds = xlandslide.spatial_folds(region, "kmeans", k=2)  # k=3: a SmallFoldWarning
    >>> folds.k, len(folds.counts["labelled"])
    (2, 2)
    >>> test = folds.test_mask(0, region)  # lazy bool (y, x)
    >>> test.dims, int(test.sum()) == folds.counts["labelled"][0]
    (('y', 'x'), True)
    """
    if method not in FOLD_METHODS:
        raise ConfigError(f"unknown fold method {method!r}; use one of {FOLD_METHODS}")
    label = _label_of(region)
    grid = grid_of(label)
    crs = _crs_wkt(label)
    common = {"grid": grid, "buffer": buffer, "seed": seed, "crs": crs}
    if buffer and float(buffer) > 0:
        _check_buffer(label, float(buffer))
    if block_size is not None and method != "blocks":
        raise ConfigError(
            f"block_size applies to the 'blocks' folds only, not {method!r}: drop it, or "
            "use method='blocks'"
        )
    if method in ("kmeans", "blocks", "random"):
        k = _fold_count(k)
        _check_fold_count(label, k)
    if method == "kmeans":
        rule = kmeans_rule(label, grid, k, seed, int(sample))
    elif method == "blocks":
        rule = blocks_rule(label, k, seed, block_size)
    elif method == "random":
        rule = {}
    elif method == "polygons":
        rule, k = polygon_rule(label, polygons, column)
    else:
        rule, k = user_rule(label, folds)
    out = SpatialFolds(method=method, k=k, rule=rule, **common)
    counts = fold_counts(out, label)
    empty = [f for f, n in enumerate(counts["labelled"]) if n == 0]
    if empty:
        raise PatchError(
            f"folds {empty} of the {k} {method} folds hold no labelled pixel; use fewer "
            "folds (k), larger blocks, or polygons that cover labelled pixels"
        )
    stable = [n - s for n, s in zip(counts["labelled"], counts["landslide"])]
    unscored = [f for f in range(k) if not counts["landslide"][f] or not stable[f]]
    if unscored:
        shown = ", ".join(str(f) for f in unscored[:5]) + (" ..." if len(unscored) > 5 else "")
        raise PatchError(
            f"{len(unscored)} of the {k} {method} folds ({shown}) hold no landslide or no "
            "stable pixel, so they cannot be scored; use fewer folds (k), larger blocks, or "
            "polygons that each cover both"
        )
    out = SpatialFolds(method=method, k=k, rule=rule, counts=counts, **common)
    check_fold_support(out, stacklevel=3)
    return out


#: A fold's test set needs at least this many landslide pixels ...
MIN_FOLD_LANDSLIDE_PIXELS = 100
#: ... and this many separate landslides for its AUC to mean something
#: (:func:`check_fold_support`).
MIN_FOLD_LANDSLIDES = 10


def check_fold_support(folds: SpatialFolds, *, stacklevel: int = 2) -> list[int]:
    """Warn about the folds whose test sets hold too few landslides for a meaningful AUC.

    Rule: fewer than :data:`MIN_FOLD_LANDSLIDE_PIXELS` (100) landslide pixels, or fewer than
    :data:`MIN_FOLD_LANDSLIDES` (10) separate landslides (``folds.counts``, from
    :func:`~xlandslide.patches.fold_rules.fold_counts`). Why: the AUC's standard error
    (Hanley & McNeil 1982) is about ``sqrt((Q2 - A^2) / n1)`` when the stable pixels are
    many, with ``n1`` independent landslide pixels and ``Q2 = 2 A^2 / (1 + A)``: at ``A =
    0.75``, 0.028 with 100 of them (0.021 at ``A = 0.9``) — about the gap between two models
    —, 0.038 with 57; and the pixels of one landslide are not independent, so with 10
    landslides the error is that of about 10 cases, 0.09. Such a fold's AUC is noise, or (a
    fold of a few scattered pixels where the region's landslides cluster elsewhere) measures
    another population.

    Returns the folds warned about.  Issues :class:`~xlandslide.errors.SmallFoldWarning`
    naming the fix: larger blocks, fewer folds (``k``), or k-means folds.
    """
    import warnings

    from ..errors import SmallFoldWarning

    pixels = folds.counts.get("landslide")
    if not pixels:
        return []
    areas = folds.counts.get("landslides") or pixels
    small = [
        f
        for f, (p, a) in enumerate(zip(pixels, areas))
        if p < MIN_FOLD_LANDSLIDE_PIXELS or a < MIN_FOLD_LANDSLIDES
    ]
    if small:
        shown = "; ".join(f"fold {f}: {pixels[f]} pixels, {areas[f]} landslides" for f in small[:5])
        warnings.warn(
            f"{len(small)} of the {folds.k} {folds.method} folds hold fewer than "
            f"{MIN_FOLD_LANDSLIDE_PIXELS} landslide pixels or {MIN_FOLD_LANDSLIDES} separate "
            f"landslides ({shown}{' ...' if len(small) > 5 else ''}): their AUC "
            "has a standard error of 0.03 or more and says little; use larger blocks, fewer "
            "folds (k) or k-means folds",
            SmallFoldWarning,
            stacklevel=stacklevel,
        )
    return small


def grid_of(like) -> dict:
    """The ``grid`` dict (shape, first centre, signed steps) of a region or map."""
    ny, nx = like.sizes["y"], like.sizes["x"]
    out = {"shape": (int(ny), int(nx)), "x0": 0.0, "dx": 1.0, "y0": 0.0, "dy": -1.0}
    if "x" in like.coords and "y" in like.coords and nx > 1 and ny > 1:
        x = np.asarray(like["x"].values, dtype=np.float64)
        y = np.asarray(like["y"].values, dtype=np.float64)
        out.update(x0=float(x[0]), dx=float(x[1] - x[0]), y0=float(y[0]), dy=float(y[1] - y[0]))
    return out


def check_fold_grid(folds: SpatialFolds, like) -> None:
    """Raise :class:`GridMismatchError` unless ``like`` is on the folds' grid."""
    mine, theirs = folds.grid, grid_of(like)
    if tuple(theirs["shape"]) != tuple(mine["shape"]):
        raise GridMismatchError(
            f"the folds were made for a region of shape {tuple(mine['shape'])}, this one is "
            f"{tuple(theirs['shape'])}; make the folds from this region (spatial_folds)"
        )
    step = max(abs(mine["dx"]), abs(mine["dy"]))
    for key in ("x0", "y0", "dx", "dy"):
        if abs(mine[key] - theirs[key]) > 1e-6 * step:
            raise GridMismatchError(
                f"the folds were made on another grid ({key} {mine[key]} vs {theirs[key]}); "
                "make the folds from this region (spatial_folds)"
            )


__all__ = [
    "FOLD_METHODS",
    "KMEANS_SAMPLE",
    "SpatialFolds",
    "check_fold_grid",
    "check_fold_support",
    "grid_of",
    "spatial_folds",
]
