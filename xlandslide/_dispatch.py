"""The one place that maps pure numba kernels onto numpy or dask arrays.

A kernel takes numpy arrays whose last two axes are (y, x) and returns one numpy array of
shape ``leading + (ny, nx)``; it must treat pixels outside its input as missing (NaN for
floats, the fill value for integers), which is what the dask path feeds it at the region
edges.  The numpy path calls the kernel on the whole array; the dask path overlaps every
block by ``depth`` pixels on y and x (``dask.array.overlap.overlap`` with a NaN / fill
boundary — the same machinery as ``map_overlap``), calls the kernel per block and trims
the halo.  Both give the same result for any chunking as long as the kernel's stencil
fits in ``depth`` (each caller states its stencil's reach next to the kernel).
"""

from __future__ import annotations

import numpy as np


def is_dask(x) -> bool:
    try:
        import dask.array as da
    except ImportError:  # pragma: no cover
        return False
    return isinstance(x, da.Array)


def _boundary_for(dtype, fill):
    if fill is not None:
        return fill
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "iu":
        return 0
    if dtype.kind == "b":
        return False
    raise TypeError(f"no default boundary for dtype {dtype}")


def apply_stencil(
    kernel,
    *arrays,
    depth: int,
    dtype,
    leading: tuple[int, ...] = (),
    fills=None,
    name: str | None = None,
    **kwargs,
):
    """Apply ``kernel(*blocks, **kwargs)`` to numpy or dask ``arrays`` with a ``depth`` halo.

    Parameters
    ----------
    kernel : callable
        Pure function on numpy arrays; returns an array of shape ``leading + (ny, nx)``.
    *arrays : numpy or dask arrays
        Each with (y, x) as its last two axes and the same (y, x) shape; leading axes are
        passed whole (a dask input is rechunked to one chunk along them, never in place).
    depth : int
        Halo on y and x, in pixels: the reach of the kernel's stencil.
    dtype : dtype
        Output dtype.
    leading : tuple of int
        Output leading shape (before y, x).
    fills : sequence, optional
        Boundary value per input (default NaN for floats, 0 for integers).
    name : str, optional
        Prefix of the dask task names (the rest is a hash of the inputs and arguments).
    **kwargs
        Passed to ``kernel``.  On the dask path they are arguments of ``blockwise``: a dask
        collection among them (for example ``dask.delayed(model)``) is one key of the graph
        that every block depends on, so it is serialised once per worker rather than once
        per task.

    Notes
    -----
    The dask path first merges chunks smaller than ``depth`` with their neighbours
    (dask's overlap needs it) and splits the result back to the input's chunks; an axis
    shorter than ``depth`` becomes one block padded with the boundary value, so every
    block the kernel sees carries exactly ``depth`` pixels of context (or boundary fill)
    on each side.
    """
    import dask.array as da

    dtype = np.dtype(dtype)
    leading = tuple(int(n) for n in leading)
    if fills is None:
        fills = [None] * len(arrays)
    if not any(is_dask(a) for a in arrays):
        out = kernel(*[np.asarray(a) for a in arrays], **kwargs)
        return out.astype(dtype, copy=False)

    base = next(a for a in arrays if is_dask(a))
    yx_chunks, short_axes = _yx_chunks(base, depth)
    args = []
    for k, (a, fill) in enumerate(zip(arrays, fills)):
        a = da.asarray(a)
        lead = a.ndim - 2
        a = a.rechunk((*(-1 for _ in range(lead)), *yx_chunks))
        if depth > 0:
            value = _boundary_for(a.dtype, fill)
            d = {i: 0 for i in range(a.ndim)}
            for ax in (0, 1):
                d[lead + ax] = 0 if ax in short_axes else depth
            b = {i: value for i in range(a.ndim)}
            # chunks already satisfy dask's minimum (>= depth): no rechunk inside overlap
            a = da.overlap.overlap(a, depth=d, boundary=b, allow_rechunk=False)
            if short_axes:
                # an axis shorter than depth is one block: pad it to the same layout
                width = [(0, 0)] * a.ndim
                for ax in short_axes:
                    width[lead + ax] = (depth, depth)
                a = da.pad(a, width, mode="constant", constant_values=value)
                a = a.rechunk({lead + ax: -1 for ax in short_axes})
        args.extend([a, (*tuple(f"l{k}_{i}" for i in range(lead)), "y", "x")])

    out_ind = (*tuple(f"o{i}" for i in range(len(leading))), "y", "x")
    out = da.blockwise(
        _trimmed,
        out_ind,
        *args,
        new_axes={f"o{i}": n for i, n in enumerate(leading)},
        adjust_chunks={"y": lambda n: n - 2 * depth, "x": lambda n: n - 2 * depth},
        concatenate=True,
        dtype=dtype,
        meta=np.empty((0,) * (len(leading) + 2), dtype=dtype),
        # ``token`` is a prefix; ``name`` would be the exact key of every call (collisions)
        token=name or getattr(kernel, "__name__", "stencil").strip("_"),
        # keyword arguments go to blockwise, not into a closure: a dask collection among
        # them (a delayed model) becomes one key of the graph that every task depends on,
        # instead of a copy serialised into every task
        _kernel=kernel,
        _depth=depth,
        _dtype=dtype,
        **kwargs,
    )
    if yx_chunks != tuple(base.chunks[-2:]):
        # merged small chunks go back to the input's chunks (only the blocks concerned
        # move): results keep the input's chunking and can be written to its store layout
        out = out.rechunk((*((n,) for n in leading), *base.chunks[-2:]))
    return out


def reduce_blocks(func, data, size: int, token: str, **kwargs):
    """Lazy per-block vectors of ``func(*blocks, **kwargs)`` (length ``size``) of the (y, x)
    dask arrays ``data`` (their chunks unified first).

    Returns the (ny_blocks, nx_blocks, size) float64 dask array; sum / min / max it over the
    first two axes, or combine the blocks' partial statistics.
    """
    import dask.array as da

    if any(d.chunks != data[0].chunks for d in data[1:]):
        _, data = da.core.unify_chunks(*[x for d in data for x in (d, "ij")])
    cy, cx = data[0].chunks

    def block(*blocks):
        return func(*blocks, **kwargs)[None, None, :]

    return da.map_blocks(
        block,
        *data,
        new_axis=2,
        chunks=((1,) * len(cy), (1,) * len(cx), (size,)),
        dtype=np.float64,
        meta=np.empty((0, 0, 0), np.float64),
        token=token,
    )


def _trimmed(*blocks, _kernel, _depth, _dtype, **kwargs):
    """Run ``_kernel`` on overlapped blocks and trim the ``_depth`` halo from the result."""
    out = _kernel(*blocks, **kwargs)
    if _depth:
        out = out[..., _depth:-_depth, _depth:-_depth]
    return np.ascontiguousarray(out, dtype=_dtype)


def _yx_chunks(base, depth: int):
    """(y, x) chunks of ``base`` made fit for an overlap of ``depth``, and the short axes.

    dask's overlap needs every chunk to be at least ``depth``: small chunks are merged
    with their neighbours (``ensure_minimum_chunksize``).  An axis shorter than ``depth``
    cannot be overlapped at all; it becomes one block that the caller pads explicitly.
    """
    from dask.array.overlap import ensure_minimum_chunksize

    chunks, short = [], []
    for ax, (size, c) in enumerate(zip(base.shape[-2:], base.chunks[-2:])):
        if depth <= 0:
            chunks.append(c)
        elif size < depth:
            chunks.append((size,))
            short.append(ax)
        else:
            chunks.append(ensure_minimum_chunksize(depth, c))
    return tuple(chunks), tuple(short)
