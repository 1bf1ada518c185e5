"""The command line, driven through ``main(argv)``: synthetic -> offsets -> train (LLR, LACNN)
-> predict -> evaluate; a user's mistake is one line on stderr and exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import rioxarray
import xarray as xr

import xlandslide
from xlandslide.cli import main

TINY = ["--core", "48", "--halo", "16", "--epochs", "1", "--batch-size", "4", "--keep-degenerate"]


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    bare, store = d / "bare.zarr", d / "region.zarr"
    assert main(["synthetic", str(bare), "--shape", "96", "112", "--distances"]) == 0
    argv = ["offsets", str(bare), "--out", str(store), "--distances", "30", "100"]
    assert main([*argv, "--halo", "16"]) == 0
    llr, lacnn = d / "llr.pt", d / "lacnn.pt"
    assert main(["train", str(store), "--model", "llr", "--out", str(llr), *TINY]) == 0
    argv = ["train", str(store), "--model", "lacnn", "--out", str(lacnn), *TINY]
    assert main([*argv, "--split", str(llr.with_suffix(".split.json"))]) == 0
    return d, bare, store, {"llr": llr, "lacnn": lacnn}


def one_error_line(capsys, *fragments):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xlandslide: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def figure_ok(path, min_height=300, min_width=500):
    """The PNG at ``path`` opens, is at least that large (pixels) and is not blank."""
    import matplotlib.image

    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] >= min_height and img.shape[1] >= min_width, img.shape
    assert img[..., :3].std() > 0.05, "a blank figure"
    return img


def refused_for_the_figure(capsys, argv, figure, *, absent=()):
    """``argv`` (whose other outputs, ``absent``, are not there) is refused before any work
    for its figure ``figure`` alone: it exists (without --overwrite), or (with it) it is a
    PNG xlandslide did not write; neither the figure nor the other outputs change."""
    ours = figure.read_bytes()
    capsys.readouterr()
    assert main(argv) == 2
    one_error_line(capsys, figure.name, "exists", "--overwrite")
    figure.write_bytes(b"my own figure")
    assert main([*argv, "--overwrite"]) == 2
    one_error_line(capsys, figure.name, "did not write")
    assert figure.read_bytes() == b"my own figure"
    figure.write_bytes(ours)
    for path in absent:
        assert not path.exists(), path


def test_synthetic_writes_a_compact_region_store(workflow):
    _, bare, _, _ = workflow
    region = xlandslide.open_region(bare)
    assert region["continuous"].shape == (2, 96, 112)
    assert region["categorical"].shape == (4, 96, 112)
    assert region.landslide.layout() == xlandslide.INSPIRE
    assert region.landslide.offset_distances() == () and region.rio.crs is not None


def test_offsets_writes_a_new_store(workflow):
    _, bare, store, _ = workflow
    region = xlandslide.open_region(store)
    assert region.landslide.offset_distances() == (30.0, 100.0)
    want = xlandslide.uphill_offsets(xlandslide.open_region(bare)["dem"], (30, 100), halo=16)
    np.testing.assert_array_equal(region["uphill_dy"].values, want["dy"].values)
    np.testing.assert_array_equal(region["uphill_dx"].values, want["dx"].values)
    xr.testing.assert_equal(region["continuous"], xlandslide.open_region(bare)["continuous"])
    assert "uphill_dy" not in xlandslide.open_region(bare)  # the input is left as it was


def test_train_writes_checkpoints_and_reuses_the_split(workflow, capsys):
    d, _, store, models = workflow
    llr = xlandslide.load_model(models["llr"])
    assert llr.name == "llr" and llr.spec.geometry == xlandslide.PatchGeometry(48, 16)
    split = xlandslide.PatchSet.from_json(models["llr"].with_suffix(".split.json"))
    assert split.shape == (96, 112) and len(split) == 2 * 3
    argv = ["train", str(store), "--model", "llr", "--out", str(d / "again.pt"), *TINY]
    capsys.readouterr()
    assert main([*argv, "--split", str(models["llr"].with_suffix(".split.json"))]) == 0
    assert "reusing the patch split" in capsys.readouterr().out
    again = xlandslide.load_model(d / "again.pt")
    assert again.spec.geometry == llr.spec.geometry
    for a, b in zip(again.module.state_dict().values(), llr.module.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # seeded: the same weights


def test_train_lacnn_chains_the_llr_selection(workflow):
    _, _, store, models = workflow
    lacnn = xlandslide.load_model(models["lacnn"])
    assert lacnn.name == "lacnn" and lacnn.spec.distances == (30.0, 100.0)
    region = xlandslide.open_region(store, chunks=None)
    patches = xlandslide.PatchSet.from_json(models["llr"].with_suffix(".split.json"))
    want = xlandslide.select_aligned_features(region, patches, progress=False)  # the exact LLR
    assert lacnn.spec.aligned == want.names and len(want.names) >= 1


@pytest.mark.parametrize("name", ["llr", "lacnn"])
@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_predict_writes_a_map(workflow, capsys, name, suffix):
    d, _, store, models = workflow
    out = d / f"{name}{suffix}"
    assert main(["predict", str(store), str(models[name]), "--out", str(out)]) == 0
    model = xlandslide.load_model(models[name])
    expected = xlandslide.open_region(store).landslide.predict(model)
    if suffix == ".zarr":
        got = xr.open_zarr(out)["susceptibility"]
    else:
        got = rioxarray.open_rasterio(out, masked=True).squeeze("band", drop=True)
        assert got.rio.crs == expected.rio.crs
    np.testing.assert_allclose(got.values, expected.values, rtol=0, atol=1e-6)
    capsys.readouterr()
    assert main(["predict", str(store), str(models[name]), "--out", str(out)]) == 2
    one_error_line(capsys, "exists", "--overwrite")
    argv = ["predict", str(store), str(models[name]), "--out", str(out), "--overwrite"]
    assert main(argv) == 0


def test_predict_with_a_larger_core(workflow):
    d, _, store, models = workflow
    out = d / "core.zarr"
    argv = ["predict", str(store), str(models["lacnn"]), "--out", str(out), "--core", "96"]
    assert main([*argv, "--batch-size", "1"]) == 0
    model = xlandslide.load_model(models["lacnn"])
    want = xlandslide.open_region(store).landslide.predict(model, core=96).values
    np.testing.assert_allclose(xr.open_zarr(out)["susceptibility"].values, want, atol=1e-6)


def test_predict_draws_the_map_with_figure(workflow, capsys):
    d, _, store, models = workflow
    out, figure = d / "fig_map.tif", d / "fig" / "map.png"
    argv = ["predict", str(store), str(models["lacnn"]), "--out", str(out)]
    assert main([*argv, "--figure", str(figure)]) == 0
    assert f"wrote {figure}" in capsys.readouterr().out
    figure_ok(figure)
    again = ["predict", str(store), str(models["lacnn"]), "--out", str(d / "fig_map2.zarr")]
    refused_for_the_figure(
        capsys, [*again, "--figure", str(figure)], figure, absent=[d / "fig_map2.zarr"]
    )
    assert main([*argv, "--figure", str(figure), "--overwrite"]) == 0  # its own: replaced
    figure_ok(figure)
    capsys.readouterr()
    assert main([*again, "--figure", str(d / "map.jpg")]) == 2
    one_error_line(capsys, "--figure", ".png")
    assert main([*again, "--figure", str(store / "map.png")]) == 2
    one_error_line(capsys, "--figure", "region store")


def test_evaluate_prints_the_metrics_of_the_test_split(workflow, capsys):
    d, _, store, models = workflow
    out = d / "eval.zarr"
    assert main(["predict", str(store), str(models["lacnn"]), "--out", str(out)]) == 0
    split = models["llr"].with_suffix(".split.json")
    capsys.readouterr()
    assert main(["evaluate", str(store), str(out), "--split", str(split)]) == 0
    printed = json.loads(capsys.readouterr().out)
    region = xlandslide.open_region(store)
    mask = xlandslide.PatchSet.from_json(split).core_mask("test", like=region)
    expected = xlandslide.evaluate(xr.open_zarr(out)["susceptibility"], region["label"], mask)
    assert printed["nll"] == pytest.approx(expected["nll"])
    assert printed["auc"] == pytest.approx(expected["auc"])
    assert printed["n_pixels"] == expected["n_pixels"] <= 48 * 48


# ------------------------------------------------------------------ a user's mistakes


def test_existing_outputs_are_refused(workflow, capsys):
    _, bare, store, models = workflow
    capsys.readouterr()
    assert main(["synthetic", str(bare), "--shape", "32", "32"]) == 2
    one_error_line(capsys, "exists", "overwrite")
    assert main(["offsets", str(bare), "--out", str(store)]) == 2
    one_error_line(capsys, "exists", "overwrite")
    assert main(["offsets", str(store), "--out", str(store), "--overwrite"]) == 2
    one_error_line(capsys, "input store")
    argv = ["train", str(store), "--model", "llr", "--out", str(models["llr"]), *TINY]
    assert main(argv) == 2
    one_error_line(capsys, "exists", "--resume", "--overwrite")
    argv = ["predict", str(store), str(models["llr"]), "--out", str(store), "--overwrite"]
    assert main(argv) == 2
    one_error_line(capsys, "region store")
    assert xlandslide.open_region(store).landslide.offset_distances() == (30.0, 100.0)


def test_outputs_inside_or_over_an_input_are_refused(workflow, capsys):
    d, _, store, models = workflow
    before = sorted(p.name for p in store.iterdir())
    capsys.readouterr()
    argv = ["predict", str(store), str(models["llr"]), "--out", str(store / "inside.zarr")]
    assert main(argv) == 2  # this one wrote into the region store and exited 0
    one_error_line(capsys, "lies inside the region store", "choose another --out")
    argv = ["predict", str(store), str(models["llr"]), "--out", str(models["llr"])]
    assert main([*argv, "--overwrite"]) == 2
    one_error_line(capsys, "is the model")
    argv = ["train", str(store), "--model", "llr", "--out", str(store / "m.pt"), *TINY]
    assert main(argv) == 2
    one_error_line(capsys, "lies inside the region store")
    argv = ["predict", str(store), str(models["llr"]), "--out", str(d), "--overwrite"]
    assert main(argv) == 2
    one_error_line(capsys, "holds the region store")
    assert sorted(p.name for p in store.iterdir()) == before
    xlandslide.open_region(store, verify=True)


def test_overwrite_never_replaces_a_foreign_folder(workflow, capsys):
    d, _, store, models = workflow
    mine = d / "mine.zarr"
    (mine / "results").mkdir(parents=True)
    (mine / "results" / "notes.txt").write_text("keep me")
    capsys.readouterr()
    argv = ["predict", str(store), str(models["llr"]), "--out", str(mine), "--overwrite"]
    assert main(argv) == 2
    one_error_line(capsys, "xlandslide did not write", "no xlandslide manifest")
    assert (mine / "results" / "notes.txt").read_text() == "keep me"
    argv = ["synthetic", str(mine), "--shape", "32", "32", "--overwrite"]
    assert main(argv) == 2
    one_error_line(capsys, "xlandslide did not write")
    assert (mine / "results" / "notes.txt").read_text() == "keep me"


def test_evaluate_reads_a_geotiff_map_and_refuses_unchecked_ones(workflow, capsys):
    d, _, store, models = workflow
    tif, zarr_map = d / "ev.tif", d / "ev.zarr"
    for out in (tif, zarr_map):
        assert main(["predict", str(store), str(models["llr"]), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(store), str(tif)]) == 0
    from_tif = json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(store), str(zarr_map)]) == 0
    from_zarr = json.loads(capsys.readouterr().out)
    assert from_tif["nll"] == pytest.approx(from_zarr["nll"], rel=1e-6)
    assert from_tif["n_pixels"] == from_zarr["n_pixels"]
    # the README's old recipe, killed midway: a plain to_zarr store with holes
    plain = d / "plain.zarr"
    prob = xlandslide.open_map(zarr_map)
    prob.to_dataset().to_zarr(plain, zarr_format=3, consolidated=False)
    (plain / "susceptibility" / "c" / "0" / "0").unlink()
    assert main(["evaluate", str(store), str(plain)]) == 2
    one_error_line(capsys, "no xlandslide manifest", "write_map")
    # another tool's complete map is read when the user says so
    other = d / "other.zarr"
    prob.to_dataset().to_zarr(other, zarr_format=3, consolidated=False)
    assert main(["evaluate", str(store), str(other), "--foreign"]) == 0
    assert json.loads(capsys.readouterr().out)["nll"] == pytest.approx(from_zarr["nll"], rel=1e-6)
    assert main(["zone", str(other), "--out", str(d / "other_zones.tif"), "--foreign"]) == 0
    assert (d / "other_zones.tif").exists()
    (zarr_map / "susceptibility" / "c" / "0" / "0").unlink()
    assert main(["evaluate", str(store), str(zarr_map)]) == 2
    one_error_line(capsys, "chunk (0, 0) of 'susceptibility' is missing")
    assert main(["evaluate", str(tif), str(tif)]) == 2  # a GeoTIFF is not a region store
    one_error_line(capsys, "is a GeoTIFF, not a region store", "region_from_dem")
    assert main(["evaluate", str(store), str(store)]) == 2
    one_error_line(capsys, "region store, not a map")


def test_a_damaged_region_store_is_one_line(workflow, capsys, tmp_path):
    import shutil

    _, _, store, models = workflow
    copy = tmp_path / "copy.zarr"
    shutil.copytree(store, copy)
    chunk = next((copy / "label" / "c").rglob("*"))
    while chunk.is_dir():
        chunk = next(chunk.iterdir())
    chunk.write_bytes(chunk.read_bytes()[:-1])
    capsys.readouterr()
    argv = ["predict", str(copy), str(models["llr"]), "--out", str(tmp_path / "m.zarr")]
    assert main(argv) == 2
    one_error_line(capsys, "is damaged", "of 'label'", "truncated")


def test_predict_resume(workflow, capsys):
    d, _, store, models = workflow
    out = d / "resumed.zarr"
    argv = ["predict", str(store), str(models["lacnn"]), "--out", str(out)]
    assert main([*argv, "--resume"]) == 0  # nothing to resume: a fresh write
    first = xlandslide.open_map(out).values
    assert main([*argv, "--resume"]) == 0  # complete: nothing is computed again
    np.testing.assert_array_equal(xlandslide.open_map(out).values, first)
    tif = d / "resumed.tif"
    assert main([*argv[:-1], str(tif), "--resume"]) == 0  # a GeoTIFF, through a Zarr map
    np.testing.assert_array_equal(xlandslide.open_map(tif).values, first)
    assert not xlandslide.io.maps.partial_path(tif).exists()


def test_train_save_every_and_resume_flags(workflow, capsys):
    d, _, store, _ = workflow
    out = d / "every.pt"
    argv = ["train", str(store), "--model", "nn", "--out", str(out), *TINY]
    split = ["--split", str(d / "llr.split.json")]
    capsys.readouterr()
    assert main([*argv, *split, "--save-every", "0"]) == 2
    one_error_line(capsys, "--save-every must be a positive number")
    assert main([*argv, *split, "--resume", "--overwrite"]) == 2
    one_error_line(capsys, "give one")
    assert main([*argv, *split, "--save-every", "1"]) == 0
    state = xlandslide.checkpoint.read_checkpoint(out)["training_state"]
    assert state["epoch"] == 2 and state["done"] is True
    capsys.readouterr()
    assert main([*argv, *split, "--resume"]) == 0  # finished: resumes to the same weights
    assert "resuming from" in capsys.readouterr().err
    assert xlandslide.load_model(out).history["epoch"] == [1]
    assert (
        main(["train", str(store), "--model", "naive", "--out", str(d / "n.pt"), "--resume"]) == 2
    )
    one_error_line(capsys, "naive model", "--resume")


def test_interrupts_disk_errors_and_bugs(workflow, capsys, monkeypatch):
    import errno

    from xlandslide.cli import predict as cli_model

    d, _, store, models = workflow
    argv = ["predict", str(store), str(models["llr"]), "--out", str(d / "x.zarr")]

    def fail(exc):
        def raiser(*args, **kwargs):
            raise exc

        return raiser

    capsys.readouterr()
    monkeypatch.setattr(cli_model, "check_device", fail(KeyboardInterrupt()))
    assert main(argv) == 130
    assert capsys.readouterr().err.strip() == (
        "xlandslide: interrupted (rerun with --resume to continue)"
    )
    monkeypatch.setattr(cli_model, "check_device", fail(OSError(errno.ENOSPC, "No space left")))
    assert main(argv) == 2
    one_error_line(capsys, "No space left")
    monkeypatch.setattr(cli_model, "check_device", fail(ZeroDivisionError("a bug")))
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        main(argv)


def test_missing_inputs(workflow, capsys):
    d, _, store, _ = workflow
    capsys.readouterr()
    assert main(["train", str(d / "nowhere.zarr"), "--out", str(d / "x.pt")]) == 2
    one_error_line(capsys, "no region store", "nowhere.zarr")
    assert main(["predict", str(store), str(d / "none.pt"), "--out", str(d / "m.zarr")]) == 2
    one_error_line(capsys, "no checkpoint")
    assert main(["evaluate", str(store), str(d / "none.zarr")]) == 2
    one_error_line(capsys, "no map")


def test_bad_settings(workflow, capsys):
    d, _, store, _ = workflow
    capsys.readouterr()
    argv = ["train", str(store), "--model", "llr", "--out", str(d / "neg.pt"), *TINY]
    assert main([*argv, "--lr", "-0.1"]) == 2
    one_error_line(capsys, "lr must be a positive number")
    assert not (d / "neg.pt").exists()
    assert main(["train", str(store), "--model", "unet", "--out", str(d / "u.pt")]) == 2
    one_error_line(capsys, "unknown model 'unet'", "lacnn")


def test_bad_devices(workflow, capsys):
    import torch

    d, _, store, models = workflow
    capsys.readouterr()
    out = str(d / "dev.zarr")
    assert main(["predict", str(store), str(models["llr"]), "--out", out, "--device", "gpu"]) == 2
    one_error_line(capsys, "not a torch device", "use cpu or cuda")
    if not torch.cuda.is_available():
        argv = ["train", str(store), "--model", "llr", "--out", str(d / "dev.pt")]
        assert main([*argv, "--device", "cuda"]) == 2
        one_error_line(capsys, "CUDA is not available")


def test_debug_shows_the_traceback(workflow):
    d, _, store, _ = workflow
    argv = ["--debug", "train", str(store), "--model", "llr", "--out", str(d / "dbg.pt")]
    with pytest.raises(xlandslide.ConfigError, match="lr must be a positive number"):
        main([*argv, "--lr", "-1"])
    with pytest.raises(xlandslide.RegionNotFoundError):
        main(["--debug", "offsets", str(d / "nowhere.zarr"), "--out", str(d / "o.zarr")])


def test_python_dash_m(tmp_path):
    """``python -m xlandslide``: the same command line, and its exit status."""
    argv = ["offsets", str(tmp_path / "no.zarr"), "--out", str(tmp_path / "out.zarr")]
    run = subprocess.run(
        [sys.executable, "-m", "xlandslide", *argv], capture_output=True, text=True
    )
    assert run.returncode == 2
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("xlandslide: error: no region store")
    version = subprocess.run(
        [sys.executable, "-m", "xlandslide", "--version"], capture_output=True, text=True
    )
    assert (
        version.returncode == 0 and version.stdout.strip() == f"xlandslide {xlandslide.__version__}"
    )


# ------------------------------------------------------------------ cv, zone, report


def test_cv_writes_the_tables_and_reuses_its_folds(workflow, capsys):
    import pandas as pd

    d, _, store, _ = workflow
    out = d / "cv"
    argv = ["cv", str(store), "--models", "llr", "--k", "3", "--epochs", "1"]
    argv += ["--core", "32", "--halo", "16", "--keep-degenerate", "--out", str(out)]
    capsys.readouterr()
    assert main([*argv, "--compare-random"]) == 0
    printed = capsys.readouterr().out
    assert "kmeans folds (k = 3" in printed and "±" in printed and "random - spatial" in printed
    table = pd.read_csv(out / "cv_table.csv")
    assert sorted(set(table.split)) == ["random", "spatial"] and len(table) == 6
    folds = xlandslide.SpatialFolds.from_json(out / "folds.json")
    assert folds.method == "kmeans" and folds.k == 3
    assert f"wrote {out / 'cv.png'}" in printed
    figure_ok(out / "cv.png", min_width=900)  # the ROC curves beside the fold map
    (d / "cv_fig").mkdir()
    (d / "cv_fig" / "cv.png").write_bytes((out / "cv.png").read_bytes())
    refused_for_the_figure(
        capsys,
        [*argv[:-2], "--out", str(d / "cv_fig")],
        d / "cv_fig" / "cv.png",
        absent=[d / "cv_fig" / "cv_table.csv", d / "cv_fig" / "folds.json"],
    )
    # the same folds, from the file: the same table
    region = xlandslide.open_region(store, chunks=None)
    cfg = xlandslide.TrainConfig.default("llr", epochs=1)
    res = xlandslide.cross_validate(
        region, ["llr"], folds, geometry=xlandslide.PatchGeometry(32, 16), configs={"llr": cfg}
    )
    spatial = table[table.split == "spatial"]
    np.testing.assert_allclose(spatial["auc"], res.table["auc"])
    assert main([*argv[:-2], "--out", str(out)]) == 2  # exists
    one_error_line(capsys, "exists", "--overwrite")
    again = [*argv[:-2], "--out", str(out), "--folds", str(out / "folds.json"), "--overwrite"]
    assert main(again) == 0
    capsys.readouterr()  # the progress lines of the run above
    assert main([*argv[:-2], "--out", str(d / "cv2"), "--folds", "hexagons"]) == 2
    one_error_line(capsys, "--folds", "kmeans")


def test_cv_settings_take_the_presets_and_the_accept_margin():
    from xlandslide.cli import _parser
    from xlandslide.cli._common import training_settings
    from xlandslide.train.presets import POINT_ACCEPT_MARGIN

    def settings(name, *options):
        return training_settings(
            name, _parser().parse_args(["cv", "s.zarr", "--out", "o", *options])
        )

    config, options, seeds = settings("lann", "--preset", "points")
    assert config.accept_margin == POINT_ACCEPT_MARGIN and seeds == (0, 1, 2)
    assert options["linear_skip"]
    config, _, _ = settings(
        "lann", "--preset", "points", "--epochs", "3", "--device", "cpu", "--accept-margin", "0.5"
    )
    assert config.accept_margin == 0.5 and config.epochs == 3
    config, _, _ = settings("lann", "--preset", "paper")
    assert config.accept_margin is None and config == xlandslide.TrainConfig.paper("lann")
    config, options, _ = settings(
        "lacnn",
        "--lr",
        "0.01",
        "--base-width",
        "4",
        "--max-batches-per-epoch",
        "7",
        "--early-stopping",
        "2",
    )
    want = xlandslide.TrainConfig.default(
        "lacnn", lr=0.01, max_batches_per_epoch=7, early_stopping=2
    )
    assert config == want and options == {"base_width": 4}
    args = _parser().parse_args(["cv", "s.zarr", "--out", "o", "--accept-margin", "1.5"])
    assert args.accept_margin == 1.5
    # --chain / --no-chain, the library's default when neither is given (cv and report)
    from xlandslide.train.defaults import CHAIN_ALIGNED

    for command in ("cv", "report"):
        parse = _parser().parse_args
        assert parse([command, "s.zarr", "--out", "o"]).chain is CHAIN_ALIGNED
        assert parse([command, "s.zarr", "--out", "o", "--chain"]).chain is True
        assert parse([command, "s.zarr", "--out", "o", "--no-chain"]).chain is False


def test_zone_writes_a_classed_geotiff_and_its_table(workflow, capsys):
    import pandas as pd
    import rasterio

    d, _, store, models = workflow
    prob = d / "zone_map.zarr"
    assert main(["predict", str(store), str(models["llr"]), "--out", str(prob)]) == 0
    out = d / "zones.tif"
    capsys.readouterr()
    assert main(["zone", str(prob), "--out", str(out), "--store", str(store)]) == 0
    assert "very high" in capsys.readouterr().out
    want = xlandslide.zoning(xlandslide.open_map(prob), "quantile", 5)
    with rasterio.open(out) as src:
        np.testing.assert_array_equal(src.read(1), want.values)
        assert json.loads(src.tags(1)["CLASS_NAMES"])[0] == "very low"
    table = pd.read_csv(out.with_suffix(".csv"))
    assert table["area_pct"].sum() == pytest.approx(100) and len(table) == 5
    figure_ok(out.with_suffix(".png"), min_width=700)  # the classes beside their density
    (d / "zones2.png").write_bytes(out.with_suffix(".png").read_bytes())
    argv = ["zone", str(prob), "--out", str(d / "zones2.tif"), "--store", str(store)]
    refused_for_the_figure(
        capsys, argv, d / "zones2.png", absent=[d / "zones2.tif", d / "zones2.csv"]
    )
    argv = ["zone", str(prob), "--out", str(d / "z3.tif"), "--breaks", "0.01", "0.05"]
    assert main(argv) == 0
    with rasterio.open(d / "z3.tif") as src:
        assert json.loads(src.tags(1)["CLASS_NAMES"]) == ["low", "moderate", "high"]
    figure_ok(d / "z3.png")  # without --store: the classed map alone


def test_without_matplotlib_the_figures_are_left_out_or_refused(workflow, capsys, monkeypatch):
    """The figures are optional (the plot extra): ``zone`` writes its map and says the figure
    is left out; ``predict --figure``, which asks for one, is refused before any work."""
    d, _, store, models = workflow
    prob = d / "nompl_map.zarr"
    assert main(["predict", str(store), str(models["llr"]), "--out", str(prob)]) == 0
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    capsys.readouterr()
    assert main(["zone", str(prob), "--out", str(d / "nompl.tif")]) == 0
    assert "no zoning figure: matplotlib is not installed" in capsys.readouterr().out
    assert (d / "nompl.tif").exists() and not (d / "nompl.png").exists()
    argv = ["predict", str(store), str(models["llr"]), "--out", str(d / "nompl2.zarr")]
    assert main([*argv, "--figure", str(d / "nompl2.png")]) == 2
    one_error_line(capsys, "matplotlib")
    assert not (d / "nompl2.zarr").exists()


def test_report_trains_scores_and_draws_the_models(workflow, capsys):
    import pandas as pd

    d, _, store, _ = workflow
    out = d / "report"
    argv = ["report", str(store), "--out", str(out), "--models", "naive", "llr", "nn"]
    argv.append("--keep-degenerate")
    capsys.readouterr()
    assert main([*argv, "--core", "48", "--halo", "16", "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "test NLL" in printed and "NN" in printed
    table = pd.read_csv(out / "table2.csv")
    assert table["model"].tolist() == ["Naive", "LLR", "NN"]
    for name in ("roc.png", "maps.png", "calibration.png", "models/nn.pt", "maps/llr.zarr"):
        assert (out / name).exists(), name
    assert table.loc[0, "auc"] == pytest.approx(0.5)


def test_importance_and_uncertainty(workflow, capsys):
    import pandas as pd

    d, _, store, models = workflow
    capsys.readouterr()
    out = d / "imp" / "llr.csv"
    assert main(["importance", str(store), str(models["llr"]), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    llr = xlandslide.load_model(models["llr"])
    want = xlandslide.llr_weights(llr)
    assert table["feature"].tolist() == want["feature"].tolist()
    figure_ok(out.with_suffix(".png"), min_width=400)
    (d / "imp" / "again.png").write_bytes(out.with_suffix(".png").read_bytes())
    argv = ["importance", str(store), str(models["llr"]), "--out", str(d / "imp" / "again.csv")]
    refused_for_the_figure(capsys, argv, d / "imp" / "again.png", absent=[d / "imp" / "again.csv"])
    split = str(models["llr"].with_suffix(".split.json"))
    out = d / "imp" / "lacnn.csv"
    argv = ["importance", str(store), str(models["lacnn"]), "--out", str(out), "--split", split]
    assert main([*argv, "--repeats", "1"]) == 0
    table = pd.read_csv(out)
    assert set(table["name"]) == {
        "slope",
        "dem",
        "lithology",
        "land_cover",
        "rock_family",
        "rock_age",
    }
    other = d / "llr_seed1.pt"
    # an NN beside the LLR (two LLRs are the same exact fit, whatever their seed)
    argv = ["train", str(store), "--model", "nn", "--out", str(other), *TINY, "--seed", "1"]
    assert main([*argv, "--split", split]) == 0
    u = d / "u.zarr"
    argv = ["uncertainty", str(store), str(models["llr"]), str(other), "--out", str(u)]
    assert main(argv) == 0
    ds = xr.open_zarr(u, consolidated=False)
    maps = [
        xlandslide.open_region(store).landslide.predict(xlandslide.load_model(m)).values
        for m in (models["llr"], other)
    ]
    assert np.nanmax(np.std(maps, 0)) > 0
    np.testing.assert_allclose(ds["mean"].values, np.mean(maps, 0), atol=1e-6)
    np.testing.assert_allclose(ds["std"].values, np.std(maps, 0), atol=1e-6)
    figure_ok(d / "u.png", min_width=700)  # the mean beside the sd
    (d / "u2.png").write_bytes((d / "u.png").read_bytes())
    argv = ["uncertainty", str(store), str(models["llr"]), str(other), "--out", str(d / "u2.tif")]
    refused_for_the_figure(capsys, argv, d / "u2.png", absent=[d / "u2.tif"])


def test_cv_save_models_feeds_uncertainty_and_zone(workflow, tmp_path, capsys):
    """No dead end: the fold models and the out-of-fold map of `cv --save-models` are inputs
    of `uncertainty` and `zone`."""
    _, _, store, _ = workflow
    out = tmp_path / "cv"
    argv = ["cv", str(store), "--models", "llr", "--k", "3", "--core", "32", "--halo", "16"]
    assert main([*argv, "--keep-degenerate", "--save-models", "--out", str(out)]) == 0
    folds = sorted((out / "models").glob("llr_fold*.pt"))
    assert [p.name for p in folds] == ["llr_fold0.pt", "llr_fold1.pt", "llr_fold2.pt"]
    oof = xlandslide.open_map(out / "oof_llr.zarr")
    assert np.isfinite(oof.values).any()
    spread = tmp_path / "spread.zarr"
    assert main(["uncertainty", str(store), *map(str, folds), "--out", str(spread)]) == 0
    assert main(["zone", str(out / "oof_llr.zarr"), "--out", str(tmp_path / "z.tif")]) == 0
