import os

import pytest

from engine.errors import Cancelled, OutputError
from engine.io.atomic import (
    TMP_MARK,
    atomic_file,
    atomic_output_dir,
    check_output_dir,
    output_write_errors,
    write_failure,
)

needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full (Linux) to fill")


def write_to_a_full_disk():
    """Raise the real ENOSPC of a full disk: /dev/full refuses every write."""
    with open("/dev/full", "wb") as full:
        full.write(b"spill")  # buffered: the flush at close fails


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if TMP_MARK in p.name)


def test_output_dir_appears_complete_on_success(tmp_path):
    target = tmp_path / "run"
    with atomic_output_dir(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".run" + TMP_MARK)
        (tmp / "a.txt").write_text("a")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "a"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("stop", [RuntimeError("boom"), Cancelled(), KeyboardInterrupt()])
def test_output_dir_is_removed_on_any_failure(tmp_path, stop):
    target = tmp_path / "run"
    with pytest.raises(type(stop)), atomic_output_dir(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise stop
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite_and_is_kept_on_refusal(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(OutputError, match="already exists and is not empty; pass --overwrite"):
        with atomic_output_dir(target):
            pass
    assert (target / "old.txt").read_text() == "old"


def test_overwrite_replaces_only_when_complete(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_output_dir(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("failed half way")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    with atomic_output_dir(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert leftovers(tmp_path) == []


def test_empty_existing_dir_is_reused_without_overwrite(tmp_path):
    (tmp_path / "run").mkdir()
    with atomic_output_dir(tmp_path / "run") as tmp:
        (tmp / "x").write_text("x")
    assert (tmp_path / "run" / "x").exists()


def test_missing_parents_are_created_and_removed_again_on_failure(tmp_path):
    target = tmp_path / "a" / "b" / "run"
    with pytest.raises(RuntimeError), atomic_output_dir(target):
        raise RuntimeError("x")
    assert not (tmp_path / "a").exists()
    with atomic_output_dir(target) as tmp:
        (tmp / "x").write_text("x")
    assert (target / "x").exists()


def test_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a directory"):
        check_output_dir(tmp_path / "file" / "run", overwrite=False)
    with pytest.raises(OutputError, match="exists and is a file"):
        check_output_dir(tmp_path / "file", overwrite=True)


def test_atomic_file_replaces_on_success_only(tmp_path):
    target = tmp_path / "card.json"
    with atomic_file(target) as tmp:
        assert tmp.suffix == ".json" and tmp.parent == tmp_path
        tmp.write_text("1")
    assert target.read_text() == "1"
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("2")
        raise RuntimeError("x")
    assert target.read_text() == "1"
    assert leftovers(tmp_path) == []
    with pytest.raises(OutputError, match="already exists; pass --overwrite"), atomic_file(target, overwrite=False):
        pass


def test_atomic_file_that_was_never_written_is_an_error(tmp_path):
    with pytest.raises(OutputError, match="nothing was written"), atomic_file(tmp_path / "x.tif"):
        pass
    assert list(tmp_path.iterdir()) == []


@needs_dev_full
def test_a_full_disk_is_named_with_the_folder_and_the_space_left(tmp_path):
    with pytest.raises(OSError) as raised:
        write_to_a_full_disk()
    error = write_failure(raised.value, tmp_path / "out" / "sigma0.tif", "--out")
    assert isinstance(error, OutputError) and "\n" not in str(error)
    assert str(error).startswith(f"the disk is full: writing {tmp_path / 'out' / 'sigma0.tif'} failed with ")
    assert str(error).endswith(f" MB left in {tmp_path}; free disk space or choose another --out")


@needs_dev_full
def test_a_failed_write_in_the_block_is_one_output_error_and_leaves_nothing(tmp_path):
    target = tmp_path / "sigma0.tif"
    with pytest.raises(OutputError, match="the disk is full: writing .*sigma0.tif failed"):
        with atomic_file(target) as tmp, output_write_errors(target, "--out"):
            tmp.write_bytes(b"half an image")
            write_to_a_full_disk()
    assert list(tmp_path.iterdir()) == []


def test_other_write_failures_give_the_system_reason(tmp_path):
    error = write_failure(PermissionError(13, "Permission denied"), tmp_path / "out", "--out")
    expected = f"writing {tmp_path / 'out'} failed (Permission denied); free disk space or choose another --out"
    assert str(error) == expected


@pytest.mark.parametrize("stop", [Cancelled(), OutputError("already explained"), TypeError("a bug, not a write")])
def test_explained_errors_and_bugs_pass_through_unchanged(tmp_path, stop):
    with pytest.raises(type(stop)) as raised, output_write_errors(tmp_path / "out"):
        raise stop
    assert raised.value is stop

