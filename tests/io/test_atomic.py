"""The shared atomic-write helper (``prismtools.io._atomic``): into place on success, nothing left on failure."""

import pytest

from prismtools.io._atomic import atomic_path, replace_path, temp_sibling
from prismtools.io._verify import leftovers


def _names(d):
    return sorted(p.name for p in d.iterdir())


def test_file_moved_into_place_and_replaces_old(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".a.txt.tmp-")
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible before the block ends
    assert target.read_text() == "new"
    assert _names(tmp_path) == ["a.txt"]


def test_file_failure_leaves_old_target_and_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert _names(tmp_path) == ["a.txt"]


def test_dir_moved_into_place_replacing_old_dir(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_path(target, kind="build", mkdir=True) as tmp:
        assert tmp.is_dir() and tmp.name.startswith(".out.build-")
        (tmp / "new.txt").write_text("new")
    assert _names(target) == ["new.txt"]
    assert _names(tmp_path) == ["out"]  # the old folder is gone too, no .old-* left


def test_dir_failure_leaves_old_dir_and_no_temp(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target, mkdir=True) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x").write_text("x")
        raise KeyboardInterrupt
    assert _names(target) == ["old.txt"]
    assert _names(tmp_path) == ["out"]


def test_failing_install_removes_temp_and_keeps_target(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep").write_text("k")

    def refuse(src, dst):
        raise FileExistsError(f"{dst} is not a store")

    with pytest.raises(FileExistsError), atomic_path(target, mkdir=True, install=refuse) as tmp:
        (tmp / "new").write_text("n")
    assert _names(tmp_path) == ["out"] and _names(target) == ["keep"]


def test_missing_target_and_empty_dir_target(tmp_path):
    with atomic_path(tmp_path / "new", mkdir=True) as tmp:
        (tmp / "f").write_text("1")
    (tmp_path / "empty").mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "g").write_text("2")
    replace_path(src, tmp_path / "empty")
    assert (tmp_path / "new" / "f").read_text() == "1" and (tmp_path / "empty" / "g").read_text() == "2"
    assert _names(tmp_path) == ["empty", "new"]


def test_interrupted_store_temps_are_recognised_as_leftovers(tmp_path):
    store = tmp_path / "s.zarr"
    for kind in ("tmp", "build"):
        temp_sibling(store, kind).mkdir()
    assert sorted(p.name.split("-")[0] for p in leftovers(store)) == [".s.zarr.build", ".s.zarr.tmp"]
