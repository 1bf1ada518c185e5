"""Streaming, memory and store figures: one case per fresh process, time and peak RSS.

The figures of the region store (bytes per pixel, size on disk, training patches per second),
of training (the Ecuador LLR, 20 epochs) and of whole-region prediction (LLR to Zarr from a
store and from a lazy region, LACNN against the raw torch forward of the same tiles, patch
reads against raw zarr reads of the same windows).  Every case runs in its own Python
process, which reports its wall time and its peak resident memory (``ru_maxrss``), so the
memory of one case never inflates another's.

It measures whichever ``xlandslide`` is importable: this tree, or an older commit checked
out elsewhere (``PYTHONPATH=/path/to/old/checkout python benchmarks/scale_table.py``); the
few calls whose API changed are adapted in :func:`_api` — that is how the "before" column
of the project's notes was measured with the same script.

    python benchmarks/scale_table.py                    # every case, default sizes
    python benchmarks/scale_table.py predict_llr_store  # one case
    XLANDSLIDE_SCALE_N=1024 python benchmarks/scale_table.py   # smaller regions
    python benchmarks/scale_table.py --list
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ECUADOR = ROOT / "examples" / "data" / "ecuador_rbsf"


def _n(default: int = 4096) -> int:
    return int(os.environ.get("XLANDSLIDE_SCALE_N", default))


def _tmp() -> Path:
    return Path(os.environ.get("XLANDSLIDE_SCALE_TMP", tempfile.gettempdir()))


def _api():
    """Which layout the importable xlandslide has: ``"compact"`` (0.2) or ``"onehot"`` (0.1)."""
    import xlandslide

    return "compact" if hasattr(xlandslide, "ModelSpec") else "onehot"


def _store(n: int, offsets: bool = False) -> Path:
    """A synthetic n x n region store in the temp folder (written once per layout)."""
    import dask

    import xlandslide as xl

    def read_manifest(path):  # the older layout has no manifest: a finished store is there
        if _api() == "onehot":
            return path if (path / "zarr.json").exists() else None
        from xlandslide.io.integrity import read_manifest

        return read_manifest(path)

    path = _tmp() / f"xlandslide-scale-{_api()}-v3-{n}{'-offs' if offsets else ''}.zarr"
    if read_manifest(path) is None:  # none yet, or unfinished: this cache is ours to redo
        shutil.rmtree(path, ignore_errors=True)
        region = xl.synthetic_region((n, n), seed=0)
        if offsets:
            region = region.landslide.with_offsets((30, 100, 300))
        with dask.config.set(scheduler="threads"):
            xl.write_region(region, path, overwrite=True)
    return path


def _model(name: str, region, core: int = 128, halo: int = 64, width: int = 16):
    """An untrained model for ``region`` (the weights do not change the cost)."""
    import torch

    import xlandslide as xl

    torch.manual_seed(0)
    if _api() == "compact":
        from xlandslide.model import spec_for_region

        names = region.landslide.layout().names
        kw = {}
        if name in ("lann", "lacnn"):
            kw = {"aligned": tuple(names[:22]), "distances": (30.0, 100.0, 300.0)}
        spec = spec_for_region(
            name,
            region,
            geometry=xl.PatchGeometry(core, halo),
            model_config={"base_width": width} if "cnn" in name else {},
            **kw,
        )
        return xl.LandslideModel(spec.build_module(), spec)
    from xlandslide.catalog import FEATURE_NAMES
    from xlandslide.checkpoint import LandslideModel
    from xlandslide.models import build_model

    aligned = [*FEATURE_NAMES[:21], "dem"] if name in ("lann", "lacnn") else []
    extra = {"base_width": width} if "cnn" in name else {}
    module = build_model(
        name,
        94,
        feature_names=FEATURE_NAMES,
        aligned_names=aligned,
        n_distances=3 if aligned else 0,
        **extra,
    )
    return LandslideModel(
        module,
        name,
        feature_names=FEATURE_NAMES,
        aligned_names=aligned,
        distances=(30.0, 100.0, 300.0) if aligned else (),
        geometry=xl.PatchGeometry(core, halo),
        pixel_size=10.0,
        normalisation=region.attrs.get("normalisation"),
    )


def _write_map(prob, path):
    import xlandslide as xl

    if hasattr(xl, "write_map"):
        return xl.write_map(prob, path, overwrite=True)
    from xlandslide.outputs import write_map

    return write_map(prob, path, overwrite=True)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------ the cases
def case_write_store(n=None):
    """Write an n x n synthetic region (with offsets) to a store: time, bytes on disk."""
    import dask

    import xlandslide as xl

    n = n or _n()
    path = _tmp() / f"xlandslide-scale-write-{os.getpid()}.zarr"
    region = xl.synthetic_region((n, n), seed=0).landslide.with_offsets((30, 100, 300))
    nbytes = sum(v.dtype.itemsize * v.size for v in region.data_vars.values())
    t0 = time.perf_counter()
    with dask.config.set(scheduler="threads"):
        xl.write_region(region, path, overwrite=True)
    dt = time.perf_counter() - t0
    disk = _du(path)
    shutil.rmtree(path, ignore_errors=True)
    return {
        "seconds": dt,
        "mpix_per_s": n * n / dt / 1e6,
        "bytes_per_pixel_raw": nbytes / (n * n),
        "disk_mb": disk / 1e6,
        "disk_bytes_per_pixel": disk / (n * n),
        "what": f"write_region {n}^2 synthetic + offsets",
    }


def _repeat(default: int = 2) -> int:
    """Timed writes after the warm-up one (``XLANDSLIDE_SCALE_REPEAT``; 1 for slow old code)."""
    return int(os.environ.get("XLANDSLIDE_SCALE_REPEAT", default))


def _timed_write(prob, out, repeat: int | None = None, threads: bool = True) -> float:
    """Best wall time of writing ``prob`` to ``out`` (after one warm-up write), with the
    threaded scheduler, or (``threads=False``) the active distributed client."""
    import contextlib

    import dask

    repeat = _repeat() if repeat is None else repeat
    best = float("inf")
    with dask.config.set(scheduler="threads") if threads else contextlib.nullcontext():
        for k in range(repeat + 1):
            t0 = time.perf_counter()
            _write_map(prob, out)
            if k:
                best = min(best, time.perf_counter() - t0)
            _remove(out)
    return best


def _predict_llr(region, n, label, repeat=None, suffix=".zarr"):
    model = _model("llr", region)
    out = _tmp() / f"xlandslide-scale-map-{os.getpid()}{suffix}"
    dt = _timed_write(region.landslide.predict(model), out, repeat)
    return {"seconds": dt, "mpix_per_s": n * n / dt / 1e6, "what": label}


def case_predict_llr_store(n=None):
    """LLR predict of a stored n x n region (open_region defaults: dask) -> write_map (Zarr)."""
    import xlandslide as xl

    n = n or _n()
    region = xl.open_region(_store(n))
    return _predict_llr(region, n, f"LLR predict stored {n}^2 (dask chunks) -> zarr")


def case_predict_llr_store_lazy(n=None):
    """The same with the store opened without dask (``chunks=None``: reads in the tasks)."""
    import xlandslide as xl

    n = n or _n()
    if _api() != "compact":
        return {"skip": "no such path before 0.2", "what": "LLR predict stored, chunks=None"}
    region = xl.open_region(_store(n), chunks=None)
    return _predict_llr(region, n, f"LLR predict stored {n}^2 (chunks=None) -> zarr")


def case_predict_llr_tif(n=None):
    """LLR predict of a stored n x n region -> write_map (tiled GeoTIFF), streamed."""
    import xlandslide as xl

    n = n or _n()
    region = xl.open_region(_store(n), chunks=None if _api() == "compact" else "store")
    return _predict_llr(region, n, f"LLR predict stored {n}^2 -> GeoTIFF", 1, ".tif")


def case_predict_llr_store_8192():
    """LLR predict of a stored 8192 x 8192 region (the issue's bounded-memory check)."""
    return case_predict_llr_store(8192)


def _learner_model(name: str, region, window: int = 512):
    """A learner of the registry fitted on the labelled pixels of a corner window."""
    import xlandslide as xl
    from xlandslide.learners import build_learner
    from xlandslide.model import spec_for_region
    from xlandslide.train.table import pixel_table

    spec = spec_for_region(name, region, geometry=xl.PatchGeometry(128, 64))
    module = spec.build_module()
    corner = region.isel(y=slice(0, window), x=slice(0, window)).compute()
    learner = build_learner(module.learner_name, **module.options).fit(pixel_table(corner))
    module.set_learner(learner)
    return xl.LandslideModel(module, spec)


def _predict_learner(name: str, n: int):
    import xlandslide as xl

    region = xl.open_region(_store(n), chunks=None)
    model = _learner_model(name, region)
    out = _tmp() / f"xlandslide-scale-map-{os.getpid()}.zarr"
    dt = _timed_write(region.landslide.predict(model), out, repeat=1)
    what = f"{name.upper()} predict stored {n}^2 (chunks=None) -> zarr"
    return {"seconds": dt, "mpix_per_s": n * n / dt / 1e6, "what": what}


def case_predict_gam_store_8192():
    """GAM (fitted on a 512^2 corner) predict of a stored 8192^2 region (issue 16)."""
    return _predict_learner("gam", 8192)


def case_predict_gbm_store_8192():
    """GBM (LightGBM, 300 trees, fitted on a 512^2 corner) predict of a stored 8192^2 region."""
    return _predict_learner("gbm", 8192)


def case_predict_llr_lazy(n=None):
    """LLR predict of a lazy (never stored) n x n synthetic region -> write_map (Zarr)."""
    import xlandslide as xl

    n = n or _n()
    region = xl.synthetic_region((n, n), seed=0)
    return _predict_llr(region, n, f"LLR predict lazy {n}^2 -> zarr", repeat=1)


def case_predict_cluster(n=None, name="llr"):
    """The stored n x n region predicted to Zarr on a LocalCluster (2 workers) vs threads.

    Both write the same map; the model is one key of the graph (shipped once per worker).
    """
    from distributed import Client, LocalCluster

    import xlandslide as xl

    n = n or _n()
    region = xl.open_region(_store(n), chunks=None)
    model = _model(name, region)
    out = _tmp() / f"xlandslide-scale-cluster-{os.getpid()}.zarr"
    dt_threads = _timed_write(region.landslide.predict(model), out)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, Client(cluster):
        # the warm-up write: every worker imports torch and numba, receives the model once
        dt_cluster = _timed_write(region.landslide.predict(model), out, threads=False)
    return {
        "seconds": dt_cluster,
        "mpix_per_s": n * n / dt_cluster / 1e6,
        "threads_seconds": dt_threads,
        "overhead": dt_cluster / dt_threads,
        "what": f"{name.upper()} predict stored {n}^2 -> zarr on LocalCluster(2 x 1 thread)"
        f" vs threads ({dt_threads:.2f} s)",
    }


def _tiles(region, model, core, halo, count):
    """``count`` input tiles of the prediction grid, as the model reads them (numpy)."""
    import numpy as np

    size = core + 2 * halo
    region = region.load()
    ny = region.sizes["y"]
    starts = [(i, j) for i in range(0, ny, core) for j in range(0, region.sizes["x"], core)]
    starts = starts[:count]
    if _api() == "compact":
        from xlandslide.region import stacked_offsets

        arrays = {
            "continuous": region["continuous"].values,
            "categorical": region["categorical"].values,
            "offsets": stacked_offsets(region, model.spec.distances),
        }
        fills = {"continuous": np.nan, "categorical": 255, "offsets": 0}
    else:
        import numpy as np

        arrays = {
            "features": region["features"].sel(feature=list(model.feature_names)).values,
            "offsets": np.stack([region.uphill_dy.values, region.uphill_dx.values], axis=1),
        }
        fills = {"features": np.nan, "offsets": 0}
    out = {}
    for key, a in arrays.items():
        pad = [(0, 0)] * (a.ndim - 2) + [(halo, halo + core), (halo, halo + core)]
        p = np.pad(a, pad, constant_values=fills[key])
        out[key] = np.stack([p[..., i : i + size, j : j + size] for i, j in starts])
    return out


def case_predict_lacnn(n=None, core=128, halo=64, batch=4, width=8):
    """LACNN predict of an n x n region vs the module's raw forward over the same tiles.

    The demo's LACNN: base width 8, core 128, halo 64 (256^2 tiles).
    """
    import dask
    import numpy as np
    import torch

    import xlandslide as xl

    n = n or _n(2048) // 2
    region = xl.synthetic_region((n, n), seed=0).landslide.with_offsets((30, 100, 300))
    region = region.persist()
    model = _model("lacnn", region, core, halo, width)
    n_tiles = (-(-n // core)) ** 2
    prob = region.landslide.predict(model, batch_size=batch)
    with dask.config.set(scheduler="threads"):
        region.isel(y=slice(0, core), x=slice(0, core)).landslide.predict(model).compute()
        t0 = time.perf_counter()
        values = prob.compute()
        dt_predict = time.perf_counter() - t0
    assert np.isfinite(values.values).any()
    # raw forward over the same tiles (sampled: 32 tiles), batches of `batch`
    tiles = _tiles(region, model, core, halo, 32)
    sample = len(next(iter(tiles.values())))
    module = model.module.eval()
    keys = (
        ("continuous", "categorical", "offsets") if _api() == "compact" else ("features", "offsets")
    )

    def forward(k):
        args = [torch.from_numpy(np.ascontiguousarray(tiles[key][k : k + batch])) for key in keys]
        module(*args)

    with torch.inference_mode():
        forward(0)  # warm-up (allocations), as the predict run had
        t0 = time.perf_counter()
        for k in range(0, sample, batch):
            forward(k)
    dt_raw = (time.perf_counter() - t0) * n_tiles / sample
    return {
        "seconds": dt_predict,
        "mpix_per_s": n * n / dt_predict / 1e6,
        "raw_mpix_per_s": n * n / dt_raw / 1e6,
        "ratio_to_raw": dt_raw / dt_predict,
        "what": f"LACNN predict {n}^2 (core {core}, halo {halo}, {n_tiles} tiles, batch {batch})",
    }


def _windows(shape, size, count, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    ny, nx = shape
    return [
        (int(rng.integers(0, ny - size + 1)), int(rng.integers(0, nx - size + 1)))
        for _ in range(count)
    ]


def case_patch_reads(n=None, core=128, halo=64, count=48):
    """PatchDataset reads of (core + 2 halo)^2 patches vs raw zarr reads of the same windows."""
    import zarr

    import xlandslide as xl

    n = n or _n(2048)
    path = _store(n, offsets=True)
    region = xl.open_region(path, chunks=None)
    ps = xl.make_patches(region, xl.PatchGeometry(core, halo), fractions=(1.0, 0.0, 0.0))
    ds = xl.PatchDataset(region, ps, "train", oversample=False)
    if hasattr(ds, "cache"):
        ds.cache.limit = 0  # every read goes to the store (no cache across the epochs here)
    interior = [
        i
        for i, k in enumerate(ds.ids)
        if min(ps.window(k)) >= 0 and max(ps.window(k)[1], ps.window(k)[3]) <= n
    ][:count]
    group = zarr.open_group(str(path), mode="r")
    names = [v for v in ("continuous", "categorical", "features") if v in group]
    names += ["uphill_dy", "uphill_dx", "label"]
    arrays = {v: group[v] for v in names}

    def dataset():
        for i in interior:
            ds[i]

    def raw():
        for i in interior:
            y0, y1, x0, x1 = ps.window(ds.ids[i])
            for a in arrays.values():
                a[..., y0:y1, x0:x1]

    ds[interior[0]]
    raw()  # both warm (file cache, zarr metadata); then the best of 3, alternated
    dt_ds = dt_raw = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        dataset()
        dt_ds = min(dt_ds, time.perf_counter() - t0)
        t0 = time.perf_counter()
        raw()
        dt_raw = min(dt_raw, time.perf_counter() - t0)
    size = core + 2 * halo
    return {
        "seconds": dt_ds,
        "per_second": len(interior) / dt_ds,
        "raw_per_second": len(interior) / dt_raw,
        "ratio_to_raw": dt_raw / dt_ds,
        "what": f"PatchDataset {size}^2 patches from a {n}^2 store ({len(interior)} reads)",
    }


def case_patch_loader(n=None, core=128, halo=64, workers=(0, 2)):
    """Patches per second through a torch DataLoader, 0 and 2 worker processes."""
    import torch

    import xlandslide as xl

    if _api() != "compact":
        return {"skip": "compared on this tree only", "what": "DataLoader workers"}
    n = n or _n(2048)
    region = xl.open_region(_store(n, offsets=True), chunks=None)
    ps = xl.make_patches(region, xl.PatchGeometry(core, halo), fractions=(1.0, 0.0, 0.0))
    rates = {}
    for w in workers:
        ds = xl.PatchDataset(region, ps, "train", oversample=False, cache_bytes=0)
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=w)
        t0 = time.perf_counter()
        count = sum(len(batch["label"]) for batch in loader)
        rates[w] = count / (time.perf_counter() - t0)
    return {
        "seconds": count / rates[workers[-1]],
        "per_second": rates[workers[-1]],
        "what": f"DataLoader of {len(ps)} patches {core + 2 * halo}^2 ({n}^2 store): "
        + ", ".join(f"{w} workers {r:.1f}/s" for w, r in rates.items()),
    }


def case_train_patches(n=None, count=12):
    """Training patches per second of the paper's geometry (628^2) from a stored region."""
    import xlandslide as xl

    n = n or _n(2048)
    region = xl.open_region(_store(n, offsets=True), chunks=None)
    ps = xl.make_patches(region, xl.PatchGeometry(500, 64), fractions=(1.0, 0.0, 0.0))
    ds = xl.PatchDataset(region, ps, "train", oversample=False)
    if hasattr(ds, "cache"):
        ds.cache.limit = 0
    ds[0]
    count = min(count, len(ds) - 1)
    t0 = time.perf_counter()
    for i in range(1, count + 1):
        ds[i]
    dt = time.perf_counter() - t0
    return {
        "seconds": dt,
        "per_second": count / dt,
        "what": f"training patches 628^2 from a {n}^2 store ({count} reads)",
    }


def case_ecuador_llr(epochs=20):
    """The Ecuador example's LLR: a region built lazily from the DEM, 20 epochs."""
    import rioxarray

    import xlandslide as xl

    stack = rioxarray.open_rasterio(ECUADOR / "ta_terrain_attributes_10m.tif", masked=True)
    names = list(stack.attrs.get("long_name", ()))
    dem = stack.isel(band=names.index("elev") if "elev" in names else 3).drop_vars("band")
    dem = dem.chunk({"y": 128, "x": 128})
    label = xl.labels_from_points(ECUADOR / "lsl_balanced_points.gpkg", dem, column="lslpts")
    region = xl.region_from_dem(dem, label).landslide.with_offsets((30, 100, 300))
    patches = xl.make_patches(region, xl.PatchGeometry(64, 32), seed=0)
    config = xl.TrainConfig.paper("llr", epochs=epochs, seed=0)
    t0 = time.perf_counter()
    xl.fit(region, "llr", patches=patches, config=config, progress=False)
    dt = time.perf_counter() - t0
    return {
        "seconds": dt,
        "per_second": epochs / dt,
        "unit": "epochs/s",
        "what": f"Ecuador LLR fit, {epochs} epochs, {len(patches)} patches (lazy region)",
    }


CASES = {
    "write_store": case_write_store,
    "predict_llr_store": case_predict_llr_store,
    "predict_llr_store_lazy": case_predict_llr_store_lazy,
    "predict_llr_tif": case_predict_llr_tif,
    "predict_llr_lazy": case_predict_llr_lazy,
    "predict_llr_store_8192": case_predict_llr_store_8192,
    "predict_gam_store_8192": case_predict_gam_store_8192,
    "predict_gbm_store_8192": case_predict_gbm_store_8192,
    "predict_cluster": case_predict_cluster,
    "predict_lacnn": case_predict_lacnn,
    "patch_reads": case_patch_reads,
    "patch_loader": case_patch_loader,
    "train_patches": case_train_patches,
    "ecuador_llr": case_ecuador_llr,
}


def _child(name: str) -> None:
    result = CASES[name]()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["layout"] = _api()
    print("RESULT " + json.dumps(result))


def run_case(name: str) -> dict:
    """Run case ``name`` in a fresh process; its result dict (with ``peak_rss_mb``)."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", name], capture_output=True, text=True, check=False
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        return {"what": name, "error": (out.stderr or out.stdout)[-400:].strip()}
    return json.loads(lines[-1][len("RESULT ") :])


def _format(name: str, r: dict) -> str:
    if "error" in r:
        return f"{name:<24} FAILED: {r['error']}"
    if "skip" in r:
        return f"{name:<24} {r['what']}: skipped ({r['skip']})"
    parts = [f"{r['seconds']:8.2f} s", f"peak {r['peak_rss_mb'] / 1024:5.2f} GB"]
    if "mpix_per_s" in r:
        parts.append(f"{r['mpix_per_s']:.3f} Mpix/s")
    if "per_second" in r:
        parts.append(f"{r['per_second']:.2f} {r.get('unit', 'patches/s')}")
    for key in ("raw_mpix_per_s", "raw_per_second"):
        if key in r:
            parts.append(f"raw {r[key]:.3f}")
    if "overhead" in r:
        parts.append(f"cluster/threads {r['overhead']:.2f}x")
    if "ratio_to_raw" in r:
        parts.append(f"ratio {r['ratio_to_raw']:.2f}")
    if "bytes_per_pixel_raw" in r:
        parts.append(f"{r['bytes_per_pixel_raw']:.0f} B/px raw")
        parts.append(f"{r['disk_mb']:.0f} MB on disk ({r['disk_bytes_per_pixel']:.2f} B/px)")
    return f"{name:<24} {r['what']}\n{'':<24} " + " | ".join(parts)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1])
        return 0
    if argv[:1] == ["--list"]:
        for name, fn in CASES.items():
            print(f"{name:<24} {fn.__doc__.splitlines()[0]}")
        return 0
    names = argv or list(CASES)
    import xlandslide

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; xlandslide {xlandslide.__version__} from "
        f"{Path(xlandslide.__file__).parent} ({_api()} layout)"
    )
    for name in names:
        print(_format(name, run_case(name)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
