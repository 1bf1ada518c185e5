""":func:`spatial_folds`: build the :class:`~xlandslide.patches.splits.SpatialFolds` of a
region by one of the rules of :mod:`xlandslide.patches.splits` (k-means, blocks, polygons,
user folds, random).

Building reads the label once or twice (counts, a coordinate sample), chunk by chunk; the
folds themselves are small rules (centroids, block tables, polygons, runs) that give every
pixel its fold lazily.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from .._hash import pixel_hash
from ..errors import ConfigError, GridMismatchError, PatchError
from .splits import (
    _CHUNK,
    _NO_FOLD,
    FOLD_METHODS,
    KMEANS_SAMPLE,
    SpatialFolds,
    _label_of,
    grid_of,
)


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
        The rule (see :mod:`xlandslide.patches.splits`).
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
    >>> folds = xlandslide.spatial_folds(region, "kmeans", k=3)
    >>> folds.k, len(folds.counts["labelled"])
    (3, 3)
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
        rule = _kmeans_rule(label, grid, k, seed, int(sample))
    elif method == "blocks":
        rule = _blocks_rule(label, k, seed, block_size)
    elif method == "random":
        rule = {}
    elif method == "polygons":
        rule, k = _polygon_rule(label, polygons, column)
    else:
        rule, k = _user_rule(label, folds)
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
    return SpatialFolds(method=method, k=k, rule=rule, counts=counts, **common)


def fold_counts(folds: SpatialFolds, region) -> dict:
    """Labelled and landslide pixels per fold (one pass over the label)."""
    import dask

    label = _label_of(region)
    ids = folds.fold_ids(label)
    k = folds.k
    lab = label.data
    fid = ids.data

    import dask.array as da

    def block(lab_b, id_b):
        sel = (lab_b >= 0) & (id_b >= 0)
        f = id_b[sel].astype(np.int64)
        y = lab_b[sel] == 1
        return np.concatenate([np.bincount(f, minlength=k), np.bincount(f[y], minlength=k)]).astype(
            np.int64
        )[None, None, :]

    fid = fid.rechunk(lab.chunks)
    cy, cx = lab.chunks
    vec = da.map_blocks(
        block,
        lab,
        fid,
        new_axis=2,
        chunks=((1,) * len(cy), (1,) * len(cx), (2 * k,)),
        dtype=np.int64,
        meta=np.empty((0, 0, 0), np.int64),
    )
    (total,) = dask.compute(vec.sum(axis=(0, 1)))
    return {"labelled": total[:k].tolist(), "landslide": total[k:].tolist()}


# --------------------------------------------------------------------------- rules


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


def _kmeans_rule(label, grid, k: int, seed: int, sample: int) -> dict:
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


def _blocks_rule(label, k: int, seed: int, block_size) -> dict:
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
    known = (label >= 0).data.astype(np.int64)
    padded = da.pad(known, ((0, gy * side - ny), (0, gx * side - nx)))
    padded = padded.rechunk((side * max(1, _CHUNK // side),) * 2)
    (counts,) = dask.compute(da.coarsen(np.sum, padded, {0: side, 1: side}))
    counts = np.asarray(counts).ravel()
    used = np.flatnonzero(counts > 0)
    if used.size < k:
        raise PatchError(
            f"only {used.size} blocks of {block_size} m hold labelled pixels, fewer than "
            f"k = {k} folds; use smaller blocks or fewer folds"
        )
    order = np.random.default_rng(seed).permutation(used)
    assign = np.full(gy * gx, _NO_FOLD, dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for b in order:  # to the fold with the fewest labelled pixels so far
        f = int(np.argmin(load))
        assign[b] = f
        load[f] += counts[b]
    return {"size": [side, side], "grid": [gy, gx], "assign": assign.tolist()}


def _polygon_rule(label, polygons, column):
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


def _user_rule(label, folds):
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


__all__ = ["fold_counts", "spatial_folds"]
