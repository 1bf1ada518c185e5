"""Lazy whole-region prediction in bounded memory.

``predict(region, model)`` returns a dask-backed :class:`xarray.DataArray` of landslide
probabilities on the region's grid.  Nothing is computed until asked; writing the result
with :func:`xlandslide.write_map` streams it block by block.

Two ways to cover a region
--------------------------
*Per-pixel models* (Naive, LLR, NN, LANN: ``ModelSpec.pixelwise``) compute each pixel from
its own inputs and, for LANN, those at its uphill points.  They need no tiles: each block of
``block_size`` pixels is overlapped by the largest ring radius (0 without aligned features)
and run in row strips, the first 1x1 convolution computed as lookups of the class codes
(:mod:`xlandslide.models.lookup`): no one-hot tensor is built, and the throughput is that of
reading the inputs.  Every pixel sees exactly the inputs it sees in a training patch, so the
result equals the patch-wise result up to float32 rounding (another order of the same sums:
a few units in the last place).

*Convolutional models* (CNN, LACNN) see far beyond any affordable halo and their pooling grid
matters, so every pixel is predicted by the tile whose *core* holds it, on a grid of
``core x core`` cores anchored at pixel (0, 0), each read with ``halo`` pixels of context
(NaN / no class beyond the region edge) — exactly the patches of :func:`xlandslide.make_patches`
when ``core`` is the training core (the default).  Blocks are whole multiples of the core,
overlapped by the halo and at least a halo long (a short last block joins its neighbour, so
no block starts off the core grid); a block's tiles are assembled and run ``batch_size`` at a
time.  A larger ``core`` than the training one computes less halo (core 128 with halo 64
computes 4x the pixels it keeps; core 512, 1.56x) but changes the result slightly (other
tile borders and pooling context): it is an explicit choice.

Where the inputs come from
--------------------------
A region without dask — a store opened with ``open_region(store, chunks=None)``, or numpy
arrays — is read inside each block's task: the task reads its window of every input, halo
included (padded beyond the region's edge), and predicts it.  The graph is one task per
block plus one key for the model and one for the (lazily indexed) sources, so on a
``dask.distributed`` cluster nothing but the map's blocks moves between workers; it is the
fastest path from a store.  A dask-backed region (a lazy synthetic or computed region, or a
store opened with dask chunks) goes through dask's overlap of the inputs instead.

Memory
------
Peak memory does not depend on the region's size.  Per dask thread (or worker) it is about
one overlapped input block — ``(block + 2 depth)^2 x (4 C + G + 2 D + 4)`` bytes for C
continuous layers, G groups and D distances — plus its output block (4 bytes a pixel); on
top, one forward at a time per device (a process-wide lock, so torch's threads and dask's do
not multiply): ``batch_size`` tiles of ``(core + 2 halo)^2`` pixels with their expanded
features (4 bytes x feature channels) and the network's activations, or one strip of at
most :data:`STRIP_BYTES` for per-pixel models.  With the defaults (block 1024, 2 threads,
the paper's 94 features, LACNN base width 16, batch 4, core 128 + 2 x 64) that is roughly
0.1 GB of blocks and 0.5 GB of forward; ``benchmarks/scale_table.py`` measures it (peak RSS
per case).

On a ``dask.distributed`` worker started by a nanny (``MALLOC_TRIM_THRESHOLD_`` set), the
first block task restores glibc's dynamic rule for temporaries up to 32 MB in that process
(:mod:`xlandslide._alloc`; without it a block runs 2.7x slower, every large temporary a
fresh ``mmap``); ``XLANDSLIDE_KEEP_MALLOC=1`` leaves the worker's allocator as it is.

Pixels outside the region — where the DEM or a continuous layer is NaN, as the data model
marks them (:mod:`xlandslide.region`) — are NaN in the map: the model would only see its
stand-in values there.  Unlabelled pixels inside the region are predicted.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import xarray as xr

from ._alloc import tune_allocator
from ._dispatch import apply_stencil
from .catalog import NODATA_CODE
from .errors import ConfigError, InputTypeError, RegionError
from .grid import pixel_size, reach
from .region import as_dask, map_like, offset_distances, stacked_offsets
from .validate import check_fits
from .windows import Sources, lazy_sources, read_and_predict, source_identities

#: Target side of a prediction block, in pixels (rounded to whole cores for tiles).
BLOCK_TARGET = 1024
#: Budget of expanded features in one strip of a per-pixel model, in bytes.
STRIP_BYTES = 64 << 20
#: Tiles per forward call of a convolutional model on the CPU (more on a GPU).
CPU_BATCH = 4
GPU_BATCH = 16
GPU_BATCH_MAX = 64


def _batch_from(model, device, batch_size, tile: int | None = None):
    """Tiles per forward: ``batch_size``, else 4 on the CPU, and on CUDA as many as a
    quarter of the device's free memory holds (an estimate of the U-Net's activations,
    between 4 and :data:`GPU_BATCH_MAX`)."""
    if batch_size is not None:
        return _positive_int("batch_size", batch_size)
    dev = device if device is not None else model.device
    if not str(dev).startswith("cuda"):
        return CPU_BATCH
    try:
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(dev))
    except (RuntimeError, AssertionError):  # pragma: no cover - no CUDA at hand
        return GPU_BATCH
    width = int(model.spec.model_config.get("base_width", 16))
    channels = model.module.in_channels + 12 * width  # input, expanded, a level's activations
    per_tile = (tile or 256) ** 2 * channels * 4 * 2
    return max(CPU_BATCH, min(GPU_BATCH_MAX, int(free // 4 // max(per_tile, 1))))


def _split_inputs(blocks, has_cont, has_cat, has_offs):
    it = iter(blocks)
    cont = next(it) if has_cont else None
    cat = next(it) if has_cat else None
    dem = next(it)
    offs = next(it) if has_offs else None
    return cont, cat, dem, offs


def _outside(dem, cont):
    """Pixels outside the region: the DEM or a continuous layer is NaN (the data model)."""
    mask = np.isnan(dem)
    if cont is not None and cont.shape[0]:
        mask |= np.isnan(cont).any(axis=0)
    return mask


def _empty(n, shape, dtype):
    return np.zeros((n, *shape), dtype=dtype)


def _pixel_block(*blocks, model, context, layout, device, flags):
    """Per-pixel model on one overlapped block, in row strips with ``context`` rows around."""
    tune_allocator()
    cont, cat, dem, offs = _split_inputs(blocks, *flags)
    ny, nx = dem.shape
    out = np.full((ny, nx), np.nan, dtype=np.float32)
    n_feat = max(len(layout), 1)
    depth = context
    rows = max(1, STRIP_BYTES // (4 * n_feat * nx) - 2 * depth)
    c, g = len(layout.continuous), len(layout.groups)
    for s in range(depth, ny - depth, rows):
        e = min(s + rows, ny - depth)
        lo, hi = s - depth, e + depth
        x_c = cont[None, :, lo:hi] if cont is not None else _empty(1, (c, hi - lo, nx), np.float32)
        x_g = cat[None, :, lo:hi] if cat is not None else None
        x_o = offs[None, :, :, lo:hi] if offs is not None else None
        if g and x_g is None:  # pragma: no cover - the layout says there are groups
            raise ConfigError("the model reads categorical codes the region does not hold")
        p = model.predict_proba(x_c, x_g, x_o, device=device, lookup=True)[0]
        out[s:e] = p[depth : depth + (e - s)]
    out[_outside(dem, cont)] = np.nan
    return out


def _tile_block(*blocks, model, core, halo, batch_size, device, flags):
    """Convolutional model on one overlapped block: its core tiles, ``batch_size`` at a time.

    Blocks start on the core grid, so tiles start at multiples of the core (in block
    coordinates the first tile's window starts at 0 and its core at ``halo``).
    """
    tune_allocator()
    cont, cat, dem, offs = _split_inputs(blocks, *flags)
    size = core + 2 * halo
    ny, nx = dem.shape
    h, w = ny - 2 * halo, nx - 2 * halo
    out = np.full((ny, nx), np.nan, dtype=np.float32)
    if h <= 0 or w <= 0:
        return out
    starts = [(i, j) for i in range(0, h, core) for j in range(0, w, core)]
    arrays = [(a, fill) for a, fill in ((cont, np.nan), (cat, NODATA_CODE), (offs, 0))]
    for k0 in range(0, len(starts), batch_size):
        group = starts[k0 : k0 + batch_size]
        batch = []
        for a, fill in arrays:
            if a is None:
                batch.append(None)
                continue
            lead = a.shape[:-2]
            b = np.full((len(group), *lead, size, size), fill, dtype=a.dtype)
            for t, (i, j) in enumerate(group):
                wy, wx = min(size, ny - i), min(size, nx - j)
                b[t, ..., :wy, :wx] = a[..., i : i + wy, j : j + wx]
            batch.append(b)
        if batch[0] is None:
            batch[0] = _empty(len(group), (0, size, size), np.float32)
        prob = model.predict_proba(*batch, device=device)
        for t, (i, j) in enumerate(group):
            ch, cw = min(core, h - i), min(core, w - j)
            out[halo + i : halo + i + ch, halo + j : halo + j + cw] = prob[
                t, halo : halo + ch, halo : halo + cw
            ]
    out[_outside(dem, cont)] = np.nan
    return out


def _block_chunks(n: int, step: int, depth: int) -> tuple[int, ...]:
    """Blocks of ``step`` pixels along an axis of ``n``; a last block shorter than ``depth``
    joins the one before it.

    Every block then starts at a multiple of ``step`` (on the core grid, when ``step`` is a
    multiple of the core) and is at least ``depth`` long, so the overlap of
    :func:`xlandslide._dispatch.apply_stencil` keeps the blocks as they are (it would merge
    a short block with a neighbour, moving a block start off the core grid).
    """
    full, rest = divmod(n, step)
    chunks = [step] * full + ([rest] if rest else [])
    if len(chunks) > 1 and chunks[-1] < depth:
        last = chunks.pop()
        chunks[-1] += last
    return tuple(chunks)


def _require(region, spec, flags) -> None:
    """The variables a prediction reads are there, with the model's layers (check=False)."""
    if not isinstance(region, xr.Dataset):
        raise InputTypeError(
            f"region must be an xarray.Dataset (xlandslide.open_region), got "
            f"{type(region).__name__}"
        )
    needed = ["dem"]
    if flags[0]:
        needed.append("continuous")
    if flags[1]:
        needed.append("categorical")
    missing = [n for n in needed if n not in region.data_vars]
    if missing:
        raise RegionError(
            f"the region has no {missing} variable(s), which the {spec.name} model reads; "
            "open a region written by xlandslide.write_region (check=True says what else "
            "does not fit)"
        )
    if spec.needs_offsets:
        have = offset_distances(region)
        lacking = [d for d in spec.distances if d not in have]
        if lacking:
            raise RegionError(
                f"the region holds no uphill offsets for {lacking} m, which the {spec.name} "
                "model reads; add them with region.landslide.with_offsets(model.spec.distances)"
            )


def _positive_int(name: str, value) -> int:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value != int(value) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def predict(
    region: xr.Dataset,
    model,
    *,
    block_size: int | None = None,
    batch_size: int | None = None,
    core: int | None = None,
    device=None,
    check: bool = True,
) -> xr.DataArray:
    """Lazy landslide probability map of ``region`` predicted by ``model``.

    Parameters
    ----------
    region : xarray.Dataset
        A region (:func:`xlandslide.open_region`) holding the model's layers and, for
        aligned models, the uphill offsets of its distances
        (``region.landslide.with_offsets(model.spec.distances)``).  Numpy- or dask-backed.
    model : LandslideModel
        A trained model (:func:`xlandslide.fit` or :func:`xlandslide.load_model`).
    block_size : int, optional
        Side of a prediction block in pixels (default 1024; rounded to whole cores, and at
        least the halo, for convolutional models).  Memory grows with its square (see the
        module notes); the result does not depend on it, up to float32 round-off (torch's
        kernels accumulate in an order that depends on the tensor's shape).  The input's
        chunks do not matter at all: it is rechunked to these blocks.
    batch_size : int, optional
        Convolutional models: tiles per forward call (default 4 on the CPU, 16 on CUDA).
    core : int, optional
        Convolutional models: core of the prediction tiles (default: the training core,
        which reproduces patch-wise inference, up to float32 round-off).  A larger core
        computes less halo and changes the result slightly.  Per-pixel models use no tiles
        and ignore it.
    device : str or torch.device, optional
        Where the forward runs (default: the model's device).
    check : bool
        Check that the model fits the region (:func:`xlandslide.validate.check_fits`).

    Returns
    -------
    xarray.DataArray
        ``susceptibility`` (y, x) float32 in [0, 1], NaN outside the region, dask-backed,
        with the region's coordinates and CRS.

    Raises
    ------
    CheckpointMismatchError
        The region does not fit the model (layout, pixel size, normalisation) or lacks
        the offsets of its distances (add them with ``region.landslide.with_offsets``, or
        use the façade ``region.landslide.predict(model)``, which adds them lazily).
    HaloError
        The model's looking distances do not fit its halo
        (:func:`xlandslide.grid.check_halo`, the check of ``fit`` and ``uphill_offsets``).
    ConfigError
        ``block_size``, ``batch_size`` or ``core`` is not a positive integer.

    Notes
    -----
    The dask graph carries the model once (one key that every block depends on):
    ``dask.distributed`` ships it once to each worker, not with every task.

    Examples
    --------
    >>> import xlandslide
    >>> region = xlandslide.synthetic_region(shape=(96, 96), seed=0)
    >>> patches = xlandslide.make_patches(region, xlandslide.PatchGeometry(32, 16), seed=0)
    >>> model = xlandslide.fit(region, "llr", patches=patches, progress=False)
    >>> prob = region.landslide.predict(model)  # lazy
    >>> prob.dims, prob.dtype.name, prob.attrs["units"]
    (('y', 'x'), 'float32', '1')
    >>> 0 <= float(prob.min()) < float(prob.max()) <= 1  # NaN outside the region
    True

    A stored region and checkpoint work the same way, and :func:`xlandslide.write_map`
    streams the map block by block:

    >>> model = xlandslide.load_model("demo-output/models/lacnn.pt")  # doctest: +SKIP
    >>> region = xlandslide.open_region("demo-output/region.zarr")  # doctest: +SKIP
    >>> xlandslide.write_map(region.landslide.predict(model), "map.zarr")  # doctest: +SKIP
    """
    import dask
    from dask.base import tokenize

    spec = _spec_of(model)
    if block_size is not None:
        block_size = _positive_int("block_size", block_size)
    if core is not None:
        core = _positive_int("core", core)
    bs = _batch_from(
        model, device, batch_size, (core or spec.geometry.core) + 2 * spec.geometry.halo
    )
    if check:
        check_fits(region, spec, require_offsets=True)
    layout = spec.layout  # check_fits: the region's layout is the model's
    flags = (bool(layout.continuous), bool(layout.groups), spec.needs_offsets)
    if spec.pixelwise:
        depth = reach(spec.distances, pixel_size(region)) if spec.needs_offsets else 0
        step = block_size if block_size is not None else BLOCK_TARGET
        kernel, extra = _pixel_block, {"context": depth, "layout": layout}
    else:
        depth = spec.geometry.halo
        tile_core = spec.geometry.core if core is None else core
        target = block_size if block_size is not None else max(BLOCK_TARGET, tile_core)
        # whole cores, and at least the halo (the overlap keeps blocks at least that long)
        step = tile_core * max(1, round(target / tile_core), -(-depth // tile_core))
        kernel, extra = _tile_block, {"core": tile_core, "halo": depth, "batch_size": bs}
    if not check:  # the variables the model reads, at least (check_fits checks them all)
        _require(region, spec, flags=flags[:2])
    ny, nx = region.sizes["y"], region.sizes["x"]
    yx = (_block_chunks(ny, step, depth), _block_chunks(nx, step, depth))
    # the model is one key of the graph (named by its weights): a worker receives it once
    # and every block task depends on it, instead of carrying a copy of the weights each
    token = tokenize(model)
    delayed_model = dask.delayed(model, name=f"xlandslide-model-{spec.name}-{token}", pure=True)
    common = {"model": delayed_model, "device": device, "flags": flags, **extra}
    sources = lazy_sources(region, spec, flags)
    if sources is not None:
        data = _from_sources(sources, region, spec, yx, kernel, depth, (token, extra), common)
    else:
        data = _from_arrays(region, spec, yx, step, kernel, depth, common)
    return _as_map(data, region, spec)


def _spec_of(model):
    spec = getattr(model, "spec", None)
    if spec is None or not hasattr(model, "predict_proba"):
        raise ConfigError(
            f"model must be a LandslideModel (xlandslide.fit or xlandslide.load_model), got "
            f"{type(model).__name__}"
        )
    return spec


def _from_sources(sources, region, spec, yx, kernel, depth, name_of, common):
    """A region without dask (a store opened with chunks=None, or numpy): every block's
    task reads its own window, halo included, so that on a cluster nothing but the output
    moves between workers (one key for the sources, shipped once per worker), named by the
    identity of the inputs (a store's manifest token, never object ids: a resumed write in
    another process must find the same name), without reading them."""
    import dask
    import dask.array as da
    from dask.base import tokenize

    sizes = tuple(sorted((str(d), int(n)) for d, n in region.sizes.items()))
    key = f"xlandslide-sources-{tokenize(source_identities(sources), sizes)}"
    token, extra = name_of
    return da.map_blocks(
        read_and_predict,
        chunks=yx,
        dtype=np.float32,
        meta=np.empty((0, 0), np.float32),
        name=f"xlandslide-predict-{spec.name}-{tokenize(token, key, yx, depth, extra)}",
        sources=dask.delayed(Sources(sources), name=key, pure=True, traverse=False),
        kernel=kernel,
        depth=depth,
        **common,
    )


def _from_arrays(region, spec, yx, step, kernel, depth, common):
    """A dask- or numpy-backed region: its arrays rechunked to the blocks, mapped with
    :func:`xlandslide._dispatch.apply_stencil` (depth: the model's reach)."""
    import dask.array as da

    flags = common["flags"]
    inputs, fills = [], []
    if flags[0]:
        inputs.append(as_dask(region["continuous"], step).data.rechunk((-1, *yx)))
        fills.append(np.nan)
    if flags[1]:
        inputs.append(as_dask(region["categorical"], step).data.rechunk((-1, *yx)))
        fills.append(NODATA_CODE)
    inputs.append(as_dask(region["dem"], step).data.rechunk(yx))
    fills.append(np.nan)
    if flags[2]:
        offs = da.asarray(stacked_offsets(region, spec.distances))
        inputs.append(offs.rechunk((-1, -1, *yx)))
        fills.append(0)
    return apply_stencil(
        kernel,
        *inputs,
        depth=depth,
        dtype="float32",
        fills=fills,
        name=f"xlandslide-predict-{spec.name}",
        **common,
    )


def _as_map(data, region, spec) -> xr.DataArray:
    return map_like(
        region["dem"],
        data,
        "susceptibility",
        {
            "long_name": "landslide susceptibility (probability of a landslide pixel)",
            "units": "1",
            "model": spec.name,
        },
    )


def halo_overhead(core: int, halo: int) -> float:
    """Pixels computed per pixel kept by tiles of ``core`` with ``halo``: ``(c + 2h)^2 / c^2``."""
    return math.pow((core + 2 * halo) / core, 2)


__all__ = ["BLOCK_TARGET", "halo_overhead", "predict"]
