"""Lazy whole-region prediction.

``predict(region, model)`` returns a dask-backed :class:`xarray.DataArray` of landslide
probabilities on the region's grid.  Nothing is computed until asked; writing the result
to Zarr or GeoTIFF streams block by block.

How the map is tiled (and why it has no seams)
----------------------------------------------
A U-Net's output depends on where its pooling grid starts, and its field of view is wider
than any halo one can afford, so cutting the map along arbitrary dask chunks would leave
seams and make the result depend on the chunking.  Instead every pixel is predicted by the
patch whose *core* holds it, on a grid of ``core x core`` cores anchored at pixel (0, 0) —
exactly the patches of :func:`xlandslide.make_patches`, each read with ``halo`` pixels of
context on every side (NaN beyond the region edge, as in training).  The inputs are
rechunked (never in place) to chunks that are whole multiples of the core, overlapped by
``halo`` (the ``map_overlap`` depth) and each block runs one batched torch forward over its
cores.  The result is therefore the same for any input chunking (up to float round-off of
batched convolutions, below 1e-5) and equal to patch-wise inference.

Pixels outside the region (DEM is NaN) are NaN in the map; unlabelled pixels inside the
region are predicted.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._dispatch import apply_stencil
from .grid import PatchGeometry

#: Target side of a prediction block, in pixels (rounded to whole cores).
BLOCK_TARGET = 1024


def _block_chunks(n: int, step: int) -> tuple[int, ...]:
    full, rest = divmod(n, step)
    return (step,) * full + ((rest,) if rest else ())


def _predict_block(features, dem, offsets=None, *, model, geometry, batch_size, device):
    """Predict one overlapped block: every core tile inside it, one batched forward.

    ``features`` (F, h + 2H, w + 2H), ``dem`` (h + 2H, w + 2H), ``offsets`` (D, 2, ...)
    int8 or None.  Returns (h + 2H, w + 2H) float32 (the halo is trimmed by the
    dispatcher).  Blocks start on the core grid, so tiles start at multiples of the core.
    """
    core, halo = geometry.core, geometry.halo
    size = geometry.size
    ny, nx = dem.shape
    h, w = ny - 2 * halo, nx - 2 * halo
    out = np.full((ny, nx), np.nan, dtype="float32")
    if h <= 0 or w <= 0:
        return out
    starts = [(i, j) for i in range(0, h, core) for j in range(0, w, core)]
    use_offsets = offsets is not None
    feats_b = np.full((len(starts), features.shape[0], size, size), np.nan, dtype="float32")
    offs_b = (
        np.zeros((len(starts), *offsets.shape[:2], size, size), dtype="int8")
        if use_offsets
        else None
    )
    for k, (i, j) in enumerate(starts):
        wy = min(size, ny - i)
        wx = min(size, nx - j)
        feats_b[k, :, :wy, :wx] = features[:, i : i + wy, j : j + wx]
        if use_offsets:
            offs_b[k, :, :, :wy, :wx] = offsets[:, :, i : i + wy, j : j + wx]
    prob = model.predict_proba(feats_b, offs_b, device=device, batch_size=batch_size)
    for k, (i, j) in enumerate(starts):
        ch = min(core, h - i)
        cw = min(core, w - j)
        out[halo + i : halo + i + ch, halo + j : halo + j + cw] = prob[
            k, halo : halo + ch, halo : halo + cw
        ]
    out[np.isnan(dem)] = np.nan
    return out


def _offsets_for(region, distances):
    """Stacked (D, 2, y, x) int8 dask array of uphill offsets for ``distances``."""
    import dask.array as da

    if "uphill_dy" in region and "uphill_dx" in region:
        have = [float(d) for d in region["distance"].values]
        if all(any(np.isclose(d, h) for h in have) for d in distances):
            dy = region["uphill_dy"].sel(distance=list(distances), method="nearest")
            dx = region["uphill_dx"].sel(distance=list(distances), method="nearest")
            return da.stack([da.asarray(dy.data), da.asarray(dx.data)], axis=1)
    from .features import uphill_offsets

    offs = uphill_offsets(region["dem"].chunk(), distances=tuple(distances))
    return da.stack([offs["dy"].data, offs["dx"].data], axis=1)


def predict(
    region: xr.Dataset,
    model,
    *,
    block_size: int | None = None,
    batch_size: int | None = None,
    device=None,
    check: bool = True,
) -> xr.DataArray:
    """Lazy landslide probability map of ``region`` predicted by ``model``.

    Parameters
    ----------
    region : xarray.Dataset
        A region (see :func:`xlandslide.open_region`): ``features``, ``dem`` and, for models
        with aligned features, ``uphill_dy``/``uphill_dx`` (computed lazily from ``dem`` when
        absent).  Numpy- or dask-backed.
    model : LandslideModel
        A trained model (:func:`xlandslide.fit` or :func:`xlandslide.load_model`).
    block_size : int, optional
        Side of a prediction block in pixels, rounded to a whole number of cores
        (default about 1024 pixels, at least one core).
    batch_size : int, optional
        Patches per forward call (default: all cores of a block at once).
    device : str or torch.device, optional
        Where the forward runs (default: the model's device).
    check : bool
        Check that the model fits the region (feature names, pixel size, normalisation).

    Returns
    -------
    xarray.DataArray
        ``susceptibility`` (y, x) float32 in [0, 1], NaN outside the region, dask-backed,
        with the region's coordinates and CRS, chunked on the core grid.

    Notes
    -----
    Every pixel is predicted by the core tile that holds it (grid anchored at pixel (0, 0),
    ``model.geometry.core`` pixels, ``model.geometry.halo`` pixels of context, NaN padding
    at the region edge); see the module docstring.  The dask graph carries the model once per
    graph (one key that every block depends on): ``dask.distributed`` ships it once to each
    worker, not with every task.

    Examples
    --------
    >>> model = xlandslide.load_model("demo-output/models/lacnn.pt")  # doctest: +SKIP
    >>> region = xlandslide.open_region("demo-output/region.zarr")  # doctest: +SKIP
    >>> prob = region.landslide.predict(model)  # lazy  # doctest: +SKIP
    >>> prob.to_zarr("susceptibility.zarr")  # streams block by block  # doctest: +SKIP
    """
    import dask
    import dask.array as da
    from dask.base import tokenize

    if check:
        model.check_region(region, require_offsets=False)
    geometry: PatchGeometry = model.geometry
    core = geometry.core
    target = block_size if block_size is not None else max(BLOCK_TARGET, core)
    step = core * max(1, round(target / core))
    ny, nx = region.sizes["y"], region.sizes["x"]
    yx_chunks = (_block_chunks(ny, step), _block_chunks(nx, step))

    feats = region["features"].sel(feature=list(model.feature_names))
    feats = da.asarray(feats.data).rechunk(((len(model.feature_names),), *yx_chunks))
    dem = da.asarray(region["dem"].data).rechunk(yx_chunks)
    inputs = [feats, dem]
    if model.needs_offsets:
        offs = _offsets_for(region, model.distances)
        inputs.append(offs.rechunk(((len(model.distances),), (2,), *yx_chunks)))

    # the model is one key of the graph (named by its weights): a worker receives it once
    # and every block task depends on it, instead of carrying a copy of the weights each
    model_key = f"xlandslide-model-{tokenize(model)}"
    data = apply_stencil(
        _predict_block,
        *inputs,
        depth=geometry.halo,
        dtype="float32",
        name="xlandslide-predict",
        model=dask.delayed(model, name=model_key, pure=True, traverse=False),
        geometry=geometry,
        batch_size=batch_size,
        device=device,
    )
    out = xr.DataArray(
        data,
        dims=("y", "x"),
        coords={k: v for k, v in region["dem"].coords.items() if set(v.dims) <= {"y", "x"}},
        name="susceptibility",
        attrs={
            "long_name": "landslide susceptibility (probability of a landslide pixel)",
            "units": "1",
            "model": getattr(model, "name", type(model).__name__),
        },
    )
    if "spatial_ref" in region.coords:
        out = out.assign_coords(spatial_ref=region["spatial_ref"])
    return out
