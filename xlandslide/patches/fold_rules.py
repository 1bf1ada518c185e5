"""The rules of spatial folds: how each is made from a region's label and how it gives a
pixel its fold (:func:`fold_of_pixels`, given a
:class:`~xlandslide.patches.folds.SpatialFolds`, which this module does not import); the
checks made before and the counts made after (:func:`fold_counts`).  The rules themselves
are described in :mod:`xlandslide.patches.folds`, whose
:func:`~xlandslide.patches.folds.spatial_folds` calls the makers here.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from .._hash import pixel_hash
from ..errors import ConfigError, GridMismatchError, PatchError, RegionError

_NO_FOLD = -1
_CHUNK = 1024


def _per_block(data, func) -> list:
    """``func(block, r0, c0)`` on every block of a dask array, computed at once (a list)."""
    import dask

    rows = np.r_[0, np.cumsum(data.chunks[0])]
    cols = np.r_[0, np.cumsum(data.chunks[1])]
    blocks = data.to_delayed()
    tasks = [
        dask.delayed(func)(blocks[i, j], int(rows[i]), int(cols[j]))
        for i in range(blocks.shape[0])
        for j in range(blocks.shape[1])
    ]
    return list(dask.compute(*tasks))


def _labelled_positions(label: xr.DataArray, keep=None):
    """(rows, cols) of the labelled pixels (row-major), optionally thinned by ``keep``.

    ``keep(flat) -> bool array`` selects pixels by their row-major index.  One compute.
    """
    nx = label.sizes["x"]

    def block(lab, r0, c0):
        r, c = np.nonzero(np.asarray(lab) >= 0)
        flat = (r + r0).astype(np.int64) * nx + (c + c0)
        return flat if keep is None else flat[keep(flat)]

    parts = _per_block(label.data, block)
    flat = np.sort(np.concatenate([np.zeros(0, np.int64), *parts]))
    return flat // nx, flat % nx


def _count_known(label) -> int:
    import dask

    return int(dask.compute((label >= 0).sum().data)[0])


def kmeans_rule(label, grid, k: int, seed: int, sample: int) -> dict:
    from scipy.cluster.vq import ClusterError, kmeans2

    if sample < k:
        raise ConfigError(f"sample must be at least k = {k}, got {sample}")
    n = _count_known(label)
    if n < k:
        raise PatchError(f"{n} labelled pixels cannot make {k} k-means folds; use fewer folds")
    rate = min(1.0, sample / n)
    keep = None if rate >= 1.0 else (lambda flat: pixel_hash(flat, seed + 1) < rate)
    rows, cols = _labelled_positions(label, keep)
    xy = np.column_stack([grid["y0"] + grid["dy"] * rows, grid["x0"] + grid["dx"] * cols])
    centre = xy.mean(axis=0)
    scale = float(xy.std()) or 1.0
    try:
        cent, _ = kmeans2(
            (xy - centre) / scale, k, minit="++", seed=np.random.default_rng(seed), missing="raise"
        )
    except ClusterError:
        raise PatchError(
            f"k-means left a fold empty with k = {k} on {len(xy)} labelled pixels; use fewer "
            "folds or another seed"
        ) from None
    cent = cent * scale + centre
    order = np.lexsort((cent[:, 1], -cent[:, 0]))  # north to south, then west to east
    cent = cent[order]
    return {"centroids": cent.tolist(), "n_clustered": len(xy)}


def blocks_rule(label, k: int, seed: int, block_size) -> dict:
    import dask
    import dask.array as da

    from ..grid import pixel_size

    if block_size is None:
        raise ConfigError("the 'blocks' folds need block_size=... (metres, e.g. 1000)")
    if isinstance(block_size, bool) or not isinstance(block_size, (int, float, np.number)):
        raise ConfigError(f"block_size is a side in metres, got {block_size!r}")
    if not math.isfinite(block_size) or block_size <= 0:
        raise ConfigError(
            f"block_size must be a positive side in metres (e.g. 1000), got {block_size!r}"
        )
    px = pixel_size(label)
    side = max(1, round(float(block_size) / px))
    ny, nx = label.sizes["y"], label.sizes["x"]
    gy, gx = -(-ny // side), -(-nx // side)
    lab = label.data
    pad = ((0, gy * side - ny), (0, gx * side - nx))
    per_block = []
    for part in ((lab >= 0), (lab == 1)):
        padded = da.pad(part.astype(np.int64), pad).rechunk((side * max(1, _CHUNK // side),) * 2)
        per_block.append(da.coarsen(np.sum, padded, {0: side, 1: side}).ravel())
    counts, positives = (np.asarray(c) for c in dask.compute(*per_block))
    used = np.flatnonzero(counts > 0)
    if used.size < k:
        raise PatchError(
            f"only {used.size} blocks of {block_size} m hold labelled pixels, fewer than "
            f"k = {k} folds; use smaller blocks or fewer folds"
        )
    assign = np.full(gy * gx, _NO_FOLD, dtype=np.int64)
    assign[used] = deal_blocks(counts[used], positives[used], k, seed)
    return {"size": [side, side], "grid": [gy, gx], "assign": assign.tolist()}


#: Seeded deals of the blocks tried by :func:`deal_blocks` (fewer on a grid of many blocks).
BLOCK_DEALS = 16


def deal_blocks(labelled, positives, k: int, seed: int) -> np.ndarray:
    """The fold of each block: folds balanced by landslide and by labelled pixels.

    Each deal takes the blocks in a seeded random order and gives each to the fold whose
    larger share (of all landslide pixels, of all labelled pixels) is smallest once the
    block is added.  Of :data:`BLOCK_DEALS` deals (fewer when there are more than 20 000
    blocks) the one whose worst fold strays least from ``1 / k`` of either count is kept.
    A fold's share of the landslides thus differs from ``1 / k`` by at most about the
    largest block's share; the block order still varies with the seed (as blockCV's
    ``cv_spatial`` keeps the most even of random assignments).

    >>> folds = deal_blocks(np.array([10, 10, 10, 10]), np.array([5, 0, 5, 0]), 2, 0)
    >>> sorted(folds[[0, 2]].tolist()), sorted(folds[[1, 3]].tolist())  # a landslide block each
    ([0, 1], [0, 1])
    """
    labelled = np.asarray(labelled, dtype=np.float64)
    positives = np.asarray(positives, dtype=np.float64)
    n = labelled.size
    share = np.stack([positives / max(positives.sum(), 1.0), labelled / labelled.sum()], 1)
    rng = np.random.default_rng(seed)
    best, best_gap = None, np.inf
    for _ in range(max(1, min(BLOCK_DEALS, 20_000 * BLOCK_DEALS // max(n, 1)))):
        assign = np.empty(n, dtype=np.int64)
        load = np.zeros((k, 2))
        for b in rng.permutation(n):
            f = int(np.argmin((load + share[b]).max(axis=1)))
            assign[b] = f
            load[f] += share[b]
        gap = float(np.abs(load - 1.0 / k).max())
        if gap < best_gap - 1e-12:
            best, best_gap = assign, gap
    return best


def polygon_rule(label, polygons, column):
    from ..io.vector import _gpd

    if polygons is None:
        raise ConfigError("the 'polygons' folds need polygons=... (a GeoDataFrame or a path)")
    gpd = _gpd()
    gdf = polygons if isinstance(polygons, gpd.GeoDataFrame) else gpd.read_file(polygons)
    crs = label.rio.crs
    if gdf.crs is None or crs is None or gdf.crs != crs:
        raise GridMismatchError(
            f"the polygons' CRS ({gdf.crs}) is not the region's ({crs}); reproject them "
            "explicitly with gdf.to_crs(region.rio.crs)"
        )
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if len(gdf) < 2:
        raise ConfigError(f"leave-region-out needs at least 2 polygons, got {len(gdf)}")
    if column is None:
        ids = np.arange(len(gdf))
    else:
        if column not in gdf.columns:
            raise ConfigError(f"no column {column!r} in the polygons; columns: {list(gdf)}")
        values = gdf[column].to_numpy()
        uniq = sorted(set(values.tolist()))
        ids = np.array([uniq.index(v) for v in values.tolist()])
    k = int(ids.max()) + 1
    if k < 2:
        raise ConfigError(f"the column {column!r} gives a single fold; leave-region-out needs 2")
    rule = {"wkt": [g.wkt for g in gdf.geometry], "folds": ids.tolist()}
    return rule, k


def user_rule(label, folds):
    if folds is None:
        raise ConfigError("the 'user' folds need folds=... (a fold-id raster or array)")
    nx = label.sizes["x"]
    if isinstance(folds, xr.DataArray) and {"y", "x"} <= set(folds.dims):
        from ..grid import check_same_grid

        check_same_grid(folds, label, "the fold raster and the region")
        starts, values = _raster_runs(folds.transpose("y", "x"), nx)
    else:
        ids = np.asarray(folds)
        if ids.ndim != 1:
            raise ConfigError(
                f"user folds are a (y, x) DataArray or a 1-D array (one id per labelled "
                f"pixel, row-major), got an array of shape {ids.shape}"
            )
        rows, cols = _labelled_positions(label)
        if ids.size != rows.size:
            raise ConfigError(
                f"{ids.size} fold ids for {rows.size} labelled pixels; give one id per "
                "labelled pixel (label >= 0) in row-major order"
            )
        ids = _integer_ids(ids)
        flat = rows * nx + cols
        # runs: each labelled pixel starts its value, the pixel after it starts "no fold"
        starts = np.concatenate([flat + 1, flat])
        values = np.concatenate([np.full(ids.size, _NO_FOLD), ids])
        order = np.argsort(starts, kind="stable")
        starts, values = starts[order], values[order]
        # at one start the later entry wins: a labelled pixel right after another one
        last = np.r_[starts[1:] != starts[:-1], True]
        starts, values = starts[last], values[last]
        starts, values = _merge_runs(starts, values)
    valid = values[values >= 0]
    if valid.size == 0:
        raise ConfigError("the user folds give no pixel a fold (every id is negative)")
    k = int(valid.max()) + 1
    return {"starts": starts.tolist(), "values": values.tolist()}, k


def _integer_ids(ids: np.ndarray) -> np.ndarray:
    if ids.dtype.kind == "f":
        bad = np.isfinite(ids) & (ids != np.round(ids))
        if bad.any():
            raise ConfigError("fold ids must be integers (negative or NaN: no fold)")
        ids = np.where(np.isfinite(ids), ids, _NO_FOLD)
    elif ids.dtype.kind not in "iu":
        raise ConfigError(f"fold ids must be integers, got dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    if ids.size and ids.max() > 32000:
        raise ConfigError(f"fold ids must be below 32000, got {ids.max()}")
    return np.where(ids < 0, _NO_FOLD, ids)


def _merge_runs(starts, values):
    keep = np.r_[True, values[1:] != values[:-1]]
    return starts[keep], values[keep]


def _raster_runs(raster: xr.DataArray, nx: int):
    """Run-length encoding (row-major) of a fold-id raster, block by block, one compute."""
    data = raster.data if raster.chunks is not None else raster.chunk(_CHUNK).data

    def block(b, r0, c0):
        b = np.asarray(b)
        ids = _integer_ids(b.ravel()).reshape(b.shape)
        change = np.ones(ids.shape, dtype=bool)
        change[:, 1:] = ids[:, 1:] != ids[:, :-1]
        r, c = np.nonzero(change)
        return np.stack([(r + r0).astype(np.int64) * nx + (c + c0), ids[r, c]])

    runs = np.concatenate(_per_block(data, block), axis=1)
    order = np.argsort(runs[0], kind="stable")
    return _merge_runs(runs[0][order], runs[1][order])


def _fold_block(block_info=None, *, folds) -> np.ndarray:
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    return fold_of_pixels(folds, np.arange(r0, r1), np.arange(c0, c1))


def fold_of_pixels(folds, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
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


def fold_counts(folds, region) -> dict:
    """Labelled pixels, landslide pixels and landslides per fold (one pass over the label).

    ``"landslides"`` counts the separate landslides of each fold's test set: 8-connected
    areas of landslide pixels (a point inventory: each point), found chunk by chunk, so a
    landslide cut by a chunk border (1024 pixels by default) or a fold border counts once
    on each side.
    """
    import dask
    import dask.array as da

    label = _label_of(region)
    ids = folds.fold_ids(label)
    k = folds.k
    lab = label.data

    def block(lab_b, id_b):
        from scipy import ndimage

        sel = (lab_b >= 0) & (id_b >= 0)
        f = id_b[sel].astype(np.int64)
        y = lab_b[sel] == 1
        areas, _ = ndimage.label((lab_b == 1) & (id_b >= 0), structure=np.ones((3, 3)))
        pairs = np.unique(np.stack([areas[areas > 0], id_b[areas > 0].astype(np.int64)]), axis=1)
        out = [np.bincount(f, minlength=k), np.bincount(f[y], minlength=k)]
        out.append(np.bincount(pairs[1], minlength=k))
        return np.concatenate(out).astype(np.int64)[None, None, :]

    fid = ids.data.rechunk(lab.chunks)
    cy, cx = lab.chunks
    vec = da.map_blocks(
        block,
        lab,
        fid,
        new_axis=2,
        chunks=((1,) * len(cy), (1,) * len(cx), (3 * k,)),
        dtype=np.int64,
        meta=np.empty((0, 0, 0), np.int64),
    )
    (total,) = dask.compute(vec.sum(axis=(0, 1)))
    names = ("labelled", "landslide", "landslides")
    return {name: total[i * k : (i + 1) * k].tolist() for i, name in enumerate(names)}


def _fold_count(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ConfigError(f"k must be an integer >= 2 (the number of folds), got {k!r}")
    return int(k)


def _check_buffer(label, buffer: float) -> None:
    """A buffer needs a metric grid (said now, not at training), and one as wide as the
    region leaves no training pixel: refused before any work."""
    from ..grid import pixel_size

    px = pixel_size(label)
    across = px * math.hypot(label.sizes["y"], label.sizes["x"])
    if not math.isfinite(buffer) or buffer >= across:
        raise ConfigError(
            f"a buffer of {buffer:g} m excludes every training pixel: the region is "
            f"{across:.0f} m across; use a buffer well below that (a few times the pixel "
            f"size, {px:g} m, or the landslides' size)"
        )


def _check_fold_count(label, k: int) -> None:
    """Each fold is scored on its landslide and stable pixels: ``k`` at most the number of
    either (one pass over the label, before any fold is made)."""
    import dask

    lab = label.data
    landslide, stable = dask.compute((lab == 1).sum(), (lab == 0).sum())
    fewest = int(min(landslide, stable))
    if k > fewest:
        raise PatchError(
            f"k = {k} folds need a landslide and a stable pixel each, but the region has "
            f"{int(landslide)} landslide and {int(stable)} stable pixels; use at most "
            f"{fewest} folds (5 or 10 is usual)"
        )


def _crs_wkt(label) -> str | None:
    try:
        import rioxarray  # noqa: F401

        crs = label.rio.crs
    except Exception:  # no grid mapping
        return None
    return None if crs is None else crs.to_wkt()


__all__ = [
    "BLOCK_DEALS",
    "blocks_rule",
    "deal_blocks",
    "fold_counts",
    "fold_of_pixels",
    "kmeans_rule",
    "polygon_rule",
    "user_rule",
]
