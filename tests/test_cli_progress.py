"""Progress with an ETA (``xlandslide._progress``) and the command line's use of it: lines in
a log for a fake clock, ``--quiet`` silent, a predict and a training that report; messages
worded for the command line."""

from __future__ import annotations

import contextlib
import io
import re

import dask.array as da
import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

import xlandslide
from xlandslide._progress import (
    DaskLines,
    LineProgress,
    clock_text,
    dask_progress,
    progress_bar,
    quiet,
)
from xlandslide.cli import main
from xlandslide.cli._messages import cli_wording

#: A progress line: "<desc>: n/total (p%) elapsed m:ss ETA m:ss".
LINE = re.compile(r"^(.+): (\d+)/(\d+) \((\d+)%\) elapsed (\d+:\d\d(?::\d\d)?) ETA (\S+)$")


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_line_progress_prints_the_eta_of_a_steady_rate():
    clock, out = FakeClock(), io.StringIO()
    bar = LineProgress(120, "epoch 1", stream=out, interval=30, clock=clock)
    for t in range(1, 121):  # one step a second: the ETA is the steps left, in seconds
        clock.now = float(t)
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    # a line when 30 s have passed since the last one (t = 30, 60, 90, 120), then the end
    want = [
        f"epoch 1: {t}/120 ({round(100 * t / 120)}%) elapsed {clock_text(t)} "
        f"ETA {clock_text(120 - t)}"
        for t in (30, 60, 90, 120, 120)
    ]
    assert lines == want
    assert lines[0] == "epoch 1: 30/120 (25%) elapsed 0:30 ETA 1:30"


def test_line_progress_eta_of_an_uneven_rate_and_at_most_one_line_per_interval():
    clock, out = FakeClock(), io.StringIO()
    bar = LineProgress(100, "cv", stream=out, interval=30, clock=clock)
    clock.now = 10.0
    bar.update(5)  # 10 s: no line yet
    clock.now = 42.0
    bar.update(32)  # 37 done in 42 s: 63 left at 42/37 s each
    clock.now = 50.0
    bar.update(3)  # 8 s after the last line: none
    assert out.getvalue().splitlines() == [
        f"cv: 37/100 (37%) elapsed 0:42 ETA {clock_text(42 / 37 * 63)}"
    ]
    assert clock_text(42 / 37 * 63) == "1:12"
    with bar:
        pass  # closing prints the last line once
    bar.close()
    last = out.getvalue().splitlines()[1:]
    assert last == [f"cv: 40/100 (40%) elapsed 0:50 ETA {clock_text(50 / 40 * 60)}"]


def test_clock_text():
    assert [clock_text(s) for s in (0, 59.4, 61, 3599, 3600, 7322)] == [
        "0:00",
        "0:59",
        "1:01",
        "59:59",
        "1:00:00",
        "2:02:02",
    ]
    assert clock_text(float("nan")) == "?"


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_is_tqdm_on_a_terminal_lines_elsewhere_and_nothing_when_quiet():
    from tqdm import tqdm

    bar = progress_bar(3, "x", stream=Terminal())
    assert isinstance(bar, tqdm)
    bar.close()
    assert isinstance(progress_bar(3, "x", stream=io.StringIO()), LineProgress)
    assert progress_bar(3, "", stream=io.StringIO()) is None
    with quiet():
        assert progress_bar(3, "x", stream=io.StringIO()) is None
        assert isinstance(dask_progress("x", stream=io.StringIO()), contextlib.nullcontext)


def test_dask_lines_count_every_task_of_a_compute():
    out = io.StringIO()
    x = da.ones((40, 40), chunks=10)
    with DaskLines("sum", stream=out):
        assert float((x + 1).sum().compute()) == 3200.0
    (line,) = out.getvalue().splitlines()
    desc, n, total, pct, _, eta = LINE.match(line).groups()
    assert desc == "sum" and n == total and int(total) >= 16 and pct == "100" and eta == "0:00"
    out = io.StringIO()
    with DaskLines("sum", stream=out, min_seconds=3600):  # a short compute: no line
        x.sum().compute()
    assert out.getvalue() == ""


def test_dask_progress_on_a_terminal_is_tqdm():
    from tqdm.dask import TqdmCallback

    assert isinstance(dask_progress("x", stream=Terminal()), TqdmCallback)
    assert isinstance(dask_progress("x", stream=io.StringIO()), DaskLines)


# ---------------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------------
TINY = ["--core", "32", "--halo", "16", "--epochs", "1", "--batch-size", "2", "--keep-degenerate"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("progress")
    store = d / "region.zarr"
    assert main(["synthetic", str(store), "--shape", "64", "64", "--distances", "--quiet"]) == 0
    model = d / "llr.pt"
    assert main(["train", str(store), "--model", "llr", "--out", str(model), *TINY]) == 0
    return d, store, model


def _progress_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if LINE.match(line)]


def test_predict_reports_progress_unless_quiet(small, capsys):
    d, store, model = small
    capsys.readouterr()
    argv = ["predict", str(store), str(model), "--block-size", "16"]
    assert main([*argv, "--out", str(d / "quiet.zarr"), "--quiet"]) == 0
    assert _progress_lines(capsys.readouterr().err) == []
    assert main([*argv, "--out", str(d / "loud.zarr")]) == 0
    lines = _progress_lines(capsys.readouterr().err)
    assert lines, "no progress line"
    desc, n, total, pct, _, eta = LINE.match(lines[-1]).groups()
    assert desc == "predicting llr" and n == total and pct == "100" and eta == "0:00"
    np.testing.assert_array_equal(  # the same map, reported or not
        xlandslide.open_map(d / "quiet.zarr").values, xlandslide.open_map(d / "loud.zarr").values
    )


def test_train_reports_each_epochs_batches_in_a_log_unless_quiet(small, capsys):
    d, store, _ = small
    argv = ["train", str(store), "--model", "nn", *TINY, "--split", str(d / "llr.split.json")]
    capsys.readouterr()
    assert main([*argv, "--out", str(d / "nn.pt")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in _progress_lines(err) if line.startswith("nn epoch 1:")]
    assert lines and lines[-1].startswith("nn epoch 1: ") and "(100%)" in lines[-1]
    assert "[xlandslide] nn epoch 1/1" in err  # the per-epoch line
    assert main([*argv, "--out", str(d / "nn2.pt"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert _progress_lines(err) == [] and "[xlandslide] nn epoch" not in err


# ---------------------------------------------------------------------------------------------
# Messages worded for the command line
# ---------------------------------------------------------------------------------------------
def _message(raiser) -> str:
    with pytest.raises(xlandslide.errors.XLandslideError) as err:
        raiser()
    return str(err.value)


def test_python_worded_fixes_are_given_as_options_and_toml_keys(tmp_path):
    from xlandslide.io.atomic import refuse_existing
    from xlandslide.io.integrity import foreign_output
    from xlandslide.io.layers import label_array

    existing = _message(lambda: refuse_existing(tmp_path))
    assert "overwrite=True" in existing
    assert "pass --overwrite to replace it" in cli_wording(existing)
    assert "overwrite=True" not in cli_wording(existing)

    foreign = str(foreign_output(tmp_path, "no manifest"))
    assert "overwrite=True" in foreign
    assert "; --overwrite replaces only xlandslide's own" in cli_wording(foreign)

    dem = xlandslide.synthetic_region(shape=(32, 32), seed=0)["dem"]
    x0, y0 = float(dem.x[0]), float(dem.y[0])
    points = gpd.GeoDataFrame({"slide": [1, 0]}, geometry=[Point(x0, y0), Point(x0 + 50, y0)])
    points = points.set_crs(dem.rio.crs)
    unnamed = _message(lambda: label_array(points, None, dem, False))
    assert "label_column=..." in unnamed
    worded = cli_wording(unnamed)
    assert 'column = "NAME" in the [labels] table of the TOML file' in worded
    assert "label_column" not in worded

    polygons = gpd.GeoDataFrame({"slide": [1]}, geometry=[box(x0, y0 - 50, x0 + 50, y0)])
    polygons = polygons.set_crs(dem.rio.crs)
    extra = _message(lambda: label_array(polygons, "slide", dem, False))
    worded = cli_wording(extra)
    assert "column = 'slide' ([labels] in the TOML file)" in worded
    assert "drop column from [labels]" in worded and "label_column" not in worded


def test_the_command_line_prints_the_cli_fix(small, capsys):
    d, store, model = small
    out = d / "again.zarr"
    argv = ["predict", str(store), str(model), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("xlandslide: error: ") and "--overwrite" in line
    assert "overwrite=True" not in line


def test_blocks_without_a_block_size_name_the_option(tmp_path, capsys):
    """A real library message through ``main``: the fix is ``--block-size``, not
    ``block_size=...``."""
    store = tmp_path / "s.zarr"
    assert main(["synthetic", str(store), "--shape", "64", "64", "--quiet"]) == 0
    argv = ["cv", str(store), "--models", "llr", "--folds", "blocks", "--out", str(tmp_path / "cv")]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--block-size METRES" in err and "block_size=" not in err
