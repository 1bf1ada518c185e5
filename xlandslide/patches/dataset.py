"""Training patches as a map-style torch Dataset: :class:`PatchDataset`.

Items are the compact inputs of one patch (core plus halo) — continuous layers, class codes,
uphill offsets and labels — read through ``xbatcher.BatchGenerator`` from a region that is
padded lazily, so that partial patches at the region's edges are kept (xbatcher alone drops
them).  A bounded in-memory cache serves each patch once per run: later epochs do not read
the store (or recompute a lazy region) again.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import xarray as xr
from xarray.backends import BackendArray

from ..catalog import LABEL_UNKNOWN, NODATA_CODE
from ..errors import ConfigError, GridMismatchError, LabelError, RegionError
from ..region import OFFSET_VARS
from .grid import PatchSet
from .splits import check_split

#: Fill value of each variable outside the region.
FILLS = {
    "continuous": np.nan,
    "categorical": NODATA_CODE,
    "uphill_dy": 0,
    "uphill_dx": 0,
    "label": LABEL_UNKNOWN,
    "label_mask": False,
}

#: Default budget of the patch cache of a :class:`PatchDataset`, in bytes.
CACHE_BYTES = 1 << 30


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


class _LRU:
    """Patches by id, least recently used dropped first, at most ``limit`` bytes in all."""

    def __init__(self, limit: int):
        self.limit = int(limit)
        self.items: OrderedDict = OrderedDict()
        self.nbytes = 0
        self.hits = self.misses = 0

    def get(self, key):
        value = self.items.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self.items.move_to_end(key)
        return value

    def put(self, key, value: dict) -> bool:
        """Keep ``value`` (unless it exceeds the budget); whether it was kept."""
        size = sum(a.nbytes for a in value.values())
        if size > self.limit:
            return False
        self.items[key] = value
        self.nbytes += size
        while self.nbytes > self.limit:
            _, old = self.items.popitem(last=False)
            self.nbytes -= sum(a.nbytes for a in old.values())
        return True


class PatchDataset:
    """The patches of one split of a region as a map-style torch Dataset.

    Parameters
    ----------
    region : Dataset
        The region the :class:`PatchSet` was made from (numpy, lazily indexed — e.g.
        ``open_region(store, chunks=None)``, the fastest — or dask-backed).  Its uphill
        offsets, when it holds them, are read for every distance it holds: select them first
        (:func:`xlandslide.region.select_offsets`) to read fewer.
    patchset : PatchSet
    split : {"train", "val", "test"}
    oversample : bool, optional
        Repeat positive patches ``patchset.oversample`` times; default True for ``"train"``
        and False otherwise.
    offsets : bool
        Read the uphill offsets (default: when the region holds them).
    label_mask : DataArray (y, x) of bool, optional
        Pixels whose label counts: elsewhere the label reads as -1 (unknown), so no loss
        sees it (spatial folds use it to hide the held-out pixels).
    cache_bytes : int
        Budget of the in-memory patch cache (default 1 GiB; 0 disables it).  Every
        DataLoader worker holds its own cache.

    Items are dicts of tensors for patch ``patchset.indices(split, oversample)[i]``
    (``S = core + 2 halo``):

    - ``"continuous"``: float32 ``(C, S, S)``, NaN outside the region;
    - ``"categorical"``: uint8 ``(G, S, S)`` class codes, 255 outside the region;
    - ``"offsets"``: int8 ``(D, 2, S, S)``, ``[:, 0]`` = uphill_dy and ``[:, 1]`` =
      uphill_dx, 0 (no offset) outside the region — when read;
    - ``"label"``: int8 ``(S, S)``, -1 outside the region (and outside ``label_mask``);
    - ``"index"``: the patch id in the PatchSet.

    Notes
    -----
    The region is padded lazily — ``halo`` pixels on the top/left, ``halo`` plus what
    completes the last core on the bottom/right — so that ``xbatcher.BatchGenerator`` with
    ``input_dims = S`` and ``input_overlap = 2 halo`` (a stride of ``core``) yields exactly
    the patch grid, partial edge patches included; generator item ``i * n_cols + j`` is grid
    patch (i, j).  One generator per variable keeps xbatcher from stacking the ``layer``,
    ``group`` and ``distance`` dimensions together.  Without dask only the window is read;
    with dask the windows' graph is computed, one ``dask.compute`` per item — with the
    synchronous scheduler inside DataLoader workers, because a forked worker inherits dask's
    thread pool without its threads and would hang.

    The cache holds each patch's numpy windows, read-only; items are fresh tensors (copies),
    so a caller changing an item in place changes neither the cache nor the region.

    Map-style on purpose: the DataLoader's sampler gives every worker distinct indices, and
    shuffling and oversampling are plain index lists.  An ``IterableDataset`` (such as
    xbatcher's) is copied whole into every worker, which would then each yield every patch
    unless it sharded itself with ``get_worker_info``.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> train = xlandslide.PatchDataset(region, patches, "train")
    >>> c = patches.counts()["train"]  # 7 patches, all positive, each 5 times in all
    >>> len(train) == c["patches"] + 4 * c["positive"] == 35
    True
    >>> len(xlandslide.PatchDataset(region, patches, "val"))  # not oversampled
    1
    >>> item = train[0]  # patch 2: the top-right core, origin (0, 64)
    >>> item["index"], patches.origins[item["index"]]
    (2, (0, 64))
    >>> {k: tuple(v.shape) for k, v in item.items() if k != "index"}  # S = 32 + 2 x 16
    {'continuous': (2, 64, 64), 'categorical': (4, 64, 64), 'label': (64, 64)}
    >>> bool((item["label"][:16] == -1).all())  # the halo above the region is padding
    True
    >>> bool(item["continuous"][:, :16].isnan().all())
    True
    """

    def __init__(
        self,
        region: xr.Dataset,
        patchset: PatchSet,
        split: str = "train",
        *,
        oversample: bool | None = None,
        offsets: bool | None = None,
        label_mask: xr.DataArray | None = None,
        cache_bytes: int = CACHE_BYTES,
    ):
        check_split(split)
        if not isinstance(patchset, PatchSet):
            raise ConfigError(f"patchset must be a PatchSet, got {type(patchset).__name__}")
        if (region.sizes.get("y"), region.sizes.get("x")) != patchset.shape:
            raise GridMismatchError(
                f"the patch set was made for a region of shape {patchset.shape} but this one "
                f"has (y, x) sizes ({region.sizes.get('y')}, {region.sizes.get('x')}); "
                "use the region the patches were made from, or make_patches(region)"
            )
        if "label" not in region.data_vars:
            raise RegionError("the region has no 'label' variable; patches need the ground truth")
        names = [v for v in ("continuous", "categorical") if v in region.data_vars]
        has = [v in region.data_vars for v in OFFSET_VARS]
        if offsets is None:
            offsets = all(has)
        if offsets:
            if not all(has):
                raise RegionError(
                    "the patches should carry uphill offsets but the region holds "
                    "no uphill_dy / uphill_dx pair; add them with "
                    "region.landslide.with_offsets(distances)"
                )
            names += list(OFFSET_VARS)
        names.append("label")
        self._mask = None
        if label_mask is not None:
            if (
                label_mask.sizes.get("y") != patchset.shape[0]
                or label_mask.sizes.get("x") != patchset.shape[1]
            ):
                raise GridMismatchError(
                    f"label_mask has (y, x) sizes {tuple(label_mask.sizes.values())}, not the "
                    f"region's {patchset.shape}"
                )
            self._mask = label_mask.astype(bool)
            names.append("label_mask")
        if int(cache_bytes) < 0:
            raise ConfigError(f"cache_bytes must be >= 0, got {cache_bytes!r}")
        if oversample is None:
            oversample = split == "train"
        self.region = region
        self.patchset = patchset
        self.split = split
        self.oversample = bool(oversample)
        self.variables = tuple(names)
        self.ids = patchset.indices(split, oversample=self.oversample)
        self.cache = _LRU(int(cache_bytes))
        self._generators = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self):  # generators are rebuilt in each DataLoader worker
        state = self.__dict__.copy()
        state["_generators"] = None
        state["cache"] = _LRU(self.cache.limit)
        return state

    def generator_index(self, k: int) -> int:
        """Index, in the xbatcher generators, of patch ``k`` of the PatchSet."""
        i, j = self.patchset.grid_index(k)
        return i * self.patchset.grid_shape[1] + j

    def _source(self, name: str) -> xr.DataArray:
        return self._mask if name == "label_mask" else self.region[name]

    def _build_generators(self) -> dict:
        import xbatcher

        ps = self.patchset
        g = ps.geometry
        ny, nx = ps.shape
        gy, gx = ps.grid_shape
        pad = {"y": (g.halo, g.halo + gy * g.core - ny), "x": (g.halo, g.halo + gx * g.core - nx)}
        gens = {}
        for name in self.variables:
            da_ = self._source(name)
            lead = [d for d in da_.dims if d not in ("y", "x")]
            da_ = da_.transpose(*lead, "y", "x")
            padded = _pad_variable(da_.variable, pad, FILLS[name])
            arr = xr.DataArray(padded, name=name)
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
        """The numpy windows of patch ``k`` (PatchSet id), one per variable (cached)."""
        cached = self.cache.get(k)
        if cached is not None:
            return cached
        import dask

        if self._generators is None:
            self._generators = self._build_generators()
        gi = self.generator_index(k)
        windows = {name: gen[gi].transpose(..., "y", "x") for name, gen in self._generators.items()}
        lazy = {n: w.data for n, w in windows.items() if w.chunks is not None}
        out = _read_windows({n: w for n, w in windows.items() if w.chunks is None})
        if lazy:
            kwargs = {}
            if _in_dataloader_worker():
                # a forked worker inherits dask's thread pool without its threads (it would
                # hang); the workers are the parallelism, so compute in the worker's thread
                kwargs["scheduler"] = "synchronous"
            (computed,) = dask.compute(lazy, **kwargs)
            out.update(computed)
        bad = (out["label"] < LABEL_UNKNOWN) | (out["label"] > 1)
        if bad.any():
            values = sorted({int(v) for v in np.unique(out["label"][bad])})
            raise LabelError(
                f"patch {k} holds label values {values[:5]}: a label is 1 (landslide), 0 "
                "(stable) or -1 (unknown); rebuild the labels (xlandslide.build_region, "
                "labels_from_points / labels_from_polygons) or recode them"
            )
        mask = out.pop("label_mask", None)
        if mask is not None:
            out["label"] = np.where(mask, out["label"], np.int8(LABEL_UNKNOWN)).astype(np.int8)
        if self.cache.put(k, out):
            for array in out.values():
                # read-only: items of cached windows are copies (see _tensor), so no caller
                # can change the cache (nor, through a view, the region's own arrays)
                array.setflags(write=False)
        return out

    def __getitem__(self, i: int) -> dict:
        import torch

        k = self.ids[i]
        arrays = self.read(k)
        item = {}
        for name, dtype in (("continuous", np.float32), ("categorical", np.uint8)):
            if name in arrays:
                item[name] = _tensor(arrays[name], dtype)
            else:  # a layout without continuous layers (or groups): an empty channel axis
                size = self.patchset.geometry.size
                item[name] = torch.zeros((0, size, size), dtype=getattr(torch, dtype.__name__))
        if "uphill_dy" in arrays:
            offsets = np.stack([arrays["uphill_dy"], arrays["uphill_dx"]], axis=1)
            item["offsets"] = _tensor(offsets, np.int8)
        item["label"] = _tensor(arrays["label"], np.int8)
        item["index"] = k
        return item


#: (process id, thread pool) reading the variables of a patch at once; one per process (a
#: forked DataLoader worker gets its own: threads do not survive a fork).
_POOL: tuple[int, object] | None = None


def _read_windows(windows: dict) -> dict[str, np.ndarray]:
    """``.values`` of lazily indexed windows, every variable read at once in threads.

    A store's reads release the GIL while they decompress, so reading the continuous
    layers, the codes, the offsets and the label together is faster than one after another
    (and faster than plain sequential zarr reads of the same windows).
    """
    global _POOL
    if len(windows) < 2:
        return {n: np.asarray(w.values) for n, w in windows.items()}
    import os
    from concurrent.futures import ThreadPoolExecutor

    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(8, thread_name_prefix="xlandslide-patch"))
    futures = {n: _POOL[1].submit(lambda w=w: np.asarray(w.values)) for n, w in windows.items()}
    return {n: f.result() for n, f in futures.items()}


def _tensor(array, dtype):
    """A tensor of ``array``; a copy when it is read-only (cached windows are)."""
    import torch

    array = np.ascontiguousarray(array, dtype=dtype)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)


def _in_dataloader_worker() -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and torch.utils.data.get_worker_info() is not None


__all__ = ["CACHE_BYTES", "FILLS", "PatchDataset"]
