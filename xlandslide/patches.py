"""Training patches: a core grid over the region, a recorded split, and a torch Dataset.

A region is cut into square patches whose *cores* tile it without overlap on a grid anchored
at pixel (0, 0): patch (i, j) has its core at rows ``[i * core, (i + 1) * core)`` and columns
``[j * core, (j + 1) * core)``.  The network sees the core plus ``halo`` pixels of context on
every side (the paper's 500 + 2 x 64 = 628 pixel input); losses and metrics only see the core.

Edges: the last row and column of patches may stick out of the region; they are kept and
padded (features NaN, offsets 0, label -1), whereas xbatcher alone would drop them.  The halo
of a patch on the region border is padded the same way.  A patch whose core holds no known
pixel (every label -1) is dropped.

:func:`make_patches` returns a :class:`PatchSet` — the grid, the random train / val / test
split and the "holds a landslide" flags — which round-trips through JSON so that a split can
be recorded and reused.  :class:`PatchDataset` reads the patches of one split through
``xbatcher.BatchGenerator`` as a map-style torch Dataset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from xarray.backends import BackendArray

from .catalog import LABEL_LANDSLIDE, LABEL_UNKNOWN
from .errors import GridMismatchError, RegionError
from .grid import PatchGeometry

SPLITS = ("train", "val", "test")
_FORMAT_VERSION = 1

#: Fill value of each variable outside the region.
FILLS = {"features": np.nan, "uphill_dy": 0, "uphill_dx": 0, "label": LABEL_UNKNOWN}

DEFAULT_VARIABLES = ("features", "uphill_dy", "uphill_dx", "label")


# --------------------------------------------------------------------------- splits


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
    f_train, f_val, f_test = _check_fractions(fractions)
    n = int(n)
    if n < 0:
        raise ValueError(f"the number of patches must be >= 0, got {n}")
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


def _check_fractions(fractions) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr):
        raise ValueError(
            f"fractions must be three non-negative numbers (train, val, test), got {fractions!r}"
        )
    if not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise ValueError(f"fractions must sum to 1, got {fractions!r} (sum {sum(fr)})")
    return fr


# --------------------------------------------------------------------------- PatchSet


@dataclass(frozen=True)
class PatchSet:
    """The patches of a region: grid, split and landslide flags (see :func:`make_patches`).

    Patch ``k`` (its id, ``0 <= k < len(patchset)``) has its core's top-left pixel at
    ``origins[k] = (row, col)`` in region pixel coordinates, belongs to split ``split[k]``
    (``"train"``, ``"val"`` or ``"test"``) and ``positive[k]`` says whether its core holds at
    least one landslide pixel.  Ids follow the grid in row-major order.
    """

    geometry: PatchGeometry
    shape: tuple[int, int]
    origins: tuple[tuple[int, int], ...]
    split: tuple[str, ...]
    positive: tuple[bool, ...]
    seed: int = 0
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    oversample: int = 5
    n_dropped: int = 0

    def __post_init__(self):
        setattr_ = object.__setattr__
        geometry = self.geometry
        if isinstance(geometry, dict):
            geometry = PatchGeometry(**geometry)
        setattr_(self, "geometry", geometry)
        shape = tuple(int(s) for s in self.shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"shape must be (ny, nx) with positive sizes, got {self.shape!r}")
        setattr_(self, "shape", shape)
        origins = tuple((int(r), int(c)) for r, c in self.origins)
        split = tuple(str(s) for s in self.split)
        positive = tuple(bool(p) for p in self.positive)
        if not (len(origins) == len(split) == len(positive)):
            raise ValueError(
                f"origins, split and positive differ in length: {len(origins)}, {len(split)}, "
                f"{len(positive)}"
            )
        core = geometry.core
        for r, c in origins:
            if r % core or c % core or not (0 <= r < shape[0] and 0 <= c < shape[1]):
                raise ValueError(
                    f"patch origin {(r, c)} is not on the core grid (core {core}) of a region "
                    f"of shape {shape}"
                )
        bad = sorted(set(split) - set(SPLITS))
        if bad:
            raise ValueError(f"unknown split names {bad}; use {SPLITS}")
        oversample = int(self.oversample)
        if oversample < 1:
            raise ValueError(f"oversample must be >= 1, got {self.oversample!r}")
        setattr_(self, "origins", origins)
        setattr_(self, "split", split)
        setattr_(self, "positive", positive)
        setattr_(self, "seed", int(self.seed))
        setattr_(self, "fractions", _check_fractions(self.fractions))
        setattr_(self, "oversample", oversample)
        setattr_(self, "n_dropped", int(self.n_dropped))

    def __len__(self) -> int:
        return len(self.origins)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Number of core rows and columns of the grid (partial edge patches included)."""
        core = self.geometry.core
        return -(-self.shape[0] // core), -(-self.shape[1] // core)

    def grid_index(self, k: int) -> tuple[int, int]:
        """Grid position (i, j) of patch ``k``."""
        r, c = self.origins[k]
        return r // self.geometry.core, c // self.geometry.core

    def indices(self, split: str, oversample: bool = False) -> list[int]:
        """Ids of the patches of ``split``, ascending.

        With ``oversample=True`` every positive patch appears ``self.oversample`` times in
        total (consecutively), as in the paper's training set; negatives appear once.
        """
        _check_split(split)
        out: list[int] = []
        for k, (s, pos) in enumerate(zip(self.split, self.positive)):
            if s == split:
                out.extend([k] * (self.oversample if (oversample and pos) else 1))
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        """Per split: ``{"patches", "positive", "oversampled"}`` (the last with repeats)."""
        out = {}
        for s in SPLITS:
            n = sum(1 for x in self.split if x == s)
            p = sum(1 for x, pos in zip(self.split, self.positive) if x == s and pos)
            out[s] = {"patches": n, "positive": p, "oversampled": n + (self.oversample - 1) * p}
        return out

    def window(self, k: int) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)``: the padded input of patch ``k`` in region pixel coordinates.

        It spans ``core + 2 * halo`` pixels on each axis and may extend beyond the region
        (negative starts, stops past the end); those pixels are padding.
        """
        r, c = self.origins[k]
        g = self.geometry
        return r - g.halo, r + g.core + g.halo, c - g.halo, c + g.core + g.halo

    def core_mask(self, split: str, like=None) -> xr.DataArray:
        """Lazy boolean (y, x) mask of the cores of ``split``'s patches (clipped to the region).

        Parameters
        ----------
        split : {"train", "val", "test"}
        like : Dataset or DataArray, optional
            A region (or a map on its grid) whose ``y``/``x`` coordinates, CRS coordinate and
            dask chunks the mask takes.  Nothing of it is loaded.

        Returns
        -------
        DataArray
            dask-backed bool; pass it as ``mask`` to :func:`xlandslide.evaluate` to score the
            test split without loading the region.
        """
        import dask.array as da

        _check_split(split)
        ny, nx = self.shape
        core = self.geometry.core
        grid = np.zeros(self.grid_shape, dtype=bool)
        for (r, c), s in zip(self.origins, self.split):
            if s == split:
                grid[r // core, c // core] = True
        chunks = None
        coords = {}
        if like is not None:
            if like.sizes.get("y") != ny or like.sizes.get("x") != nx:
                raise GridMismatchError(
                    f"the patch set was made for a region of shape {self.shape} but `like` has "
                    f"(y, x) sizes ({like.sizes.get('y')}, {like.sizes.get('x')}); "
                    "use the region the patches were made from"
                )
            chunks = _yx_chunks(like)
            for name in ("y", "x"):
                if name in like.coords:
                    coords[name] = like[name]
            if "spatial_ref" in like.coords:
                coords["spatial_ref"] = like.coords["spatial_ref"]
        if chunks is None:
            step = core * max(1, 4096 // core)
            chunks = (min(step, ny), min(step, nx))
        mask = da.map_blocks(
            _mask_block,
            chunks=da.core.normalize_chunks(chunks, (ny, nx)),
            dtype=bool,
            meta=np.array((), dtype=bool),
            grid=grid,
            core=core,
            token=f"core-mask-{split}",
        )
        return xr.DataArray(
            mask,
            dims=("y", "x"),
            coords=coords,
            name="core_mask",
            attrs={"long_name": f"cores of the {split} patches"},
        )

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """A JSON-ready dict holding everything needed to rebuild the patch set."""
        return {
            "format": "xlandslide.PatchSet",
            "version": _FORMAT_VERSION,
            "geometry": {"core": self.geometry.core, "halo": self.geometry.halo},
            "shape": list(self.shape),
            "origins": [list(o) for o in self.origins],
            "split": list(self.split),
            "positive": list(self.positive),
            "seed": self.seed,
            "fractions": list(self.fractions),
            "oversample": self.oversample,
            "n_dropped": self.n_dropped,
        }

    @classmethod
    def from_dict(cls, d: dict) -> PatchSet:
        """Rebuild a patch set written by :meth:`to_dict`."""
        if d.get("format") != "xlandslide.PatchSet":
            raise ValueError(
                "not an xlandslide patch set (missing 'format': 'xlandslide.PatchSet'); "
                "write it with PatchSet.to_dict / to_json"
            )
        if int(d.get("version", -1)) > _FORMAT_VERSION:
            raise ValueError(
                f"patch set format version {d.get('version')} is newer than this xlandslide "
                f"understands ({_FORMAT_VERSION}); upgrade xlandslide"
            )
        return cls(
            geometry=PatchGeometry(**d["geometry"]),
            shape=tuple(d["shape"]),
            origins=tuple(tuple(o) for o in d["origins"]),
            split=tuple(d["split"]),
            positive=tuple(d["positive"]),
            seed=d["seed"],
            fractions=tuple(d["fractions"]),
            oversample=d["oversample"],
            n_dropped=d.get("n_dropped", 0),
        )

    def to_json(self, path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def from_json(cls, path) -> PatchSet:
        """Read a patch set written by :meth:`to_json`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")


def _mask_block(block_info=None, *, grid, core):
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows = np.arange(r0, r1) // core
    cols = np.arange(c0, c1) // core
    return grid[rows[:, None], cols[None, :]]


def _yx_chunks(obj):
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


# --------------------------------------------------------------------------- make_patches


def make_patches(
    region: xr.Dataset,
    geometry: PatchGeometry = PatchGeometry(),  # noqa: B008  (frozen, immutable)
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    oversample: int = 5,
) -> PatchSet:
    """Cut ``region`` into patches and split them at random into train / val / test.

    Parameters
    ----------
    region : Dataset
        A region with a ``label`` (y, x) variable (1 landslide, 0 stable, -1 unknown).
    geometry : PatchGeometry
        Core and halo sizes (default the paper's 500 + 2 x 64).
    seed : int
        Seed of ``numpy.random.Generator(PCG64(seed)).permutation`` that orders the patches
        before they are dealt to train, val and test (sizes from :func:`split_sizes`).
    fractions : (float, float, float)
        Train, val and test fractions, summing to 1.
    oversample : int
        How many times in total a positive training patch appears in
        ``PatchSet.indices("train", oversample=True)`` (the paper: 5).

    Returns
    -------
    PatchSet

    Notes
    -----
    Only ``label`` is read, once, as one dask reduction (the maximum label of every core
    block, 1 byte per pixel, chunk by chunk): a maximum of -1 drops the patch (no known
    pixel), 1 marks it positive.  A region opened without dask is chunked for this pass.
    """
    if not isinstance(geometry, PatchGeometry):
        raise TypeError(f"geometry must be a PatchGeometry, got {type(geometry).__name__}")
    fractions = _check_fractions(fractions)
    if int(oversample) < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample!r}")
    if "label" not in region.data_vars:
        raise RegionError(
            "the region has no 'label' variable (y, x); patches need the ground truth "
            "(1 landslide, 0 stable, -1 unknown)"
        )
    label = region["label"]
    if set(label.dims) != {"y", "x"}:
        raise RegionError(f"'label' must have dims ('y', 'x'), got {label.dims}")
    label = label.transpose("y", "x")
    ny, nx = label.shape
    core = geometry.core
    block_max = _core_block_max(label, core)
    origins, positive = [], []
    n_dropped = 0
    for i in range(block_max.shape[0]):
        for j in range(block_max.shape[1]):
            m = block_max[i, j]
            if m <= LABEL_UNKNOWN:
                n_dropped += 1
                continue
            origins.append((i * core, j * core))
            positive.append(bool(m >= LABEL_LANDSLIDE))
    n = len(origins)
    n_train, n_val, _ = split_sizes(n, fractions)
    perm = np.random.Generator(np.random.PCG64(seed)).permutation(n)
    split = np.empty(n, dtype=object)
    split[perm[:n_train]] = "train"
    split[perm[n_train : n_train + n_val]] = "val"
    split[perm[n_train + n_val :]] = "test"
    return PatchSet(
        geometry=geometry,
        shape=(ny, nx),
        origins=tuple(origins),
        split=tuple(split.tolist()),
        positive=tuple(positive),
        seed=seed,
        fractions=fractions,
        oversample=int(oversample),
        n_dropped=n_dropped,
    )


def _core_block_max(label: xr.DataArray, core: int) -> np.ndarray:
    """Maximum label of every core block (computed once, chunk by chunk)."""
    import dask
    import dask.array as da

    ny, nx = label.shape
    gy, gx = -(-ny // core), -(-nx // core)
    step = core * max(1, 4096 // core)
    if label.chunks is None:  # numpy or lazily indexed backend: read it chunk by chunk
        label = label.chunk({"y": step, "x": step})
    data = label.data
    data = da.pad(data, ((0, gy * core - ny), (0, gx * core - nx)), constant_values=LABEL_UNKNOWN)
    data = data.rechunk((min(step, gy * core), min(step, gx * core)))
    (out,) = dask.compute(da.coarsen(np.max, data, {0: core, 1: core}))
    return np.asarray(out)


# --------------------------------------------------------------------------- lazy padding


class _PaddedArray(BackendArray):
    """A lazily indexed view of ``variable`` padded with ``fill`` (for xarray's lazy indexing).

    Only basic indexing reaches it (``IndexingSupport.BASIC``); a read touches only the part
    of ``variable`` inside the requested window.
    """

    def __init__(self, variable: xr.Variable, pads: tuple[tuple[int, int], ...], fill):
        self.variable = variable
        self.pads = pads
        self.fill = fill
        self.dtype = variable.dtype
        self.shape = tuple(n + b + a for n, (b, a) in zip(variable.shape, pads))

    def __getitem__(self, key):
        from xarray.core import indexing

        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._getitem
        )

    def _getitem(self, key):
        key = tuple(key) + (slice(None),) * (len(self.shape) - len(key))
        out_shape, out_sel, src_sel, drop = [], [], [], []
        empty = False
        for axis, k in enumerate(key):
            n_src = self.variable.shape[axis]
            before = self.pads[axis][0]
            if isinstance(k, slice):
                idx = np.arange(*k.indices(self.shape[axis]))
            else:
                k = int(k)
                idx = np.array([k + self.shape[axis] if k < 0 else k])
                drop.append(axis)
            src = idx - before
            valid = np.flatnonzero((src >= 0) & (src < n_src))
            out_shape.append(idx.size)
            if valid.size == 0:
                empty = True
                out_sel.append(slice(0, 0))
                src_sel.append(slice(0, 0))
                continue
            step = int(idx[1] - idx[0]) if idx.size > 1 else 1
            first, last = int(valid[0]), int(valid[-1])
            out_sel.append(slice(first, last + 1))
            src_sel.append(slice(int(src[first]), int(src[last]) + 1, step))
        if empty:
            out = np.full(out_shape, self.fill, dtype=self.dtype)
        elif all(sl == slice(0, n) for sl, n in zip(out_sel, out_shape)):
            # no padding in this window (an interior patch): the read itself, no copy
            out = np.asarray(self.variable[tuple(src_sel)].values)
        else:
            # write each output byte once: the data, then only the padding around it
            out = np.empty(out_shape, dtype=self.dtype)
            out[tuple(out_sel)] = np.asarray(self.variable[tuple(src_sel)].values)
            for axis, sl in enumerate(out_sel):
                head = (slice(None),) * axis
                out[(*head, slice(0, sl.start))] = self.fill
                out[(*head, slice(sl.stop, None))] = self.fill
        if drop:
            out = out.reshape([n for a, n in enumerate(out_shape) if a not in drop])
        return out


def _pad_variable(variable: xr.Variable, pad: dict[str, tuple[int, int]], fill) -> xr.Variable:
    """``variable`` padded along y/x with ``fill``: dask pad when dask-backed, else lazy view."""
    if variable.chunks is not None:  # dask-backed
        return variable.pad(pad, mode="constant", constant_values=fill)
    from xarray.core import indexing

    pads = tuple(pad.get(d, (0, 0)) for d in variable.dims)
    return xr.Variable(
        variable.dims, indexing.LazilyIndexedArray(_PaddedArray(variable, pads, fill))
    )


# --------------------------------------------------------------------------- PatchDataset


class PatchDataset:
    """The patches of one split of a region as a map-style torch Dataset.

    Parameters
    ----------
    region : Dataset
        The region the :class:`PatchSet` was made from (numpy, lazily indexed — e.g.
        ``xr.open_zarr(store, chunks=None)``, the fastest — or dask-backed).
    patchset : PatchSet
    split : {"train", "val", "test"}
    oversample : bool, optional
        Repeat positive patches ``patchset.oversample`` times; default True for ``"train"``
        and False otherwise.
    variables : sequence of str
        Region variables to read.  ``uphill_dy``/``uphill_dx`` are skipped when the region
        lacks them.

    Items are dicts of tensors for patch ``patchset.indices(split, oversample)[i]``:

    - ``"features"``: float32 ``(F, S, S)``, NaN outside the region (``S = core + 2 halo``);
    - ``"offsets"``: int8 ``(D, 2, S, S)``, ``[:, 0]`` = uphill_dy and ``[:, 1]`` = uphill_dx,
      0 (no offset) outside the region — only when the region holds them;
    - ``"label"``: int8 ``(S, S)``, -1 outside the region;
    - ``"index"``: the patch id in the PatchSet.

    Notes
    -----
    The region is padded lazily — ``halo`` pixels on the top/left, ``halo`` plus what
    completes the last core on the bottom/right — so that ``xbatcher.BatchGenerator`` with
    ``input_dims = S`` and ``input_overlap = 2 halo`` (a stride of ``core``) yields exactly
    the patch grid, partial edge patches included; generator item ``i * n_cols + j`` is grid
    patch (i, j).  One generator per variable keeps xbatcher from stacking the ``feature``
    and ``distance`` dimensions together.  Without dask only the window is read (an
    interior window is returned as read, an edge window is copied into its padding); with
    dask the windows' graph is computed, one ``dask.compute`` per item — with the
    synchronous scheduler inside DataLoader workers, because a forked worker inherits
    dask's thread pool without its threads and would hang.

    Use it with a ``torch.utils.data.DataLoader``; the default collate stacks the dicts::

        loader = DataLoader(PatchDataset(region, ps, "train"), batch_size=9, shuffle=True,
                            num_workers=2, persistent_workers=True)

    It is map-style on purpose: the DataLoader's sampler gives every worker distinct indices,
    and shuffling and oversampling are plain index lists.  An ``IterableDataset`` (such as
    xbatcher's) is copied whole into every worker, which would then each yield every patch
    unless it sharded itself with ``get_worker_info``.
    """

    def __init__(
        self,
        region: xr.Dataset,
        patchset: PatchSet,
        split: str = "train",
        *,
        oversample: bool | None = None,
        variables: Sequence[str] = DEFAULT_VARIABLES,
    ):
        _check_split(split)
        if not isinstance(patchset, PatchSet):
            raise TypeError(f"patchset must be a PatchSet, got {type(patchset).__name__}")
        if (region.sizes.get("y"), region.sizes.get("x")) != patchset.shape:
            raise GridMismatchError(
                f"the patch set was made for a region of shape {patchset.shape} but this one "
                f"has (y, x) sizes ({region.sizes.get('y')}, {region.sizes.get('x')}); "
                "use the region the patches were made from, or make_patches(region)"
            )
        unknown = [v for v in variables if v not in FILLS]
        if unknown:
            raise ValueError(f"unknown variables {unknown}; choose among {tuple(FILLS)}")
        names = [v for v in variables if v in region.data_vars]
        for required in ("features", "label"):
            if required in variables and required not in names:
                raise RegionError(
                    f"the region has no {required!r} variable; leave it out of `variables` "
                    "or use a region following the data model"
                )
        has_dy, has_dx = "uphill_dy" in names, "uphill_dx" in names
        if has_dy != has_dx:
            raise RegionError(
                "the region holds only one of 'uphill_dy' / 'uphill_dx'; store both "
                "(region.landslide.with_offsets()) or neither"
            )
        if oversample is None:
            oversample = split == "train"
        self.region = region
        self.patchset = patchset
        self.split = split
        self.oversample = bool(oversample)
        self.variables = tuple(names)
        self.ids = patchset.indices(split, oversample=self.oversample)
        self._generators = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self):  # generators are rebuilt in each DataLoader worker
        state = self.__dict__.copy()
        state["_generators"] = None
        return state

    def generator_index(self, k: int) -> int:
        """Index, in the xbatcher generators, of patch ``k`` of the PatchSet."""
        i, j = self.patchset.grid_index(k)
        return i * self.patchset.grid_shape[1] + j

    def _build_generators(self) -> dict:
        import xbatcher

        ps = self.patchset
        g = ps.geometry
        ny, nx = ps.shape
        gy, gx = ps.grid_shape
        pad = {"y": (g.halo, g.halo + gy * g.core - ny), "x": (g.halo, g.halo + gx * g.core - nx)}
        gens = {}
        for name in self.variables:
            da_ = self.region[name]
            lead = [d for d in da_.dims if d not in ("y", "x")]
            da_ = da_.transpose(*lead, "y", "x")
            padded = _pad_variable(da_.variable, pad, FILLS[name])
            coords = {d: da_[d] for d in lead if d in da_.coords}
            arr = xr.DataArray(padded, coords=coords, name=name)
            gen = xbatcher.BatchGenerator(
                arr,
                input_dims={"y": g.size, "x": g.size},
                input_overlap={"y": 2 * g.halo, "x": 2 * g.halo},
                preload_batch=False,
            )
            if len(gen) != gy * gx:  # pragma: no cover - guards against xbatcher changes
                raise RuntimeError(
                    f"xbatcher made {len(gen)} patches for a grid of {gy} x {gx}; "
                    "the padding arithmetic no longer matches xbatcher"
                )
            gens[name] = gen
        return gens

    def read(self, k: int) -> dict[str, np.ndarray]:
        """The numpy windows of patch ``k`` (PatchSet id), one per variable."""
        import dask

        if self._generators is None:
            self._generators = self._build_generators()
        gi = self.generator_index(k)
        windows = {name: gen[gi].transpose(..., "y", "x") for name, gen in self._generators.items()}
        lazy = {n: w.data for n, w in windows.items() if w.chunks is not None}
        out = {n: w.values for n, w in windows.items() if w.chunks is None}
        if lazy:
            kwargs = {}
            if _in_dataloader_worker():
                # a forked worker inherits dask's thread pool without its threads (it would
                # hang); the workers are the parallelism, so compute in the worker's thread
                kwargs["scheduler"] = "synchronous"
            (computed,) = dask.compute(lazy, **kwargs)
            out.update(computed)
        return out

    def __getitem__(self, i: int) -> dict:
        import torch

        k = self.ids[i]
        arrays = self.read(k)
        item = {}
        if "features" in arrays:
            item["features"] = torch.from_numpy(
                np.ascontiguousarray(arrays["features"], dtype=np.float32)
            )
        if "uphill_dy" in arrays:
            offsets = np.stack([arrays["uphill_dy"], arrays["uphill_dx"]], axis=1)
            item["offsets"] = torch.from_numpy(np.ascontiguousarray(offsets, dtype=np.int8))
        if "label" in arrays:
            item["label"] = torch.from_numpy(np.ascontiguousarray(arrays["label"], dtype=np.int8))
        item["index"] = k
        return item


def _in_dataloader_worker() -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and torch.utils.data.get_worker_info() is not None


__all__ = ["PatchDataset", "PatchSet", "make_patches", "split_sizes"]
