"""Coded polygons to INSPIRE classes: the paper's dataset shape, end to end, in miniature.

The paper's inputs are a DEM and vector layers whose polygons carry the codes of regional
maps (lithology, land cover, rock family and age), mapped to INSPIRE terms.  This example
builds such a region from the package's own tiny fixtures (``tests/data/coded_polygons``,
written by ``tests/data/make_fixtures.py``):

- a DEM GeoTIFF (10 m, EPSG:32632) with a declared no-data corner;
- lithology polygons with a geological map's own integer codes (``LITO`` 101, 205...),
  mapped to INSPIRE lithology classes with :func:`xlandslide.class_mapping`;
- land-cover polygons with CORINE Land Cover level-3 codes (``CODE_18``), mapped to the
  five INSPIRE land-cover classes by the built-in ``"corine"`` preset;
- landslide polygons (the inventory) and the region's boundary.

It writes the region store, opens and validates it (values too), prints the area of every
class, reads back the class under each lithology polygon, then trains an LLR on the one-hot
features (slope, dem, 44 lithology and 5 land-cover classes: the paper's first 51 features)
and writes its susceptibility map.  ``examples/coded_polygons.toml`` is the same region for
``xlandslide ingest``.

Run:  .venv/bin/python examples/coded_polygons.py [OUTPUT_FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import xlandslide
from xlandslide.grid import PatchGeometry

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "coded_polygons"

#: The geological map's own codes and the INSPIRE lithology classes they are.
LITHOLOGY_CODES = {101: "gneiss", 205: "limestone", 310: "flysch", 412: "alluvium"}


def build():
    """The region (lazy): slope and dem, lithology and land cover codes, polygon labels."""
    return xlandslide.build_region(
        FIXTURES / "dem.tif",
        categorical={
            "lithology": xlandslide.CategoricalLayer(
                FIXTURES / "lithology.gpkg",
                column="LITO",
                mapping=xlandslide.class_mapping(
                    "lithology", preset="inspire", codes=LITHOLOGY_CODES
                ),
            ),
            "land_cover": xlandslide.CategoricalLayer(
                FIXTURES / "land_cover.geojson", column="CODE_18", mapping="corine"
            ),
        },
        labels=FIXTURES / "landslides.geojson",
        boundary=FIXTURES / "boundary.geojson",
        chunks=32,
        title="coded polygons fixture (INSPIRE classes)",
    )


def class_areas(region) -> dict:
    """{group: {class: km²}} of the classes present in the region."""
    pixel_km2 = xlandslide.grid.pixel_size(region) ** 2 / 1e6
    codes = region["categorical"].values
    out = {}
    for g, (group, classes) in enumerate(region.landslide.layout().groups):
        counts = np.bincount(codes[g].ravel(), minlength=256)
        out[group] = {classes[k]: counts[k] * pixel_km2 for k in np.nonzero(counts[:255])[0]}
    return out


def main(out="coded-polygons-output") -> dict:
    """Run the example; write ``region.zarr`` and ``susceptibility.tif`` into ``out``."""
    import geopandas as gpd
    from shapely.geometry import box

    out = Path(out)
    store = xlandslide.write_region(build(), out / "region.zarr", overwrite=True)
    region = xlandslide.validate_region(xlandslide.open_region(store), check_values=True)
    layout = region.landslide.layout()
    print(
        f"region {dict(region.sizes)}: {len(layout.names)} features "
        f"({', '.join(layout.continuous)} and {sum(layout.n_classes)} one-hot classes)"
    )
    areas = class_areas(region)
    for group, table in areas.items():
        print(f"{group}: " + ", ".join(f"{c} {a:.3f} km²" for c, a in table.items()))

    # the class under the centre of every lithology polygon, read back from the store
    litho = gpd.read_file(FIXTURES / "lithology.gpkg")
    classes = layout.classes("lithology")
    codes = region["categorical"].sel(group="lithology")
    found = {}
    for code, geom in zip(litho["LITO"], litho.geometry):
        p = geom.intersection(box(*region.rio.bounds())).representative_point()
        found[int(code)] = classes[int(codes.sel(x=p.x, y=p.y, method="nearest"))]
    print("lithology code -> class read back: " + ", ".join(f"{k} {v}" for k, v in found.items()))

    label = region["label"].values
    print(f"labels: {(label == 1).sum()} landslide, {(label == 0).sum()} stable pixels")
    patches = xlandslide.make_patches(region, PatchGeometry(core=16, halo=8), seed=0)
    cfg = xlandslide.TrainConfig.paper("llr", epochs=3, lr=0.05, batch_size=4)
    llr = xlandslide.fit(region, "llr", patches=patches, config=cfg, progress=False)
    prob = region.landslide.predict(llr)
    metrics = xlandslide.evaluate(prob, region["label"])
    print(f"LLR on all labelled pixels: AUC {metrics['auc']:.3f}, NLL {metrics['nll']:.3f}")
    xlandslide.write_map(prob, out / "susceptibility.tif", overwrite=True)
    print(f"wrote {store} and {out / 'susceptibility.tif'}")
    return {
        "features": len(layout.names),
        "areas": areas,
        "lithology": found,
        "auc": float(metrics["auc"]),
        "landslide_pixels": int((label == 1).sum()),
    }


if __name__ == "__main__":
    main(*sys.argv[1:2])
