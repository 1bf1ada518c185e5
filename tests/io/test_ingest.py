"""xlandslide ingest: a TOML config -> build_region -> a region store; strict config checks;
the command line (one line and exit status 2 for a user's mistake)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rioxarray

import xlandslide
from tests.data import make_fixtures as fx
from xlandslide.catalog import LAND_COVER, LITHOLOGY
from xlandslide.cli import main
from xlandslide.errors import ConfigError, ConfigNotFoundError, StoreExistsError
from xlandslide.io.ingest import ingest_region, read_ingest_config

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


def test_config_to_store(tmp_path):
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
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "group lithology: 44 classes" in out and "group land_cover: 5 classes" in out
    region = xlandslide.validate_region(xlandslide.open_region(store), check_values=True)
    assert region.landslide.features().sizes["feature"] == 51


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
    ingest_region(cfg, tmp_path / "p.zarr", progress=True)
    err = capsys.readouterr().err
    assert "statistics and checks" in err and "writing p.zarr" in err
