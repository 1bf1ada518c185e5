"""Pixel tables: the labelled pixels of a mask as rows, read chunk by chunk.

A *pixel table* holds, for every kept pixel of a mask (a fold's training pixels, a split's
validation cores), its continuous layers (float32, NaN outside the region), its class codes
(uint8, 255 = no class) and its label — 4 bytes a continuous layer and 1 a group, never the
one-hot expansion.  It is what the models fitted to convergence (the LLR's L-BFGS,
:mod:`xlandslide.train.glm`) read instead of patches.

Above ``max_pixels`` labelled pixels a **stratified, seeded, chunk-independent sample** is
kept: pixel ``i`` (row-major index ``y * nx + x``) stays when a hash of ``(i, seed)`` is
below its class's rate — landslides first (all of them while they fill at most half the
budget), stable pixels fill the rest — and every kept row carries the weight ``1 / rate``
so that weighted sums estimate the full sums without bias.  The same pixels are kept for
any chunking, and the rows are sorted by pixel index.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import xarray as xr

from ..errors import PatchError
from ..learners.sampling import sampling_rates
from ..learners.table import Layout, PixelTable

#: Labelled pixels kept in a table before sampling (about 13 bytes a pixel for the paper's
#: 2 continuous layers and 4 groups: 52 MB).
MAX_PIXELS = 4_000_000


def _layers(region, name, dim, dtype, yx) -> xr.DataArray:
    """``region[name]`` dask-backed in ``yx`` chunks, all of ``dim`` in each; an empty
    ``dim`` when the region has no such variable (no continuous layer, no group)."""
    from ..region import as_dask

    if name in region:
        return as_dask(region[name]).chunk({dim: -1, **yx})
    like = as_dask(region["label"]).chunk(yx)
    return xr.zeros_like(like, dtype=dtype).expand_dims({dim: 0}).chunk({dim: -1})


def _block(cont, codes, label, mask, r0, c0, nx, rates, seed):
    from .._hash import pixel_hash

    label = np.asarray(label)
    keep = (label >= 0) & np.asarray(mask, dtype=bool)
    rows, cols = np.nonzero(keep)
    flat = (rows + r0).astype(np.int64) * nx + (cols + c0)
    lab = label[rows, cols].astype(np.int8)
    rate = np.where(lab == 1, rates[1], rates[0])
    if rates != (1.0, 1.0):
        sel = pixel_hash(flat, seed) < rate
        rows, cols, flat, lab, rate = rows[sel], cols[sel], flat[sel], lab[sel], rate[sel]
    cont = np.asarray(cont)[:, rows, cols].T.astype(np.float32)
    codes = np.asarray(codes)[:, rows, cols].T.astype(np.uint8)
    return cont, codes, lab, 1.0 / rate, flat


def _block_tasks(region, mask, max_pixels, seed, extra):
    """The delayed ``_block`` of every chunk of the region, the layout and the column names
    (one cheap reduction first: the class counts that fix the sampling rates)."""
    import dask

    from ..region import as_dask, feature_layout

    layout = feature_layout(region)
    label = as_dask(region["label"])
    chunks = label.chunks
    yx = {"y": chunks[0], "x": chunks[1]}
    m = xr.ones_like(region["label"], dtype=bool) if mask is None else mask.astype(bool)
    m = as_dask(m).chunk(yx)
    keep = (label >= 0) & m
    n, n_pos = dask.compute(keep.sum().data, (keep & (label == 1)).sum().data)
    n, n_pos = int(n), int(n_pos)
    if n == 0:
        raise PatchError("the mask holds no labelled pixel (label 0 or 1); use another mask")
    rates = tuple(float(r) for r in sampling_rates(n - n_pos, n_pos, int(max_pixels)))
    cont = _layers(region, "continuous", "layer", np.float32, yx)
    names = list(layout.continuous)
    if extra is not None:
        dim = next(d for d in extra.dims if d not in ("y", "x"))
        more = as_dask(extra).chunk(yx).astype(np.float32).rename({dim: "layer"})
        more = more.assign_coords(layer=[str(v) for v in extra[dim].values])
        cont = xr.concat([cont, more], dim="layer").chunk({"layer": -1})
        names += [str(v) for v in extra[dim].values]
    cat = _layers(region, "categorical", "group", np.uint8, yx)
    nx = region.sizes["x"]
    starts = [np.cumsum((0, *c[:-1])) for c in chunks]
    tasks = []
    blocks = zip(
        cont.data.to_delayed().reshape(-1),
        cat.data.to_delayed().reshape(-1),
        label.data.to_delayed().reshape(-1),
        m.data.to_delayed().reshape(-1),
    )
    for b, (c, g, lab, mk) in enumerate(blocks):
        i, j = divmod(b, len(chunks[1]))
        r0, c0 = int(starts[0][i]), int(starts[1][j])
        tasks.append(dask.delayed(_block)(c, g, lab, mk, r0, c0, nx, rates, int(seed)))
    return tasks, layout, tuple(names), rates != (1.0, 1.0)


def pixel_table(
    region: xr.Dataset,
    mask: xr.DataArray | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
    seed: int = 0,
    extra: xr.DataArray | None = None,
) -> PixelTable:
    """The labelled pixels of ``mask`` (and of the region) as a
    :class:`~xlandslide.learners.PixelTable`.

    Parameters
    ----------
    region : Dataset
        A region; numpy-, store- or dask-backed (read chunk by chunk).
    mask : DataArray (y, x) of bool, optional
        Pixels to take (default: every labelled pixel).
    max_pixels : int
        Budget of rows; above it a stratified, seeded, chunk-independent sample is kept
        (module notes).
    seed : int
        Seed of that sample.
    extra : DataArray (feature, y, x), optional
        Further continuous columns (e.g. aligned features), appended after the layers.

    Examples
    --------
    >>> import xlandslide as xl
    >>> region = xl.synthetic_region((64, 64), seed=1, chunks=32)
    >>> t = pixel_table(region)
    >>> t.continuous.shape[1], t.codes.shape[1], t.n == int((region.label >= 0).sum())
    (2, 4, True)
    """
    import dask

    tasks, layout, names, sampled = _block_tasks(region, mask, max_pixels, seed, extra)
    parts = dask.compute(*tasks)
    flat = np.concatenate([p[4] for p in parts])
    order = np.argsort(flat, kind="stable")
    return PixelTable(
        continuous=np.concatenate([p[0] for p in parts])[order],
        codes=np.concatenate([p[1] for p in parts])[order],
        label=np.concatenate([p[2] for p in parts])[order],
        weight=np.concatenate([p[3] for p in parts])[order] if sampled else None,
        n_classes=layout.n_classes,
        continuous_names=names,
        group_names=layout.group_names,
    )


class DistributedTable(NamedTuple):
    """The pixel table's columns as dask arrays whose blocks stay on the cluster's workers
    (:func:`distributed_pixel_table`); one block per region chunk that kept a pixel."""

    continuous: object  # dask array (n, C) float32
    codes: object  # dask array (n, G) uint8
    label: object  # dask array (n,) int8
    weight: object  # dask array (n,) float64 (1 / rate; ones when nothing was sampled)
    layout: Layout


def distributed_pixel_table(
    region: xr.Dataset,
    mask: xr.DataArray | None = None,
    *,
    client,
    max_pixels: int = MAX_PIXELS,
    seed: int = 0,
    extra: xr.DataArray | None = None,
) -> DistributedTable:
    """:func:`pixel_table`'s rows (the same stratified, seeded, chunk-independent sample)
    left on the workers of a :class:`dask.distributed.Client` as dask arrays.

    Every chunk's rows are computed and kept (``persist``) where the chunk was read; only
    their lengths come back.  The rows are in chunk order (not sorted by pixel index):
    the same set of rows as :func:`pixel_table`.
    """
    import dask
    import dask.array as da

    tasks, layout, names, _ = _block_tasks(region, mask, max_pixels, seed, extra)
    tasks = client.persist(tasks)
    lengths = client.compute([dask.delayed(len)(t[2]) for t in tasks], sync=True)
    layout = Layout(names, layout.group_names, layout.n_classes)
    c, g = layout.n_continuous, layout.n_groups
    columns = [(0, (c,), np.float32), (1, (g,), np.uint8), (2, (), np.int8), (3, (), np.float64)]
    arrays = []
    for k, tail, dtype in columns:
        blocks = [
            da.from_delayed(t[k], shape=(n, *tail), dtype=dtype)
            for t, n in zip(tasks, lengths)
            if n
        ]
        arrays.append(da.concatenate(blocks, axis=0))
    return DistributedTable(*arrays, layout)


__all__ = ["MAX_PIXELS", "DistributedTable", "distributed_pixel_table", "pixel_table"]
