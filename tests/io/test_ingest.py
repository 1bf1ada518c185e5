"""xlandslide ingest: a TOML config -> build_region -> a region store; strict config checks;
the command line (one line and exit status 2 for a user's mistake)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rioxarray
import shapely
import xarray as xr

import xlandslide
from tests.data import make_fixtures as fx
from xlandslide.catalog import LAND_COVER, LITHOLOGY
from xlandslide.cli import main
from xlandslide.errors import ConfigError, ConfigNotFoundError, IngestWarning, StoreExistsError
from xlandslide.io.ingest import ingest_region, read_ingest_config
from xlandslide.io.summary import summary_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "region.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _fixture_config(tmp_path, extra: str = "") -> Path:
    d = fx.HERE.as_posix()
    return _write(
        tmp_path,
        f"""
out = "out/region.zarr"
chunks = 32
store_chunks = 16
[dem]
path = "{d}/dem.tif"
[categorical.lithology]
path = "{d}/lithology.gpkg"
column = "LITO"
preset = "inspire"
codes = {{ 101 = "gneiss", 205 = "limestone", 310 = "flysch", 412 = "alluvium" }}
[categorical.land_cover]
path = "{d}/land_cover.geojson"
column = "CODE_18"
preset = "corine"
[labels]
path = "{d}/landslides.geojson"
[boundary]
path = "{d}/boundary.geojson"
{extra}""",
    )


def _few_patches():
    """The fixture's grid (6 patches of the smallest core) is too small for a split."""
    return pytest.warns(IngestWarning, match="6 patches of core 32.*fewer than 3")


def test_config_to_store(tmp_path):
    with _few_patches():
        path, _ = ingest_region(_fixture_config(tmp_path))
    assert path == tmp_path / "out" / "region.zarr"  # relative to the config file
    back = xlandslide.validate_region(xlandslide.open_region(path), check_values=True)
    assert back["continuous"].encoding["chunks"] == (2, 16, 16)
    assert back.landslide.layout().groups == (
        ("lithology", LITHOLOGY),
        ("land_cover", LAND_COVER),
    )
    direct = xlandslide.build_region(
        fx.HERE / "dem.tif",
        categorical={
            "lithology": xlandslide.CategoricalLayer(
                fx.HERE / "lithology.gpkg",
                column="LITO",
                mapping=xlandslide.class_mapping(
                    "lithology", preset="inspire", codes={c: n for c, n, _ in fx.LITHOLOGY}
                ),
            ),
            "land_cover": xlandslide.CategoricalLayer(
                fx.HERE / "land_cover.geojson", column="CODE_18", mapping="corine"
            ),
        },
        labels=fx.HERE / "landslides.geojson",
        boundary=fx.HERE / "boundary.geojson",
    )
    for name in ("continuous", "categorical", "label", "dem"):
        np.testing.assert_array_equal(back[name].values, direct[name].values)
    assert back.attrs["normalisation"] == direct.attrs["normalisation"]
    with pytest.raises(StoreExistsError, match="overwrite"):
        ingest_region(_fixture_config(tmp_path))
    with _few_patches():
        assert ingest_region(_fixture_config(tmp_path), overwrite=True)[0] == path


@pytest.mark.parametrize(
    "extra, match",
    [
        ("colour = 3", r"unknown key\(s\) \['colour'\]"),
        ("[continuous]\nrain = { path = 'r.tif', units = 'mm' }", r"unknown key\(s\) \['units'\]"),
        ("[normalisation]\ndem = { mean = 1 }", "needs mean and std"),
    ],
)
def test_config_errors(tmp_path, extra, match):
    with pytest.raises(ConfigError, match=match):
        read_ingest_config(_fixture_config(tmp_path, extra))


@pytest.mark.parametrize(
    "text, match",
    [
        ("out = 'a.zarr'", r"\[dem\] table"),
        ("chunks = '32'\n[dem]\npath = 'd.tif'", "chunks must be int, got str"),
        ("reproject = 1\n[dem]\npath = 'd.tif'", "reproject must be bool"),
        ("chunks = true\n[dem]\npath = 'd.tif'", "chunks must be int, got bool"),
        ("[dem]\nband = 1", r"\[dem\] needs a path"),
        ("[dem]\npath = 'd.tif'\n[labels]\npath = 'l.tif'\ncolumn = 'x'", "column is for point"),
        ("[dem\npath = 'd.tif'", "not valid TOML"),
        (
            "[dem]\npath='d.tif'\n[categorical.lithology]\npath='g.gpkg'\ncolumn='C'\n"
            "preset='inspire'\ncodes={1='schist'}",
            r"\['schist'\] are not inspire classes",
        ),
    ],
)
def test_config_file_errors(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        read_ingest_config(_write(tmp_path, text))


def test_missing_config_and_out(tmp_path):
    with pytest.raises(ConfigNotFoundError, match="no configuration file") as info:
        read_ingest_config(tmp_path / "nope.toml")
    assert isinstance(info.value, FileNotFoundError)
    cfg = _write(tmp_path, f"[dem]\npath = '{(fx.HERE / 'dem.tif').as_posix()}'")
    with pytest.raises(ConfigError, match="no store to write"):
        ingest_region(cfg)
    with _few_patches():
        path, _ = ingest_region(cfg, tmp_path / "given.zarr")
    assert xlandslide.open_region(path).attrs["normalisation"]["dem"]["mean"] > 0


def test_cli_ingest_ecuador_example(tmp_path, capsys):
    """``xlandslide ingest examples/ecuador.toml``: the five layers vary as in the source."""
    store = tmp_path / "ecuador.zarr"
    assert main(["ingest", str(EXAMPLES / "ecuador.toml"), "--out", str(store), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "continuous layers: slope, dem, cplan, cprof, log10_carea" in out
    assert "175 landslide, 174 stable" in out and f"wrote {store}" in out
    region = xlandslide.validate_region(xlandslide.open_region(store), check_values=True)
    stack = rioxarray.open_rasterio(EXAMPLES / "data/ecuador_rbsf/ta_terrain_attributes_10m.tif")
    bands = list(stack.attrs["long_name"])
    norm = region.attrs["normalisation"]
    cont = region["continuous"].values
    valid = np.isfinite(cont[0])
    for k, name in enumerate(region.layer.values):
        src = stack.values[bands.index("elev" if name == "dem" else name)]
        back = cont[k] * norm[name]["std"] + norm[name]["mean"]
        np.testing.assert_allclose(
            back[valid], src[valid], rtol=1e-5, atol=1e-5 * norm[name]["std"]
        )
        assert np.nanstd(back) > 0  # every layer varies


def test_cli_ingest_coded_polygons_example(tmp_path, capsys):
    store = tmp_path / "cp.zarr"
    argv = ["ingest", str(EXAMPLES / "coded_polygons.toml"), "--out", str(store), "--quiet"]
    with _few_patches():
        assert main(argv) == 0
    out = capsys.readouterr().out
    region = xlandslide.validate_region(xlandslide.open_region(store), check_values=True)
    assert region.landslide.features().sizes["feature"] == 51  # the mappings' 44 + 5 classes
    # the summary names the classes present (numpy's count), not the mappings' classes
    present, _ = _present(region)
    assert 1 < len(present["lithology"]) < 44
    for group, classes in present.items():
        shares = ", ".join(f"{name} {rec['share']:.1%}" for name, rec in classes.items())
        assert f"group {group}: {len(classes)} classes present: {shares}" in out
    assert "44 classes" not in out
    assert summary_lines(region.attrs["xlandslide_build"])[-1] in out  # the patch count


def test_cli_user_mistakes_are_one_line(tmp_path, capsys):
    cfg = _fixture_config(tmp_path, "[continuous]\nrain = 'missing.tif'")
    assert main(["ingest", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xlandslide: error: continuous layer 'rain'")
    assert "no file at" in err[0]
    assert main(["ingest", str(tmp_path / "none.toml")]) == 2
    assert "no configuration file" in capsys.readouterr().err


def test_progress_bars_on_long_work(tmp_path, capsys):
    cfg = _write(tmp_path, f"chunks = 16\n[dem]\npath = '{(fx.HERE / 'dem.tif').as_posix()}'")
    capsys.readouterr()
    with _few_patches():
        ingest_region(cfg, tmp_path / "p.zarr", progress=True)
    err = capsys.readouterr().err
    assert "statistics and checks" in err and "writing p.zarr" in err


# ------------------------------------------------------------------ the summary (issue 19.8)
def _present(region):
    """The oracle: per group the class counts of the valid pixels, by numpy."""
    valid = np.isfinite(region["continuous"].values).all(axis=0)
    out = {}
    for group, classes in region.landslide.layout().groups:
        codes = region["categorical"].sel(group=group).values[valid]
        ks, counts = np.unique(codes[codes != 255], return_counts=True)
        out[group] = {
            classes[k]: {"pixels": int(n), "share": n / valid.sum()} for k, n in zip(ks, counts)
        }
    return out, int(valid.sum())


def test_the_summary_counts_the_classes_present_and_their_source_codes(tmp_path):
    with _few_patches():
        _, region = ingest_region(_fixture_config(tmp_path))
    build = region.attrs["xlandslide_build"]
    present, n_valid = _present(region)
    assert build["valid_pixels"] == n_valid
    assert build["classes"] == present  # not the mapping's 44 lithology classes
    assert len(build["classes"]["lithology"]) < 44
    # the source codes behind each class present: the fixture's polygons on the grid
    litho = {str(c): name for c, name, _ in fx.LITHOLOGY}
    cover = xlandslide.class_mapping("land_cover", preset="corine")
    want = {"lithology": {}, "land_cover": {}}
    box = shapely.box(*region.rio.bounds())
    for group, table, name_of in (
        ("lithology", fx.LITHOLOGY, lambda c: litho[str(c)]),
        ("land_cover", fx.LAND_COVER, lambda c: LAND_COVER[cover.lookup(c)]),
    ):
        for code, _, geom in sorted(table, key=lambda t: str(t[0])):
            cls = name_of(code)
            if geom.intersects(box) and cls in present[group]:
                codes = want[group].setdefault(cls, [])
                if str(code) not in codes:
                    codes.append(str(code))
    assert build["source_codes"] == want
    assert build["unmapped_codes"] == {"lithology": [], "land_cover": []}
    assert build["patches"] == {"core": 32, "patches": 6, "smallest_split": 0.6}
    share = present["land_cover"]
    text = "\n".join(summary_lines(build))
    for name, rec in share.items():
        assert f"{name} {rec['share']:.1%}" in text
    assert f"group land_cover: {len(share)} classes present" in text
    assert "6 patches of core 32 (0.6 in a 10% split)" in text


def _code_raster(tmp_path, codes):
    x = fx.X0 + fx.PIXEL * (np.arange(fx.NX) + 0.5)
    y = fx.Y0 - fx.PIXEL * (np.arange(fx.NY) + 0.5)
    da = xr.DataArray(codes.astype("float32"), dims=("y", "x"), coords={"y": y, "x": x})
    path = tmp_path / "codes.tif"
    da.rio.write_crs("EPSG:32632").rio.write_nodata(-1).rio.to_raster(path)
    return path


def test_a_group_with_one_class_present_warns_naming_its_source_codes(tmp_path):
    """CORINE 311, 312 and 324 all map to one class: the group tells a model nothing."""
    rng = np.random.default_rng(0)
    codes = rng.choice([311, 312, 324], (fx.NY, fx.NX))
    codes[:3, :3] = -1  # no data
    path = _code_raster(tmp_path, codes)
    d = fx.HERE.as_posix()
    cfg = _write(
        tmp_path,
        f'out = "r.zarr"\n[dem]\npath = "{d}/dem.tif"\n'
        f'[categorical.land_cover]\npath = "{path.as_posix()}"\npreset = "corine"\n',
    )
    with _few_patches(), pytest.warns(IngestWarning, match="one class present") as rec:
        _, region = ingest_region(cfg)
    msg = next(str(w.message) for w in rec if "one class" in str(w.message))
    assert "'forest_and_semi_natural_areas' (source codes 311, 312, 324)" in msg
    build = region.attrs["xlandslide_build"]
    present, _ = _present(region)
    assert build["classes"] == present
    assert list(present["land_cover"]) == ["forest_and_semi_natural_areas"]
    valid = np.isfinite(region["continuous"].values).all(axis=0)
    seen = sorted(str(c) for c in np.unique(codes[valid]) if c >= 0)
    assert build["source_codes"]["land_cover"] == {"forest_and_semi_natural_areas": seen}
    assert build["unclassed_pixels"]["land_cover"] == int((codes[valid] < 0).sum())
