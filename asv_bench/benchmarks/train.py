"""Training throughput: the Ecuador example's LLR (20 epochs) on a region built lazily.

The region is :func:`xlandslide.region_from_dem` of the shipped 10 m DEM (383 x 415 pixels,
dask chunks of 128) with lazy uphill offsets, labels from the 350 landslide / non-landslide
points, patches of core 64 + 2 x 32 (about 40).  Each patch's inputs are read — computed
from the lazy graph — once per run (the patch cache), not once per epoch.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ECUADOR = Path(__file__).resolve().parents[2] / "examples" / "data" / "ecuador_rbsf"
EPOCHS = int(os.environ.get("XLANDSLIDE_BENCH_EPOCHS", 20))


def ecuador_region():
    import rioxarray

    import xlandslide as xl

    stack = rioxarray.open_rasterio(ECUADOR / "ta_terrain_attributes_10m.tif", masked=True)
    names = list(stack.attrs["long_name"])
    dem = stack.isel(band=names.index("elev")).drop_vars("band").chunk({"y": 128, "x": 128})
    label = xl.labels_from_points(ECUADOR / "lsl_balanced_points.gpkg", dem, column="lslpts")
    region = xl.region_from_dem(dem, label).landslide.with_offsets((30, 100, 300), halo=32)
    return region, xl.make_patches(region, xl.PatchGeometry(64, 32), seed=0)


def fit_llr(region, patches, epochs: int = EPOCHS):
    import xlandslide as xl

    config = xl.TrainConfig.paper("llr", epochs=epochs, seed=0)
    return xl.fit(region, "llr", patches=patches, config=config, progress=False)


class FitEcuadorLLR:
    """LLR, Table 1 settings with 20 epochs, on the lazily built Ecuador region."""

    timeout = 900
    number = 1
    repeat = 2

    def setup(self):
        self.region, self.patches = ecuador_region()

    def time_fit_llr(self):
        fit_llr(self.region, self.patches)


def table_rows() -> list[dict]:
    region, patches = ecuador_region()
    t0 = time.perf_counter()
    fit_llr(region, patches)
    dt = time.perf_counter() - t0
    return [
        {
            "benchmark": f"fit LLR Ecuador ({len(patches)} patches, {EPOCHS} epochs, lazy)",
            "seconds": dt,
            "per_second": EPOCHS / dt,
            "unit": "epochs/s",
        }
    ]
