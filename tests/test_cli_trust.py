"""Trust in every command (issue 18): no command replaces an input or a user's file, writes
into a store, or starts work it will refuse at the end; every store it writes is one the
package reads back."""

from __future__ import annotations

import numpy as np
import pytest

import xlandslide
from xlandslide.cli import main

TINY = ["--core", "32", "--halo", "16", "--epochs", "1", "--batch-size", "4"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("trust")
    store = d / "r.zarr"
    assert main(["synthetic", str(store), "--shape", "64", "64", "--distances"]) == 0
    a, b = d / "a.pt", d / "b.pt"
    assert main(["train", str(store), "--model", "llr", "--out", str(a), *TINY]) == 0
    split = str(a.with_suffix(".split.json"))
    argv = ["train", str(store), "--model", "llr", "--out", str(b), *TINY, "--seed", "1"]
    assert main([*argv, "--split", split]) == 0
    return d, store, a, b


def one_error_line(capsys, *fragments):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xlandslide: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


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
    tif = d / "u.tif"
    assert main([*argv, "--out", str(tif)]) == 0
    assert tif.is_file() and (d / "u.std.tif").is_file()
    np.testing.assert_allclose(xlandslide.open_map(tif).values, mean.values, atol=1e-6)
    np.testing.assert_allclose(xlandslide.open_map(d / "u.std.tif").values, std.values, atol=1e-6)
