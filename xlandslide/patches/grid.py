"""The patch grid of a region and its recorded split: :class:`PatchSet`, :func:`make_patches`.

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
be recorded and reused.  :func:`mask_patches` makes the patch set of pixel masks instead
(the train / val / test pixels of a spatial fold): a patch belongs to every split whose
pixels its core holds; the masks, passed to :func:`xlandslide.fit` as ``train_mask`` /
``val_mask``, decide which of its pixels count.  :class:`~xlandslide.PatchDataset` reads the
patches of one split as a map-style torch Dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..catalog import LABEL_LANDSLIDE, LABEL_UNKNOWN
from ..errors import ConfigError, GridMismatchError, PatchError, RegionError
from ..grid import PatchGeometry
from .splits import SPLITS, JsonRecord, check_fractions, check_split, random_split, yx_chunks

_FORMAT_VERSION = 1

# --------------------------------------------------------------------------- PatchSet


@dataclass(frozen=True)
class PatchSet(JsonRecord):
    """The patches of a region: grid, split and landslide flags (see :func:`make_patches`).

    Patch ``k`` (its id, ``0 <= k < len(patchset)``) has its core's top-left pixel at
    ``origins[k] = (row, col)`` in region pixel coordinates, belongs to split ``split[k]``
    (``"train"``, ``"val"`` or ``"test"``) and ``positive[k]`` says whether its core holds at
    least one landslide pixel.  Ids follow the grid in row-major order.  A patch set made
    from pixel masks (:func:`mask_patches`) lists a core once per split whose pixels it
    holds, and ``positive[k]`` then says whether it holds a landslide pixel of that split.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> patches.grid_shape, len(patches), patches.n_dropped  # 96 / 32 = 3 cores a side
    ((3, 3), 9, 0)
    >>> {s: c["patches"] for s, c in patches.counts().items()}  # 0.8 / 0.1 / 0.1 of 9
    {'train': 7, 'val': 1, 'test': 1}
    >>> patches.window(0)  # core 32 + 2 x 16 halo, sticking out of the top-left corner
    (-16, 48, -16, 48)
    >>> cover = sum(patches.core_mask(s, like=region).astype(int) for s in ("train", "val", "test"))
    >>> int(cover.min()), int(cover.max())  # the splits' cores tile the region, no overlap
    (1, 1)
    >>> train = patches.indices("train", oversample=True)
    >>> len(train) == 7 + (patches.oversample - 1) * patches.counts()["train"]["positive"]
    True
    >>> xlandslide.PatchSet.from_dict(patches.to_dict()) == patches
    True
    """

    _what = "a patch set"  # in messages (a plain class attribute, not a field)

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
            raise ConfigError(f"shape must be (ny, nx) with positive sizes, got {self.shape!r}")
        setattr_(self, "shape", shape)
        origins = tuple((int(r), int(c)) for r, c in self.origins)
        split = tuple(str(s) for s in self.split)
        positive = tuple(bool(p) for p in self.positive)
        if not (len(origins) == len(split) == len(positive)):
            raise ConfigError(
                f"origins, split and positive differ in length: {len(origins)}, {len(split)}, "
                f"{len(positive)}"
            )
        core = geometry.core
        for r, c in origins:
            if r % core or c % core or not (0 <= r < shape[0] and 0 <= c < shape[1]):
                raise ConfigError(
                    f"patch origin {(r, c)} is not on the core grid (core {core}) of a region "
                    f"of shape {shape}"
                )
        bad = sorted(set(split) - set(SPLITS))
        if bad:
            raise ConfigError(f"unknown split names {bad}; use {SPLITS}")
        oversample = int(self.oversample)
        if oversample < 1:
            raise ConfigError(f"oversample must be >= 1, got {self.oversample!r}")
        setattr_(self, "origins", origins)
        setattr_(self, "split", split)
        setattr_(self, "positive", positive)
        setattr_(self, "seed", int(self.seed))
        setattr_(self, "fractions", check_fractions(self.fractions))
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
        check_split(split)
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

        check_split(split)
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
            chunks = yx_chunks(like)
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
        cls._check_record(d, _FORMAT_VERSION)
        try:
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
        except (KeyError, TypeError, ValueError) as err:
            what = f"no {err}" if isinstance(err, KeyError) else f"{type(err).__name__}: {err}"
            raise PatchError(
                f"a damaged patch set ({what}); write it again with PatchSet.to_json, or "
                "make the patches anew with make_patches"
            ) from None


def _mask_block(block_info=None, *, grid, core):
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows = np.arange(r0, r1) // core
    cols = np.arange(c0, c1) // core
    return grid[rows[:, None], cols[None, :]]


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

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> len(patches.origins), patches.split.count("train")  # 3 x 3 cores of 32 pixels
    (9, 7)
    >>> patches.core_mask("test", like=region).dims
    ('y', 'x')
    """
    if not isinstance(geometry, PatchGeometry):
        raise ConfigError(
            f"geometry must be a PatchGeometry (e.g. PatchGeometry(core=500, halo=64)), got "
            f"{type(geometry).__name__}"
        )
    fractions = check_fractions(fractions)
    if int(oversample) < 1:
        raise ConfigError(f"oversample must be >= 1, got {oversample!r}")
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
    split = random_split(len(origins), fractions, seed)
    return PatchSet(
        geometry=geometry,
        shape=(ny, nx),
        origins=tuple(origins),
        split=tuple(split),
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


# --------------------------------------------------------------------------- mask_patches


def mask_patches(
    region: xr.Dataset,
    geometry: PatchGeometry = PatchGeometry(),  # noqa: B008  (frozen, immutable)
    *,
    train,
    val,
    test=None,
    oversample: int = 5,
    seed: int = 0,
) -> PatchSet:
    """The patches whose cores hold the pixels of pixel masks (spatial folds).

    Parameters
    ----------
    region : Dataset
        A region with ``label``.
    geometry : PatchGeometry
        Core and halo (the grid of :func:`make_patches`, anchored at pixel (0, 0)).
    train, val : DataArray (y, x) of bool
        Training and validation pixels (e.g. ``folds.train_mask(f, region)``).
    test : DataArray (y, x) of bool, optional
        Test pixels: their cores become the ``test`` patches.
    oversample : int
        As for :func:`make_patches` (positive = a landslide pixel of the split's mask).
    seed : int
        Recorded in the patch set (nothing is random here).

    Returns
    -------
    PatchSet
        A core appears once in each split whose mask holds one of its known pixels; cores
        holding none are left out (counted in ``n_dropped``).  Train with
        ``fit(region, model, patches=ps, train_mask=train, val_mask=val)`` so that the loss
        sees only the mask's pixels of each patch.

    Notes
    -----
    One pass over the label and the masks (a dask reduction per core block).

    Examples
    --------
    Masks split at column 48, inside the middle column of 32-pixel cores:

    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> west = region.label.x.broadcast_like(region.label) < float(region.x[48])  # (y, x)
    >>> geometry = xlandslide.PatchGeometry(32, 16)
    >>> ps = xlandslide.mask_patches(region, geometry, train=west, val=~west)
    >>> {s: c["patches"] for s, c in ps.counts().items()}  # 2 x 3 cores each, no test mask
    {'train': 6, 'val': 6, 'test': 0}
    >>> len(ps), len(set(ps.origins))  # the middle column's 3 cores are in both splits
    (12, 9)
    """
    import dask
    import dask.array as da

    if not isinstance(geometry, PatchGeometry):
        raise ConfigError(f"geometry must be a PatchGeometry, got {type(geometry).__name__}")
    if int(oversample) < 1:
        raise ConfigError(f"oversample must be >= 1, got {oversample!r}")
    if "label" not in region.data_vars:
        raise RegionError("the region has no 'label' variable; patches need the ground truth")
    label = region["label"].transpose("y", "x")
    ny, nx = label.shape
    core = geometry.core
    gy, gx = -(-ny // core), -(-nx // core)
    step = core * max(1, 4096 // core)
    lab = (label if label.chunks is not None else label.chunk(step)).data
    masks = {"train": train, "val": val, "test": test}
    layers = []
    names = [n for n, m in masks.items() if m is not None]
    for name in names:
        m = masks[name]
        if (m.sizes.get("y"), m.sizes.get("x")) != (ny, nx):
            raise GridMismatchError(
                f"the {name} mask has (y, x) sizes ({m.sizes.get('y')}, {m.sizes.get('x')}), "
                f"not the region's ({ny}, {nx})"
            )
        m = m.transpose("y", "x")
        md = (m if m.chunks is not None else m.chunk(step)).data.astype(bool)
        known = md & (lab >= 0)
        layers += [known, known & (lab == LABEL_LANDSLIDE)]
    stack = da.stack([da.asarray(a) for a in layers]).astype(np.uint8)
    stack = da.pad(stack, ((0, 0), (0, gy * core - ny), (0, gx * core - nx)))
    stack = stack.rechunk((-1, min(step, gy * core), min(step, gx * core)))
    (flags,) = dask.compute(da.coarsen(np.max, stack, {1: core, 2: core}))
    flags = np.asarray(flags, dtype=bool)
    origins, split, positive = [], [], []
    for s_i, name in enumerate(names):
        has, pos = flags[2 * s_i], flags[2 * s_i + 1]
        for i, j in zip(*np.nonzero(has)):
            origins.append((int(i) * core, int(j) * core))
            split.append(name)
            positive.append(bool(pos[i, j]))
    used = flags[0::2].any(axis=0)
    fr = (1.0, 0.0, 0.0)
    return PatchSet(
        geometry=geometry,
        shape=(ny, nx),
        origins=tuple(origins),
        split=tuple(split),
        positive=tuple(positive),
        seed=seed,
        fractions=fr,
        oversample=int(oversample),
        n_dropped=int(used.size - used.sum()),
    )


__all__ = ["PatchSet", "make_patches", "mask_patches"]
