"""A Veneto-size region (19500 x 21005 pixels of 10 m) from synthetic rasters and polygons.

Measures, each case in a fresh Python process (its wall time and its peak resident memory,
``resource.getrusage(RUSAGE_SELF).ru_maxrss``):

- ``build``: :func:`xlandslide.build_region` on the whole grid — a lazy analytic DEM and
  rainfall raster (dask, chunks of 1024), lithology and land-cover Voronoi polygons with
  their own codes (mapped to INSPIRE classes), landslide polygons and a ragged boundary —
  including its one dask pass (the statistics and the value checks over all 410 million
  pixels), then the write of a 4096 x 4096 part of the region to a Zarr store;
- ``write_part``: the same region built with the statistics given (no pass at all, nothing
  computed), then only the write of the 4096 x 4096 part: the memory of writing a part.

    python benchmarks/ingest_scale.py              # both cases, the Veneto grid
    python benchmarks/ingest_scale.py --shape 4096 4096 --part 1024   # a quick run
    python benchmarks/ingest_scale.py --reproject  # the rainfall in another CRS (a lazy
                                                   # DataArray), reprojected block by block

Every layer is a function of its (row, column) or a small list of geometries: nothing is
ever held whole in memory, so the peak memory is what the chunks in flight need.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIXEL = 10.0
X0, Y0 = 600000.0, 5200000.0  # north-west corner, UTM 32N (Veneto)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _terrain_block(block_info=None, *, which):
    import numpy as np

    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    y = (r0 + np.arange(r1 - r0, dtype=np.float64))[:, None] * PIXEL
    x = (c0 + np.arange(c1 - c0, dtype=np.float64))[None, :] * PIXEL
    if which == "dem":
        z = 200 + 2000 * np.exp(-y / 80e3) * (1.2 + np.sin(x / 7e3) * np.cos(y / 5e3))
        z = z + 60 * np.sin(x / 900.0 + y / 1300.0) + 25 * np.cos(x / 310.0 - y / 270.0)
    else:  # rainfall, mm/yr
        z = 800 + 900 * np.exp(-y / 60e3) + 100 * np.sin(x / 20e3)
    return z.astype(np.float32)


def _lazy(block, shape, chunks, *, name, crs, left, top, pixel, **kwargs):
    """A lazy (y, x) DataArray whose blocks are ``block(block_info=..., **kwargs)``."""
    import dask.array as da
    import numpy as np
    import rioxarray  # noqa: F401
    import xarray as xr

    data = da.map_blocks(
        block,
        chunks=da.core.normalize_chunks(chunks, shape, dtype=np.float32),
        dtype=np.float32,
        meta=np.empty((0, 0), np.float32),
        name=f"synthetic-{name}-{crs}-{shape[0]}-{shape[1]}-{chunks}",
        **kwargs,
    )
    coords = {
        "y": top - pixel * (np.arange(shape[0]) + 0.5),
        "x": left + pixel * (np.arange(shape[1]) + 0.5),
    }
    out = xr.DataArray(data, dims=("y", "x"), coords=coords, name=name)
    return out.rio.write_crs(crs)


def _raster(shape, which, chunks):
    return _lazy(
        _terrain_block, shape, chunks, name=which, crs="EPSG:32632", left=X0, top=Y0,
        pixel=PIXEL, which=which,
    )  # fmt: skip


def _rain_block(block_info=None, *, x0, y0, step):
    import numpy as np

    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    y = y0 - (r0 + np.arange(r1 - r0) + 0.5)[:, None] * step
    x = x0 + (c0 + np.arange(c1 - c0) + 0.5)[None, :] * step
    return (800 + 300 * np.sin(x / 20e3) * np.cos(y / 30e3) + 1e-3 * (y % 997)).astype("f4")


def _rain_other_crs(shape, chunks, pixel=20.0):
    """Rainfall over the grid's footprint in the next UTM zone (EPSG:32633), 20 m, lazy."""
    from rasterio.warp import transform_bounds

    ny, nx = shape
    left, bottom, right, top = transform_bounds(
        "EPSG:32632", "EPSG:32633", X0, Y0 - ny * PIXEL, X0 + nx * PIXEL, Y0, densify_pts=21
    )
    left, top = left - 200, top + 200
    size = (int((top - bottom + 400) / pixel), int((right - left + 400) / pixel))
    return _lazy(
        _rain_block, size, chunks, name="rain", crs="EPSG:32633", left=left, top=top,
        pixel=pixel, x0=left, y0=top, step=pixel,
    )  # fmt: skip


def _voronoi(n, shape, seed, codes):
    import geopandas as gpd
    import numpy as np
    import shapely

    rng = np.random.default_rng(seed)
    ny, nx = shape
    extent = shapely.box(X0, Y0 - ny * PIXEL, X0 + nx * PIXEL, Y0)
    pts = shapely.multipoints(
        np.column_stack([rng.uniform(X0, X0 + nx * PIXEL, n), rng.uniform(Y0 - ny * PIXEL, Y0, n)])
    )
    cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=extent))
    cells = shapely.intersection(cells, extent)
    return gpd.GeoDataFrame(
        {"CODE": rng.choice(codes, len(cells))}, geometry=cells, crs="EPSG:32632"
    )


def _inputs(shape, chunks, reproject=False):
    import geopandas as gpd
    import numpy as np
    import shapely

    import xlandslide as xl
    from xlandslide.catalog import LITHOLOGY
    from xlandslide.mapping import CORINE_CODES

    ny, nx = shape
    own = {100 + k: name for k, name in enumerate(LITHOLOGY)}  # a regional map's codes
    litho = _voronoi(max(50, ny * nx // 100_000), shape, 1, list(own))  # ~4100 cells
    cover = _voronoi(max(20, ny * nx // 300_000), shape, 2, list(CORINE_CODES[15:]))
    rng = np.random.default_rng(3)
    n_slides = max(100, ny * nx // 20_000)  # ~20,000 landslides
    centres = np.column_stack(
        [
            rng.uniform(X0, X0 + nx * PIXEL, n_slides),
            rng.uniform(Y0 - ny * PIXEL * 0.6, Y0, n_slides),
        ]
    )
    slides = gpd.GeoDataFrame(
        geometry=shapely.buffer(
            shapely.points(centres), rng.uniform(10, 80, n_slides), quad_segs=4
        ),
        crs="EPSG:32632",
    )
    angle = np.linspace(0, 2 * np.pi, 720, endpoint=False)
    radius = 0.48 * min(ny, nx) * PIXEL * (1 + 0.08 * np.sin(7 * angle) + 0.04 * np.cos(23 * angle))
    cx, cy = X0 + nx * PIXEL / 2, Y0 - ny * PIXEL / 2
    boundary = gpd.GeoDataFrame(
        geometry=[
            shapely.Polygon(
                np.column_stack([cx + radius * np.cos(angle), cy + radius * np.sin(angle)])
            )
        ],
        crs="EPSG:32632",
    )
    kwargs = {
        "continuous": {
            "rainfall": _rain_other_crs(shape, chunks)
            if reproject
            else _raster(shape, "rain", chunks)
        },
        "categorical": {
            "lithology": xl.CategoricalLayer(
                litho,
                column="CODE",
                mapping=xl.class_mapping("lithology", preset="inspire", codes=own),
            ),
            "land_cover": xl.CategoricalLayer(cover, column="CODE", mapping="corine"),
        },
        "labels": slides,
        "boundary": boundary,
    }
    sizes = {"lithology_polygons": len(litho), "land_cover_polygons": len(cover)}
    sizes["landslide_polygons"] = n_slides
    return _raster(shape, "dem", chunks), kwargs, sizes


def case(name: str, shape, part: int, chunks: int, normalisation=None, reproject=False) -> dict:
    import dask

    import xlandslide as xl

    t0 = time.perf_counter()
    dem, kwargs, sizes = _inputs(shape, chunks, reproject)
    if reproject:
        kwargs["reproject"] = True
    t_inputs = time.perf_counter() - t0
    rss_inputs = _rss_mb()
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        region = xl.build_region(dem, normalisation=normalisation, **kwargs)
    t_build = time.perf_counter() - t0
    rss_build = _rss_mb()
    n_tasks = len(region.__dask_graph__())
    y0 = (shape[0] - part) // 2
    x0 = (shape[1] - part) // 2
    window = region.isel(y=slice(y0, y0 + part), x=slice(x0, x0 + part))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        with dask.config.set(scheduler="threads"):
            xl.write_region(window, Path(tmp) / "part.zarr")
        t_write = time.perf_counter() - t0
        back = xl.open_region(Path(tmp) / "part.zarr")
        n_slide = int((back["label"] == 1).sum())
    return {
        "case": name,
        "shape": list(shape),
        "chunks": chunks,
        "part": part,
        **sizes,
        "inputs_s": round(t_inputs, 2),
        "build_s": round(t_build, 2),
        "graph_tasks": n_tasks,
        "write_part_s": round(t_write, 2),
        "part_landslide_pixels": n_slide,
        "rss_after_inputs_mb": round(rss_inputs, 1),
        "rss_after_build_mb": round(rss_build, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
        "normalisation": region.attrs["normalisation"],
        "summary": {
            k: v for k, v in region.attrs["xlandslide_build"].items() if k.endswith("pixels")
        },
    }


def _child(args) -> int:
    norm = json.loads(args.normalisation) if args.normalisation else None
    out = case(args.child, tuple(args.shape), args.part, args.chunks, norm, args.reproject)
    print("RESULT " + json.dumps(out))
    return 0


def _run(name, args, normalisation=None) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--shape",
        *map(str, args.shape),
        "--part",
        str(args.part),
        "--chunks",
        str(args.chunks),
    ]
    if normalisation:
        cmd += ["--normalisation", json.dumps(normalisation)]
    if args.reproject:
        cmd += ["--reproject"]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"case {name} failed")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", type=int, nargs=2, default=(19500, 21005))
    p.add_argument("--part", type=int, default=4096)
    p.add_argument("--chunks", type=int, default=1024)
    p.add_argument(
        "--reproject",
        action="store_true",
        help="give the rainfall raster in EPSG:32633 at 20 m (a lazy DataArray): reprojected",
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--normalisation", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    built = _run("build", args)
    part = _run("write_part", args, normalisation=built["normalisation"])
    for r in (built, part):
        stats = {k: v for k, v in r.items() if k != "normalisation"}
        print(json.dumps(stats))
    ny, nx = args.shape
    other = (
        "; rainfall a lazy DataArray in EPSG:32633 (20 m), reprojected" if args.reproject else ""
    )
    print(
        f"\n{ny} x {nx} grid ({ny * nx / 1e6:.0f} Mpix), chunks {args.chunks}{other}; "
        f"{built['lithology_polygons']} lithology, {built['land_cover_polygons']} land-cover, "
        f"{built['landslide_polygons']} landslide polygons"
    )
    rate = ny * nx / 1e6 / built["build_s"]
    print(
        f"build_region with its one pass: {built['build_s']:.1f} s ({rate:.1f} Mpix/s), "
        f"peak RSS {built['rss_after_build_mb']:.0f} MB"
    )
    print(
        f"then writing a {args.part}^2 part: {built['write_part_s']:.1f} s, "
        f"peak RSS of the process {built['peak_rss_mb']:.0f} MB"
    )
    print(
        f"fresh process, statistics given (no pass, built in {part['build_s']:.2f} s, "
        f"{part['graph_tasks']} tasks): writing the {args.part}^2 part "
        f"{part['write_part_s']:.1f} s, "
        f"peak RSS {part['peak_rss_mb']:.0f} MB (after building the inputs: "
        f"{part['rss_after_inputs_mb']:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
