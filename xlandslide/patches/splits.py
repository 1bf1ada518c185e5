"""How a region is dealt to training and testing: the paper's random patch split, and
spatial folds.

The paper splits its patches at random 80 / 10 / 10.  :func:`split_sizes` says how many
patches each split gets and :func:`random_split` deals them, seeded.

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
  first pixel; the blocks holding labelled pixels are shuffled (seeded) and each, in that
  order, goes to the fold with the fewest labelled pixels so far.
- ``"polygons"``: leave-region-out — the pixels whose centre lies in a polygon belong to its
  fold (one fold per polygon, or per value of ``column``; a later polygon wins where they
  overlap); pixels outside every polygon are in no fold.
- ``"user"``: the fold ids given, as a (y, x) raster (negative or NaN: no fold) or as one id
  per labelled pixel in row-major order; stored run-length encoded.
- ``"random"``: pixel-wise random folds (a hash of the position and the seed): the
  non-spatial cross-validation to put beside the spatial one.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from .._hash import pixel_hash
from ..errors import ConfigError, GridMismatchError, InputTypeError, PatchError, RegionError

SPLITS = ("train", "val", "test")


def split_sizes(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> tuple[int, int, int]:
    """Number of train, val and test patches among ``n``.

    Rounding: ``n_val = floor(n * f_val + 0.5)`` and ``n_test = floor(n * f_test + 0.5)``
    (round half up); when ``n >= 3`` a split with a positive fraction gets at least one patch,
    and train keeps at least one patch when its fraction is positive (the larger of val / test
    gives one back).  Train takes the rest.  With ``n < 3`` plain rounding applies, so the
    default fractions give every patch to train.

    Examples
    --------
    >>> split_sizes(10), split_sizes(15), split_sizes(3), split_sizes(2)
    ((8, 1, 1), (11, 2, 2), (1, 1, 1), (2, 0, 0))
    """
    f_train, f_val, f_test = check_fractions(fractions)
    if not isinstance(n, numbers.Integral) or isinstance(n, bool):
        raise InputTypeError(f"the number of patches must be an integer, got {n!r}")
    n = int(n)
    if n < 0:
        raise ConfigError(f"the number of patches must be >= 0, got {n}")
    n_val = math.floor(n * f_val + 0.5)
    n_test = math.floor(n * f_test + 0.5)
    if n >= 3:
        n_val = max(n_val, 1) if f_val > 0 else n_val
        n_test = max(n_test, 1) if f_test > 0 else n_test
    min_train = 1 if (f_train > 0 and n >= 3) else 0
    while n - n_val - n_test < min_train:
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n - n_val - n_test, n_val, n_test


def check_fractions(fractions) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr):
        raise ConfigError(
            f"fractions must be three non-negative numbers (train, val, test), got {fractions!r}"
        )
    if not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise ConfigError(f"fractions must sum to 1, got {fractions!r} (sum {sum(fr)})")
    return fr


def random_split(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> list[str]:
    """The split name of each of ``n`` patches: a seeded random deal of :func:`split_sizes`.

    ``numpy.random.Generator(PCG64(seed)).permutation(n)`` orders the patches; the first
    ``n_train`` go to train, the next ``n_val`` to val, the rest to test.
    """
    n_train, n_val, _ = split_sizes(n, fractions)
    perm = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    split = np.empty(n, dtype=object)
    split[perm[:n_train]] = "train"
    split[perm[n_train : n_train + n_val]] = "val"
    split[perm[n_train + n_val :]] = "test"
    return split.tolist()


def check_split(split: str) -> None:
    """Raise :class:`ConfigError` unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use one of {SPLITS}")


# --------------------------------------------------------------------------- spatial folds

FOLD_METHODS = ("kmeans", "blocks", "polygons", "user", "random")
_FOLDS_VERSION = 1
#: Default largest number of labelled pixels k-means sees (a seeded sample above it).
KMEANS_SAMPLE = 100_000
_NO_FOLD = -1
_CHUNK = 1024


class JsonRecord:
    """``to_json`` / ``from_json`` for a record with ``to_dict`` / ``from_dict``.

    The file is written atomically (a temporary sibling, then a rename): a kill never leaves
    half a split under its name.
    """

    #: What the record is, in messages ("a patch set").
    _what = "a record"

    def to_json(self, path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path`` (atomically); returns the path."""
        import os

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)  # missing parents are created
        from ..io.atomic import output_errors

        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with output_errors(tmp, path):
            tmp.write_text(json.dumps(self.to_dict()))
            os.replace(tmp, path)
        return path

    @classmethod
    def _check_record(cls, d, newest: int) -> int:
        """The format version of dict ``d`` if it is this record's and not too new."""
        fmt = f"xlandslide.{cls.__name__}"
        if not isinstance(d, dict) or d.get("format") != fmt:
            raise PatchError(
                f"not {cls._what} (missing 'format': {fmt!r}); write it with "
                f"{cls.__name__}.to_dict / to_json"
            )
        version = d.get("version")
        if isinstance(version, bool) or not isinstance(version, int):
            raise PatchError(
                f"{cls._what}: format version {version!r} is not an integer; the file is damaged"
            )
        if version > newest:
            raise PatchError(
                f"{cls._what}: format version {version} is newer than this xlandslide "
                f"understands ({newest}); upgrade xlandslide"
            )
        return version

    @classmethod
    def from_json(cls, path):
        """Read a record written by :meth:`to_json`."""
        try:
            d = json.loads(Path(path).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise PatchError(
                f"{str(path)!r} is not {cls._what} written by {cls.__name__}.to_json ({err})"
            ) from None
        return cls.from_dict(d)


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
        Labelled pixels and landslide pixels per fold when made (``{"labelled": [...],
        "landslide": [...]}``), for reports.
    crs : str, optional
        The region's CRS (WKT), for polygons and reports.
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


# --------------------------------------------------------------------------- fold rules


def _fold_block(block_info=None, *, folds: SpatialFolds) -> np.ndarray:
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    return fold_of_pixels(folds, np.arange(r0, r1), np.arange(c0, c1))


def fold_of_pixels(folds: SpatialFolds, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """int16 (len(rows), len(cols)) fold ids of the pixels at ``rows`` x ``cols``."""
    g, rule = folds.grid, folds.rule
    _ny, nx = folds.shape
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    shape = (rows.size, cols.size)
    if folds.method == "kmeans":
        c = np.asarray(rule["centroids"], dtype=np.float64)  # (k, 2): y, x
        y = g["y0"] + g["dy"] * rows.astype(np.float64)
        x = g["x0"] + g["dx"] * cols.astype(np.float64)
        best = np.full(shape, np.inf)
        out = np.zeros(shape, dtype=np.int16)
        for f, (cy, cx) in enumerate(c):
            d = (y[:, None] - cy) ** 2 + (x[None, :] - cx) ** 2
            closer = d < best
            out[closer] = f
            best = np.where(closer, d, best)
        return out
    if folds.method == "blocks":
        by, bx = rule["size"]
        table = np.asarray(rule["assign"], dtype=np.int16).reshape(rule["grid"])
        return table[(rows // by)[:, None], (cols // bx)[None, :]]
    if folds.method == "random":
        flat = rows[:, None] * nx + cols[None, :]
        return np.floor(pixel_hash(flat, folds.seed) * folds.k).astype(np.int16)
    if folds.method == "user":
        starts = np.asarray(rule["starts"], dtype=np.int64)
        values = np.asarray(rule["values"], dtype=np.int16)
        flat = rows[:, None] * nx + cols[None, :]
        i = np.searchsorted(starts, flat, side="right") - 1
        return np.where(i >= 0, values[np.maximum(i, 0)], np.int16(_NO_FOLD)).astype(np.int16)
    # polygons
    from affine import Affine
    from rasterio import features
    from shapely import wkt

    shapes = [
        (wkt.loads(w), int(f) + 1) for w, f in zip(rule["wkt"], rule["folds"])
    ]  # 0 = no polygon
    transform = Affine(g["dx"], 0, g["x0"] - g["dx"] / 2, 0, g["dy"], g["y0"] - g["dy"] / 2)
    transform = transform @ Affine.translation(int(cols[0]), int(rows[0]))
    burnt = features.rasterize(shapes, out_shape=shape, transform=transform, fill=0, dtype="int16")
    return (burnt - 1).astype(np.int16)


# --------------------------------------------------------------------------- helpers


def _label_of(region) -> xr.DataArray:
    if isinstance(region, xr.Dataset):
        if "label" not in region.data_vars:
            raise RegionError("the region has no 'label' variable; folds need the ground truth")
        label = region["label"]
    elif isinstance(region, xr.DataArray):
        label = region
    else:
        raise ConfigError(
            f"give the region (a Dataset with 'label') or its label, got {type(region).__name__}"
        )
    if set(label.dims) != {"y", "x"}:
        raise RegionError(f"'label' must have dims ('y', 'x'), got {label.dims}")
    label = label.transpose("y", "x")
    return label if label.chunks is not None else label.chunk(_CHUNK)


def yx_chunks(obj):
    """dask chunks of ``obj`` along (y, x), or None when it is not dask-backed."""
    if isinstance(obj, xr.Dataset):
        arrays = [obj[v] for v in obj.data_vars if {"y", "x"} <= set(obj[v].dims)]
    else:
        arrays = [obj]
    for a in arrays:
        if a.chunks is not None:
            c = dict(zip(a.dims, a.chunks))
            return c["y"], c["x"]
    return None


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
    "SPLITS",
    "SpatialFolds",
    "check_fractions",
    "check_split",
    "random_split",
    "split_sizes",
]
