"""atomic_output: the one scheme of every writer (temporary sibling, moved into place),
the clean-up of killed writes, and the guard that keeps an input from being replaced."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from xlandslide.errors import ForeignOutputError, OutputIsInputError, StoreExistsError
from xlandslide.io.atomic import (
    TEMP_TAG,
    atomic_output,
    check_source,
    clean_stale,
    is_temporary,
    overlaps,
    writer_id,
    writing,
)


def _dead_pid() -> int:
    """The id of a process that has exited (and was reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_success_moves_the_output_into_place(tmp_path):
    final = tmp_path / "deep" / "er" / "x.txt"  # missing parents are created
    with atomic_output(final) as tmp:
        assert tmp.parent == final.parent
        assert tmp.name.startswith(f".x.txt{TEMP_TAG}{writer_id()}-") and is_temporary(tmp)
        assert not final.exists()
        tmp.write_text("done")
    assert final.read_text() == "done"
    assert sorted(p.name for p in final.parent.iterdir()) == ["x.txt"]


def test_failure_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="boom"), atomic_output(tmp_path / "x.txt") as tmp:
        tmp.write_text("partial")
        raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_directories_too(tmp_path):
    with pytest.raises(RuntimeError), atomic_output(tmp_path / "s.zarr") as tmp:
        (tmp / "a" / "b").mkdir(parents=True)
        (tmp / "a" / "b" / "c").write_text("chunk")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    with atomic_output(tmp_path / "s.zarr") as tmp:
        (tmp / "c").mkdir(parents=True)
    assert (tmp_path / "s.zarr" / "c").is_dir()


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    final = tmp_path / "x.txt"
    final.write_text("old")
    with pytest.raises(StoreExistsError, match="overwrite=True") as info:
        with atomic_output(final):
            pass  # pragma: no cover - refused before the block runs
    assert isinstance(info.value, FileExistsError)
    # a failed overwrite keeps the old output
    with pytest.raises(ValueError), atomic_output(final, overwrite=True) as tmp:
        tmp.write_text("new but broken")
        raise ValueError
    assert final.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]
    with atomic_output(final, overwrite=True) as tmp:
        tmp.write_text("new")
    assert final.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_overwriting_a_directory_with_a_directory(tmp_path):
    final = tmp_path / "s.zarr"
    (final / "old").mkdir(parents=True)
    with atomic_output(final, overwrite=True) as tmp:
        (tmp / "new").mkdir(parents=True)
    assert sorted(p.name for p in final.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]


def test_replaceable_decides_what_overwrite_may_replace(tmp_path):
    final = tmp_path / "x.txt"
    final.write_text("not ours")

    def only_ours(path):
        if path.read_text() != "ours":
            raise ForeignOutputError(f"{path} is not ours")

    with pytest.raises(ForeignOutputError, match="not ours") as info:
        with atomic_output(final, overwrite=True, replaceable=only_ours):
            pass  # pragma: no cover - refused before the block runs
    assert isinstance(info.value, FileExistsError) and isinstance(info.value, StoreExistsError)
    assert final.read_text() == "not ours"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]
    final.write_text("ours")
    with atomic_output(final, overwrite=True, replaceable=only_ours) as tmp:
        tmp.write_text("new")
    assert final.read_text() == "new"


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(tmp_path):
    final = tmp_path / "s.zarr"
    host = writer_id().split("-")[0]
    dead = tmp_path / f".s.zarr{TEMP_TAG}{host}-{_dead_pid()}-deadbeef"
    alive = tmp_path / f".s.zarr{TEMP_TAG}{writer_id()}-cafecafe"  # this process: running
    old = tmp_path / ".s.zarr.xlandslide-old-12345678"
    other = tmp_path / f".other.zarr{TEMP_TAG}{host}-{_dead_pid()}-deadbeef"
    for p in (dead, alive, old, other):
        (p / "c").mkdir(parents=True)
        assert is_temporary(p) and is_temporary(p / "c")
    assert not is_temporary(final)
    with atomic_output(final) as tmp:
        tmp.mkdir()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["s.zarr", alive.name, other.name])  # other targets: untouched
    assert clean_stale(tmp_path / "other.zarr") == [other]


def test_a_temporary_of_another_host_is_kept_while_recent(tmp_path):
    import os
    import time

    final = tmp_path / "s.zarr"
    foreign = tmp_path / f".s.zarr{TEMP_TAG}0000beef-1-deadbeef"
    foreign.mkdir()
    assert clean_stale(final) == []
    past = time.time() - 2 * 3600
    os.utime(foreign, (past, past))
    assert clean_stale(final) == [foreign]


def test_overlaps():
    assert overlaps("/a/b", "/a/b") and overlaps("/a/b/c", "/a/b") and overlaps("/a", "/a/b")
    assert overlaps("/a/b/", "/a/./b")
    assert not overlaps("/a/b", "/a/bc") and not overlaps("/a/b", "/a/c")


def test_a_source_is_not_read_while_an_output_over_it_is_written(tmp_path):
    store = tmp_path / "r.zarr"
    check_source(store)  # nothing is being written
    with writing(store):
        for source in (store, store / "sub", tmp_path):
            with pytest.raises(OutputIsInputError, match="another path"):
                check_source(source)
        check_source(tmp_path / "other.zarr")
        check_source("memory://r.zarr")  # URLs are not checked
        seen = []
        t = threading.Thread(target=lambda: seen.append(_raises(check_source, store)))
        t.start()
        t.join()
        assert seen == [True]  # the registry is process-wide (dask threads read)
    check_source(store)


def _raises(f, *args):
    try:
        f(*args)
    except OutputIsInputError:
        return True
    return False
