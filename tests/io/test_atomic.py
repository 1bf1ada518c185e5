"""atomic_output: the one scheme of every writer (temporary sibling, moved into place)."""

from __future__ import annotations

import pytest

from xlandslide.errors import StoreExistsError
from xlandslide.io.atomic import atomic_output


def test_success_moves_the_output_into_place(tmp_path):
    final = tmp_path / "deep" / "er" / "x.txt"  # missing parents are created
    with atomic_output(final) as tmp:
        assert tmp.parent == final.parent and tmp.name.startswith(".x.txt.tmp-")
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
