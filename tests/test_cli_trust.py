"""Trust in every command (issue 18): no command replaces an input or a user's file, writes
into a store, or starts work it will refuse at the end; every store it writes is one the
package reads back."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

import xlandslide
from tests.test_cli import one_error_line
from xlandslide.cli import main
from xlandslide.io.cog import cog_problems

TINY = ["--core", "32", "--halo", "16", "--epochs", "1", "--batch-size", "4", "--keep-degenerate"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("trust")
    store = d / "r.zarr"
    assert main(["synthetic", str(store), "--shape", "64", "64", "--distances"]) == 0
    a, b = d / "a.pt", d / "b.pt"
    assert main(["train", str(store), "--model", "llr", "--out", str(a), *TINY]) == 0
    split = str(a.with_suffix(".split.json"))
    argv = ["train", str(store), "--model", "nn", "--out", str(b), *TINY, "--seed", "1"]
    assert main([*argv, "--split", split]) == 0
    return d, store, a, b


def listing(d):
    return sorted(p.relative_to(d).as_posix() for p in d.rglob("*"))


# --- uncertainty ----------------------------------------------------------------------------
def test_uncertainty_never_replaces_its_inputs_or_a_users_folder(small, capsys):
    d, store, a, b = small
    before = a.read_bytes()
    capsys.readouterr()
    argv = ["uncertainty", str(store), str(a), str(b)]
    assert main([*argv, "--out", str(a), "--overwrite"]) == 2
    one_error_line(capsys, "is the model")
    assert a.read_bytes() == before
    assert main([*argv, "--out", str(store), "--overwrite"]) == 2
    one_error_line(capsys, "is the region store")
    thesis = d / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("keep me")
    assert main([*argv, "--out", str(thesis), "--overwrite"]) == 2
    one_error_line(capsys, "map format")
    mine = d / "mine.zarr"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main([*argv, "--out", str(mine), "--overwrite"]) == 2
    one_error_line(capsys, "xlandslide did not write")
    assert (thesis / "chapter1.tex").read_text() == "keep me"
    assert (mine / "notes.txt").read_text() == "keep me"


def test_uncertainty_writes_maps_that_open_map_and_zone_read(small, capsys):
    d, store, a, b = small
    u = d / "u.zarr"
    argv = ["uncertainty", str(store), str(a), str(b)]
    assert main([*argv, "--out", str(u)]) == 0
    mean = xlandslide.open_map(u, verify=True)
    std = xlandslide.open_map(u, name="std")
    region = xlandslide.open_region(store)
    maps = [region.landslide.predict(xlandslide.load_model(m)).values for m in (a, b)]
    np.testing.assert_allclose(mean.values, np.mean(maps, 0), atol=1e-6)
    np.testing.assert_allclose(std.values, np.std(maps, 0), atol=1e-6)
    assert main(["zone", str(u), "--out", str(d / "uz.tif")]) == 0
    capsys.readouterr()
    assert main([*argv, "--out", str(u)]) == 2
    one_error_line(capsys, "exists", "overwrite")
    assert main([*argv, "--out", str(u), "--overwrite"]) == 0  # its own output: replaced
    tif = d / "ut.tif"
    assert main([*argv, "--out", str(tif)]) == 0
    # one 2-band Cloud Optimized GeoTIFF, its bands named: no NAME.std.tif beside it
    assert sorted(p.name for p in d.glob("ut*")) == ["ut.png", "ut.tif"]
    with rasterio.open(tif) as src:
        assert src.count == 2 and src.descriptions == ("mean", "std")
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert cog_problems(tif) == []
    np.testing.assert_allclose(xlandslide.open_map(tif).values, mean.values, atol=1e-6)
    got = xlandslide.open_map(tif, name="std").values
    np.testing.assert_allclose(got, std.values, atol=1e-6)
    assert main(["zone", str(tif), "--out", str(d / "utz.tif")]) == 0  # zone reads its mean


# --- importance -----------------------------------------------------------------------------
def test_importance_never_replaces_a_model_a_store_or_a_users_file(small, capsys):
    d, store, a, _ = small
    before = a.read_bytes()
    capsys.readouterr()
    argv = ["importance", str(store), str(a)]
    assert main([*argv, "--out", str(a)]) == 2
    one_error_line(capsys, "is the model")
    assert a.read_bytes() == before
    assert main([*argv, "--out", str(d / "a.split.json")]) == 2
    one_error_line(capsys, ".csv")
    stored = listing(store)
    assert main([*argv, "--out", str(store / "imp.csv")]) == 2
    one_error_line(capsys, "region store")
    assert listing(store) == stored
    users = d / "users.csv"
    users.write_text("site,count\nA,3\n")
    assert main([*argv, "--out", str(users)]) == 2
    one_error_line(capsys, "exists", "--overwrite")
    assert main([*argv, "--out", str(users), "--overwrite"]) == 2
    one_error_line(capsys, "xlandslide did not write")
    assert users.read_text() == "site,count\nA,3\n"
    plot = d / "plot.png"
    plot.write_bytes(b"\x89PNG\r\n\x1a\nnot ours")
    assert main([*argv, "--out", str(d / "plot.csv"), "--overwrite"]) == 2
    one_error_line(capsys, "xlandslide did not write", "plot.png")
    assert plot.read_bytes() == b"\x89PNG\r\n\x1a\nnot ours" and not (d / "plot.csv").exists()


def test_importance_replaces_its_own_table_and_plot(small, capsys):
    import pandas as pd

    d, store, a, _ = small
    out = d / "imp.csv"
    argv = ["importance", str(store), str(a), "--out", str(out)]
    assert main(argv) == 0
    from xlandslide.io.atomic import png_software

    assert png_software(out.with_suffix(".png")).startswith("xlandslide")
    capsys.readouterr()
    assert main(argv) == 2
    one_error_line(capsys, "exists", "--overwrite")
    assert main([*argv, "--overwrite"]) == 0
    table = pd.read_csv(out)
    assert (
        table["feature"].tolist()
        == xlandslide.llr_weights(xlandslide.load_model(a))["feature"].tolist()
    )


# --- zone -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prob_map(small):
    d, store, a, _ = small
    out = d / "p.zarr"
    assert main(["predict", str(store), str(a), "--out", str(out)]) == 0
    return out


def test_zone_never_replaces_a_users_raster_style_or_table(small, prob_map, capsys):
    import rasterio

    d, store, a, _ = small
    dem = d / "dem.tif"
    from affine import Affine

    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "float32"}
    with rasterio.open(
        dem, "w", **profile, crs="EPSG:32717", transform=Affine(30, 0, 0, 0, -30, 0)
    ) as dst:
        dst.write(np.ones((1, 4, 4), "float32"))
    before = dem.read_bytes()
    capsys.readouterr()
    assert main(["zone", str(prob_map), "--out", str(dem), "--overwrite"]) == 2
    one_error_line(capsys, "xlandslide did not write", "XLANDSLIDE_CLASSED")
    assert dem.read_bytes() == before
    # a user's style or table beside a new zones.tif: refused without --overwrite, kept
    zones = d / "zones.tif"
    (d / "zones.qml").write_text("<qgis>my style</qgis>")
    assert main(["zone", str(prob_map), "--out", str(zones)]) == 2
    one_error_line(capsys, "zones.qml", "exists")
    assert main(["zone", str(prob_map), "--out", str(zones), "--overwrite"]) == 2
    one_error_line(capsys, "zones.qml", "xlandslide did not write")
    assert (d / "zones.qml").read_text() == "<qgis>my style</qgis>" and not zones.exists()
    (d / "zones.qml").unlink()
    (d / "zones.csv").write_text("my,table\n1,2\n")
    argv = ["zone", str(prob_map), "--out", str(zones), "--store", str(store)]
    assert main(argv) == 2
    one_error_line(capsys, "zones.csv", "exists")
    assert main([*argv, "--overwrite"]) == 2
    one_error_line(capsys, "zones.csv", "xlandslide did not write")
    assert (d / "zones.csv").read_text() == "my,table\n1,2\n" and not zones.exists()
    # --table over an input, inside a store, or without --store
    stored = listing(store)
    for table, fragment in (
        (a, ".csv"),
        (store / "zarr.json", "lies inside the region store"),
        (prob_map / "z.csv", "lies inside the map"),
    ):
        assert main([*argv, "--table", str(table), "--overwrite"]) == 2
        one_error_line(capsys, fragment)
    assert listing(store) == stored
    assert a.read_bytes() and xlandslide.load_model(a).name == "llr"
    assert main(["zone", str(prob_map), "--out", str(zones), "--table", str(d / "t.csv")]) == 2
    one_error_line(capsys, "--store")


def test_zone_replaces_its_own_outputs(small, prob_map, capsys):
    d, store, _, _ = small
    out = d / "own" / "zones.tif"
    argv = ["zone", str(prob_map), "--out", str(out), "--store", str(store)]
    assert main(argv) == 0
    assert main([*argv, "--overwrite"]) == 0
    assert xlandslide.open_classed(out).attrs["class_names"][-1] == "very high"


@pytest.mark.parametrize("breaks", [["2", "3"], ["0.5", "0.2"], ["-0.1", "0.5"]])
def test_zone_refuses_breaks_that_are_not_probabilities(small, prob_map, capsys, breaks):
    d, _, _, _ = small
    capsys.readouterr()
    argv = ["zone", str(prob_map), "--out", str(d / "zb.tif"), "--breaks", *breaks]
    assert main(argv) == 2
    one_error_line(capsys, "breaks")
    assert not (d / "zb.tif").exists()


# --- cv, report -----------------------------------------------------------------------------
def test_cv_never_writes_into_a_store_or_over_a_users_table(small, capsys):
    d, store, _, _ = small
    stored = listing(store)
    capsys.readouterr()
    argv = ["cv", str(store), "--models", "llr", "--k", "2", "--epochs", "1"]
    assert main([*argv, "--out", str(store)]) == 2
    one_error_line(capsys, "is the region store")
    assert main([*argv, "--out", str(store / "cv")]) == 2
    one_error_line(capsys, "lies inside the region store")
    assert listing(store) == stored
    mine = d / "results"
    mine.mkdir()
    (mine / "cv_summary.csv").write_text("my,summary\n")
    assert main([*argv, "--out", str(mine)]) == 2
    one_error_line(capsys, "cv_summary.csv", "exists")
    assert main([*argv, "--out", str(mine), "--overwrite"]) == 2
    one_error_line(capsys, "cv_summary.csv", "xlandslide did not write")
    assert (mine / "cv_summary.csv").read_text() == "my,summary\n"
    assert sorted(p.name for p in mine.iterdir()) == ["cv_summary.csv"]


def test_report_refuses_an_input_as_out_before_any_work(small, capsys, monkeypatch):
    _, store, _, _ = small
    import importlib

    report = importlib.import_module("xlandslide.workflows.report")

    def trained(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("report trained before refusing --out")

    monkeypatch.setattr(report, "paper_report", trained)
    capsys.readouterr()
    argv = ["report", str(store), "--models", "naive", "--core", "32", "--halo", "16"]
    assert main([*argv, "--out", str(store)]) == 2
    one_error_line(capsys, "is the region store")
    assert main([*argv, "--out", str(store / "rep")]) == 2
    one_error_line(capsys, "lies inside the region store")


# --- settings that cannot work fail fast (item 15) ------------------------------------------
@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--k", "5000"], "k = 5000 folds need a landslide and a stable pixel each"),
        (["--buffer", "1e9"], "excludes every training pixel"),
        (["--folds", "blocks", "--block-size", "0"], "block_size must be a positive"),
        (["--block-size", "500"], "'blocks' folds only"),
    ],
)
def test_cv_settings_that_cannot_work_fail_fast(small, capsys, tmp_path, extra, fragment):
    import time

    _, store, _, _ = small
    capsys.readouterr()
    argv = ["cv", str(store), "--models", "llr", "--epochs", "1", "--out", str(tmp_path / "cv")]
    start = time.perf_counter()
    assert main([*argv, *extra]) == 2
    one_error_line(capsys, fragment)
    assert time.perf_counter() - start < 10  # refused before any training (minutes before)
    assert not (tmp_path / "cv").exists()


def test_outputs_in_missing_folders_are_created(small, capsys):
    d, store, a, _ = small
    out = d / "new" / "deeper" / "m.pt"
    argv = ["train", str(store), "--model", "llr", "--out", str(out), *TINY]
    assert main([*argv, "--split", str(d / "new2" / "s.json")]) == 0
    assert out.is_file() and (d / "new2" / "s.json").is_file()
    assert main(["predict", str(store), str(a), "--out", str(d / "new3" / "x" / "m.tif")]) == 0


# --- damaged inputs and unwritable outputs (item 11) ----------------------------------------
def _dem_tif(path, shape=(128, 128)):
    import rasterio
    from affine import Affine

    yy, xx = np.mgrid[: shape[0], : shape[1]]
    z = (800 + 40 * np.sin(yy / 9) + 30 * np.cos(xx / 7)).astype("float32")
    profile = {"driver": "GTiff", "width": shape[1], "height": shape[0], "count": 1}
    profile.update(dtype="float32", tiled=True, blockxsize=32, blockysize=32)
    transform = Affine(10, 0, 500_000, 0, -10, 4_000_000)
    with rasterio.open(path, "w", **profile, crs="EPSG:32632", transform=transform) as dst:
        dst.write(z[None])


def test_a_truncated_input_geotiff_is_one_line_naming_it(tmp_path, capsys):
    dem = tmp_path / "dem.tif"
    _dem_tif(dem)
    data = dem.read_bytes()
    dem.write_bytes(data[: len(data) // 3])  # a download that stopped
    config = tmp_path / "region.toml"
    config.write_text('[dem]\npath = "dem.tif"\n')
    capsys.readouterr()
    argv = ["ingest", str(config), "--out", str(tmp_path / "r.zarr"), "--quiet"]
    assert main(argv) == 2
    one_error_line(capsys, str(dem), "truncated or damaged", "again")  # not a traceback
    assert not (tmp_path / "r.zarr").exists()
    from xlandslide.errors import CorruptChunkError

    with pytest.raises(CorruptChunkError, match="the DEM is truncated"):
        xlandslide.build_region(dem)


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs Linux /proc")
@pytest.mark.parametrize("name", ["m.tif", "m.zarr"])
def test_an_unwritable_output_folder_is_one_line_naming_the_output(small, capsys, name):
    _, store, a, _ = small
    capsys.readouterr()
    out = f"/proc/{name}"  # a folder no one can create files in (root neither)
    assert main(["predict", str(store), str(a), "--out", out]) == 2
    line = one_error_line(capsys, f"cannot write {out!r}", "writable")
    assert "xlandslide-tmp" not in line and "xlandslide-partial" not in line


# --- train reusing a split (item 12) --------------------------------------------------------
def test_train_refuses_core_and_halo_that_disagree_with_the_reused_split(small, capsys):
    d, store, a, _ = small
    split = str(a.with_suffix(".split.json"))  # core 32, halo 16
    argv = [
        "train",
        str(store),
        "--model",
        "llr",
        "--epochs",
        "1",
        "--split",
        split,
        "--keep-degenerate",
    ]
    capsys.readouterr()
    assert main([*argv, "--out", str(d / "c.pt"), "--core", "16"]) == 2
    one_error_line(capsys, "--core 16 (the split has 32)", "--split")
    assert not (d / "c.pt").exists()
    assert main([*argv, "--out", str(d / "c.pt"), "--halo", "24"]) == 2
    one_error_line(capsys, "--halo 24 (the split has 16)")
    assert main([*argv, "--out", str(d / "c.pt"), "--core", "32"]) == 0  # agrees: reused
    assert "reusing the patch split" in capsys.readouterr().out
    assert main([*argv, "--out", str(d / "e.pt")]) == 0  # no option: the split's geometry
    assert xlandslide.load_model(d / "e.pt").spec.geometry == xlandslide.PatchGeometry(32, 16)


def test_report_never_replaces_a_users_table_in_its_folder(small, capsys, tmp_path):
    _, store, _, _ = small
    out = tmp_path / "rep"
    out.mkdir()
    (out / "table2.csv").write_text("my,own\n")
    capsys.readouterr()
    argv = ["report", str(store), "--models", "naive", "--core", "32", "--halo", "16"]
    assert main([*argv, "--out", str(out)]) == 2
    one_error_line(capsys, "table2.csv", "xlandslide did not write")
    assert (out / "table2.csv").read_text() == "my,own\n"
    assert sorted(p.name for p in out.iterdir()) == ["table2.csv"]  # refused before training
    (out / "table2.csv").unlink()
    assert main([*argv, "--out", str(out)]) == 0
    assert main([*argv, "--out", str(out)]) == 0  # its own tables and figures: replaced


@pytest.mark.skipif(not __import__("os").path.isdir("/proc/self"), reason="needs Linux /proc")
def test_an_unwritable_output_folder_is_refused_before_training(small, capsys, monkeypatch):
    import importlib

    train = importlib.import_module("xlandslide.train")
    _, store, a, _ = small

    def trained(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("trained before refusing --out")

    monkeypatch.setattr(train, "fit", trained)
    split = str(a.with_suffix(".split.json"))
    capsys.readouterr()
    argv = ["train", str(store), "--model", "llr", "--split", split, "--out", "/proc/m.pt"]
    assert main(argv) == 2
    line = one_error_line(capsys, "cannot write '/proc/m.pt'")
    assert "xlandslide-tmp" not in line
    argv = ["importance", str(store), str(a), "--out", "/proc/imp.csv"]
    assert main(argv) == 2
    one_error_line(capsys, "cannot write '/proc/imp.csv'")


def test_report_and_zone_refuse_settings_that_disagree(small, prob_map, capsys, tmp_path):
    _, store, a, _ = small
    split = str(a.with_suffix(".split.json"))  # core 32, halo 16
    capsys.readouterr()
    argv = ["report", str(store), "--models", "naive", "--split", split, "--core", "48"]
    assert main([*argv, "--out", str(tmp_path / "rep")]) == 2
    one_error_line(capsys, "--core 48 (the split has 32)")
    argv = ["zone", str(prob_map), "--out", str(tmp_path / "z.tif"), "--classes", "4"]
    assert main([*argv, "--breaks", "0.2", "0.5"]) == 2
    one_error_line(capsys, "--classes 4", "disagree")
    assert main([*argv[:-2], "--breaks", "0.2", "0.5"]) == 0  # 3 classes from the breaks
