import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import Cancelled, OutputError
from engine.io.atomic import (
    OWNER_FILE,
    TMP_MARK,
    EngineFolder,
    atomic_file,
    atomic_output_dir,
    check_output_dir,
    check_output_files,
    check_replaceable,
    check_work_folder,
    clear_work_folder,
    output_write_errors,
    remove_engine_folder,
    write_failure,
)

#: A small kind of engine folder for these tests: a marker, two files and a sub-folder of numbered files.
RUNS = EngineFolder("test run", ("done.json", "new.txt", "old.txt", "parts/*.npy"), marker="done.json")

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
    (target / "done.json").write_text("{}")
    with pytest.raises(RuntimeError), atomic_output_dir(target, overwrite=True, kind=RUNS) as tmp:
        (tmp / "new.txt").write_text("new")
        raise RuntimeError("failed half way")
    assert sorted(p.name for p in target.iterdir()) == ["done.json", "old.txt"]
    with atomic_output_dir(target, overwrite=True, kind=RUNS) as tmp:
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
    with pytest.raises(OutputError, match="is a file, not a folder"):
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


def test_atomic_file_names_the_option_that_chose_the_file_in_every_refusal(tmp_path):
    """A folder, an existing file, an input and a temporary that cannot be made: each advice names the option."""
    folder, kept = tmp_path / "report", tmp_path / "kept.json"
    folder.mkdir()
    kept.write_text("keep")
    long_name = tmp_path / ("n" * 240 + ".json")  # a valid name, but its hidden temporary's name is too long
    for target, overwrite, inputs, refusal in [
        (folder, True, [], f"output {folder} is a directory, not a file"),
        (kept, False, [], f"output file {kept} already exists; pass --overwrite"),
        (kept, True, [kept], f"will not replace {kept}: it is an input of this run"),
        (long_name, True, [], f"cannot write to folder {tmp_path} (File name too long)"),
    ]:
        with pytest.raises(OutputError) as raised, atomic_file(target, overwrite, inputs, option="--json"):
            pass
        assert str(raised.value).startswith(refusal) and str(raised.value).endswith("choose another --json"), target
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "report"] and kept.read_text() == "keep"


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


@needs_dev_full
def test_a_full_disk_in_any_atomic_block_is_one_output_error_and_leaves_nothing(tmp_path):
    """Only detect and calibrate judged failed writes: elsewhere (a model card, a checkpoint, simulate, generate,
    an --out FILE) a full disk was an "internal error (OSError: [Errno 28] ...)"."""
    card = tmp_path / "model.json"
    with pytest.raises(OutputError) as raised, atomic_file(card, option="--work-dir") as tmp:
        tmp.write_text("half a card")
        write_to_a_full_disk()
    assert str(raised.value).startswith(f"the disk is full: writing {card} failed with ")
    assert str(raised.value).endswith(f" MB left in {tmp_path}; free disk space or choose another --work-dir")
    with pytest.raises(OutputError, match=f"^the disk is full: writing {tmp_path / 'pairs'} failed with "):
        with atomic_output_dir(tmp_path / "pairs") as folder:
            (folder / "000000.npy").write_bytes(b"half a pair")
            write_to_a_full_disk()
    assert list(tmp_path.iterdir()) == []


@needs_dev_full
def test_of_nested_atomic_files_the_one_being_written_is_named(tmp_path):
    """A card's weights, then its JSON: the weights' write failed, and the JSON (not begun) is not blamed."""
    weights, card = tmp_path / "model.safetensors", tmp_path / "model.json"
    with pytest.raises(OutputError, match=f"^the disk is full: writing {weights} failed"):
        with atomic_file(weights) as tmp_weights, atomic_file(card):
            tmp_weights.write_bytes(b"half the weights")
            write_to_a_full_disk()
    assert list(tmp_path.iterdir()) == []


@needs_dev_full
def test_a_full_disk_names_only_folders_that_outlive_the_failure(tmp_path):
    """The message named the folders the block removes as it fails: ``--out new/scene`` sent the analyst to free
    space in new/scene, which was gone, and a file written inside an output folder was named by its temporary."""
    scene = tmp_path / "new" / "scene" / "sim_scene.tif"  # neither new/ nor scene/ exists before the run
    with pytest.raises(OutputError) as raised, atomic_file(scene) as tmp:
        tmp.write_bytes(b"half a scene")
        write_to_a_full_disk()
    assert str(raised.value).startswith(f"the disk is full: writing {scene} failed with ")
    assert str(raised.value).endswith(f" MB left in {tmp_path}; free disk space or choose another --out")
    out = tmp_path / "results" / "out"
    with pytest.raises(OutputError) as raised, atomic_output_dir(out) as folder:
        with atomic_file(folder / "report.html") as report:  # as detect writes its report into the output folder
            report.write_text("half a report")
            write_to_a_full_disk()
    assert str(raised.value).startswith(f"the disk is full: writing {out / 'report.html'} failed with ")
    assert str(raised.value).endswith(f" MB left in {tmp_path}; free disk space or choose another --out")
    with pytest.raises(OutputError, match=f"^the disk is full: writing {out} failed with .* MB left in {tmp_path};"):
        with atomic_output_dir(out) as folder, output_write_errors(out):  # as detect judges its rasters
            (folder / "classes.tif").write_bytes(b"half a raster")
            write_to_a_full_disk()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stop", [OSError(5, "Input/output error"), ValueError("a bug"), KeyboardInterrupt()])
def test_other_errors_in_an_atomic_block_pass_through_unchanged(tmp_path, stop):
    """The block also reads inputs: a reading error keeps its own message when the disk is not full."""
    with pytest.raises(type(stop)) as raised, atomic_file(tmp_path / "out.json") as tmp:
        tmp.write_text("half")
        raise stop
    assert raised.value is stop
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


# --- what --overwrite may replace (issue 12, items 4 and 5) ----------------------------------------------------


def fill(folder, names):
    """Write each relative path in ``names`` with its own content; return {path: content}."""
    contents = {}
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {name}")
        contents[path] = f"content of {name}"
    return contents


def assert_kept(contents):
    for path, text in contents.items():
        assert path.read_text() == text


def test_engine_folder_recognises_its_names_sidecars_and_temporaries(tmp_path):
    fill(tmp_path, ["done.json", "old.txt", "parts/000001.npy", "old.txt.aux.xml", f".new{TMP_MARK}x.txt"])
    assert RUNS.foreign_entry(tmp_path) is None


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("notes.txt", "holds notes.txt"),
        ("parts/deep/000001.npy", "holds parts/deep/"),
        ("parts/readme.md", "holds parts/readme.md"),
        ("photos/cat.jpg", "holds photos/"),
    ],
)
def test_a_folder_holding_anything_else_is_refused_and_kept(tmp_path, extra, reason):
    target = tmp_path / "run"
    contents = fill(target, ["done.json", "old.txt", extra])
    with pytest.raises(OutputError, match=f"only a test run written by dakd may be replaced, and it {reason}"):
        check_output_dir(target, overwrite=True, kind=RUNS)
    with pytest.raises(OutputError), atomic_output_dir(target, overwrite=True, kind=RUNS) as tmp:
        (tmp / "new.txt").write_text("new")
    assert_kept(contents)
    assert leftovers(tmp_path) == []


def test_a_folder_without_the_marker_or_without_a_kind_is_refused(tmp_path):
    contents = fill(tmp_path / "run", ["old.txt"])
    with pytest.raises(OutputError, match="and it has no done.json; move your files out of it or choose another --out"):
        check_output_dir(tmp_path / "run", overwrite=True, kind=RUNS)
    with pytest.raises(OutputError, match="it is not empty and dakd cannot tell that it wrote it"):
        check_output_dir(tmp_path / "run", overwrite=True)
    assert_kept(contents)


def test_files_put_into_the_folder_during_the_run_stop_the_replacement(tmp_path):
    target = tmp_path / "run"
    fill(target, ["done.json", "old.txt"])
    with (
        pytest.raises(OutputError, match="holds mine.txt"),
        atomic_output_dir(target, overwrite=True, kind=RUNS) as tmp,
    ):
        (tmp / "new.txt").write_text("new")
        (target / "mine.txt").write_text("mine")
    assert sorted(p.name for p in target.iterdir()) == ["done.json", "mine.txt", "old.txt"]
    assert leftovers(tmp_path) == []


def test_a_folder_holding_an_input_is_never_replaced_even_if_the_engine_wrote_it(tmp_path):
    target = tmp_path / "run"
    contents = fill(target, ["done.json", "old.txt", "parts/000001.npy"])
    for given in (target / "old.txt", target / "parts" / "000001.npy", target):
        with pytest.raises(OutputError, match=f"will not replace {target}: (it holds the input|it is an input)"):
            check_output_dir(target, overwrite=True, inputs=[None, given], kind=RUNS)
    assert_kept(contents)


def test_the_current_folder_its_parents_a_home_folder_and_the_root_are_never_replaced(tmp_path, monkeypatch):
    work = tmp_path / "home" / "analyst" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home" / "analyst"))
    (tmp_path / "home" / "other").mkdir()
    home = "it is a home folder or holds one"
    for target, reason in [
        (work, "it is the current folder or holds it"),
        (".", "it is the current folder"),
        (tmp_path, home),
        (tmp_path / "home" / "other", home),
        (tmp_path / "home" / "analyst", home),
        ("/", "it is the root of a file system"),
        ("/tmp", "it is a top-level folder"),
    ]:
        with pytest.raises(OutputError, match=f"will not replace .*: {reason}"):
            check_replaceable(target, kind=RUNS)
    # an empty current folder too, without --overwrite: renaming it away would pull the floor from under the shell
    with pytest.raises(OutputError, match="it is the current folder"), atomic_output_dir(work):
        pass
    assert work.is_dir() and Path.cwd() == work


def test_atomic_file_never_replaces_an_input_or_a_file_inside_an_input_folder(tmp_path):
    scene = tmp_path / "scene.tif"
    scene.write_text("pixels")
    product = tmp_path / "product.SAFE"
    contents = fill(product, ["measurement/vv.tiff"])
    with pytest.raises(OutputError, match=f"will not replace {scene}: it is an input of this run"):
        with atomic_file(scene, inputs=[scene]) as tmp:
            tmp.write_text("outputs")
    with pytest.raises(OutputError, match="lies inside the input"):
        with atomic_file(product / "measurement" / "vv.tiff", inputs=[product]) as tmp:
            tmp.write_text("outputs")
    (tmp_path / "link.tif").symlink_to(scene)
    with pytest.raises(OutputError, match="it is an input"):  # through a link, too
        check_replaceable(tmp_path / "link.tif", [scene])
    assert scene.read_text() == "pixels"
    assert_kept(contents)
    with atomic_file(product / "sigma0.tif", inputs=[product]) as tmp:  # a new file beside the data is fine
        tmp.write_text("outputs")
    assert leftovers(tmp_path) == [] and leftovers(product) == []


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_pipe_or_a_link_to_a_device_is_never_replaced_by_a_file(tmp_path, overwrite):
    """``--out /dev/null --overwrite`` run as root replaced the device with a file (so did ``/dev/full``); a pipe
    or a link to a device went the same way. Refused before any work, without advising --overwrite."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    link = tmp_path / "null.json"
    link.symlink_to(os.devnull)
    for target in (pipe, link):
        with pytest.raises(OutputError, match=f"will not replace {target}: it is a device, pipe or socket"):
            with atomic_file(target, overwrite=overwrite) as tmp:
                tmp.write_text("outputs")
        with pytest.raises(OutputError, match="it is a device, pipe or socket"):
            check_output_files([target], overwrite=overwrite)
    assert pipe.is_fifo() and link.is_symlink() and os.readlink(link) == os.devnull
    assert leftovers(tmp_path) == []


def test_remove_engine_folder_applies_the_same_rule(tmp_path):
    contents = fill(tmp_path / "mine", ["done.json", "thesis.tex"])
    with pytest.raises(OutputError, match="holds thesis.tex"):
        remove_engine_folder(tmp_path / "mine", RUNS)
    assert_kept(contents)
    fill(tmp_path / "run", ["done.json", "parts/000001.npy"])
    remove_engine_folder(tmp_path / "run", RUNS)
    assert not (tmp_path / "run").exists()


def test_an_earlier_output_inside_an_input_folder_may_be_replaced(tmp_path):
    product = tmp_path / "product.SAFE"
    contents = fill(product, ["measurement/vv.tiff"])
    fill(product, ["run/done.json", "run/old.txt"])
    with atomic_output_dir(product / "run", overwrite=True, inputs=[product], kind=RUNS) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in (product / "run").iterdir()] == ["new.txt"]
    assert_kept(contents)


def test_an_output_file_that_is_a_folder_is_refused_up_front_even_with_overwrite(tmp_path):
    (tmp_path / "results.json").mkdir()
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="results.json is a folder, not a file; choose another --json"):
            check_output_files([tmp_path / "results.json"], overwrite=overwrite, option="--json")
    assert (tmp_path / "results.json").is_dir()


#: A training run's work folder for these tests: its checkpoints, and a sub-folder of them.
CHECKPOINTS = EngineFolder("test work folder", ("last.pt", "best.pt", "phase/last.pt"))


def test_a_work_folder_of_an_earlier_run_needs_resume_or_overwrite(tmp_path):
    work = tmp_path / "run.work"
    assert check_work_folder(work, CHECKPOINTS, resume=False, overwrite=False) == work  # new: fine
    work.mkdir()
    check_work_folder(work, CHECKPOINTS, resume=False, overwrite=False)  # empty: fine
    contents = fill(work, ["last.pt", "best.pt"])
    with pytest.raises(OutputError, match="exists from an earlier run; pass --resume to continue it or --overwrite"):
        check_work_folder(work, CHECKPOINTS, resume=False, overwrite=False)
    check_work_folder(work, CHECKPOINTS, resume=True, overwrite=False)
    check_work_folder(work, CHECKPOINTS, resume=False, overwrite=True)
    clear_work_folder(work, CHECKPOINTS, resume=True, overwrite=True)  # --resume continues it: nothing deleted
    clear_work_folder(work, CHECKPOINTS, resume=False, overwrite=False)
    assert_kept(contents)
    clear_work_folder(work, CHECKPOINTS, resume=False, overwrite=True)  # started afresh: no stale best.pt
    assert not work.exists()


def test_resume_is_refused_in_a_folder_that_holds_other_files_and_keeps_them(tmp_path):
    """--resume took any folder: a fine-tune then regenerated the analyst's generated/ set inside it in place."""
    work = tmp_path / "mine"
    contents = fill(work, ["notes.txt", "phase/last.pt"])
    with pytest.raises(OutputError) as refused:
        check_work_folder(work, CHECKPOINTS, resume=True, overwrite=False)
    assert str(refused.value) == (
        f"work folder {work} is not a test work folder written by dakd (it holds notes.txt), so --resume has no run "
        "to continue there; move your files out of it or choose another --work-dir"
    )
    assert_kept(contents)
    (work / "notes.txt").unlink()
    assert check_work_folder(work, CHECKPOINTS, resume=True, overwrite=False) == work  # an earlier run's: continued


def test_a_work_folder_holding_other_files_is_refused_and_kept(tmp_path):
    work = tmp_path / "mine"
    contents = fill(work, ["last.pt", "notes.txt"])
    with pytest.raises(OutputError, match=r"not a test work folder written by dakd \(it holds notes.txt\); move your"):
        check_work_folder(work, CHECKPOINTS, resume=False, overwrite=False)
    with pytest.raises(OutputError, match="only a test work folder written by dakd may be replaced"):
        check_work_folder(work, CHECKPOINTS, resume=False, overwrite=True)
    with pytest.raises(OutputError, match="holds notes.txt"):
        clear_work_folder(work, CHECKPOINTS, resume=False, overwrite=True)
    assert_kept(contents)
    (tmp_path / "file.work").write_text("mine")
    for resume in (False, True):
        with pytest.raises(OutputError, match="file.work is a file, not a folder; choose another --work-dir"):
            check_work_folder(tmp_path / "file.work", CHECKPOINTS, resume=resume, overwrite=True)
    assert (tmp_path / "file.work").read_text() == "mine"


#: A run of another process that writes into an output folder and waits to be killed: it prints its temporary.
WRITER = """
import os, sys, time
from engine.io.atomic import atomic_output_dir
with atomic_output_dir(sys.argv[1]) as tmp:
    (tmp / "probability.tif").write_bytes(os.urandom(1 << 20))
    print(tmp, flush=True)
    time.sleep(120)
"""


def start_writer(target):
    """Start a process writing into ``target`` through atomic_output_dir; return it and its temporary."""
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True, env=env)
    return process, Path(process.stdout.readline().strip())


def temporary_of(target, suffix, owner):
    """Make a temporary of ``target`` named as mkdtemp names them, holding ``owner`` as its owner file."""
    folder = target.parent / f".{target.name}{TMP_MARK}{suffix}"
    folder.mkdir()
    (folder / "probability.tif").write_text("half")
    if owner is not None:
        (folder / OWNER_FILE).write_text(json.dumps(owner))
    return folder


def test_the_next_run_removes_the_temporary_of_a_killed_run_and_nothing_else(tmp_path, caplog, monkeypatch):
    """A run the plugin killed after its grace period (or SIGKILL, the system out of memory) left its hidden
    temporary, GBs of probability raster, beside the output for good. The next run into the same folder removes it;
    a live run's, another machine's, an older engine's (no owner file), links and other names stay."""
    target = tmp_path / "out"
    live, running = start_writer(target)  # first: it would remove the killed run's temporary itself
    killed, orphan = start_writer(target)
    try:
        assert orphan.parent == tmp_path and (orphan / "probability.tif").stat().st_size == 1 << 20
        owner = json.loads((orphan / OWNER_FILE).read_text())
        assert owner["pid"] == killed.pid and isinstance(owner["host"], str)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert orphan.is_dir()  # what a killed run leaves
        dead = {**owner, "pid": killed.pid}
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / OWNER_FILE).write_text(json.dumps(dead))
        (elsewhere / "analyst.tif").write_text("mine")
        kept = [
            running,  # its process still writes
            temporary_of(target, "abcd1234", {**dead, "host": f"not-{owner['host']}"}),  # a shared drive's
            temporary_of(target, "older123", None),  # an older engine's: maybe still running
            temporary_of(target, "broken12", None),
            temporary_of(target, "old-123", dead),  # an output being replaced, not mkdtemp's name
            temporary_of(target.with_name("other"), "abcd1234", dead),  # another output's
            temporary_of(target.with_name("out.tmp-abcd1234"), "abcd1234", dead),
        ]
        (kept[3] / OWNER_FILE).symlink_to(elsewhere / OWNER_FILE)  # an owner file that is a link
        link = tmp_path / f".out{TMP_MARK}link1234"
        link.symlink_to(elsewhere, target_is_directory=True)
        kept.append(link)
        monkeypatch.setattr(logging.getLogger("dakd"), "propagate", True)  # the CLI's setup turns it off

        with caplog.at_level(logging.INFO, logger="dakd"), atomic_output_dir(target) as tmp:
            assert not orphan.exists()
            assert json.loads((tmp / OWNER_FILE).read_text())["pid"] == os.getpid()
            (tmp / "summary.json").write_text("{}")
        assert sorted(p.name for p in target.iterdir()) == ["summary.json"]  # the owner file stays behind
        assert all(path.is_symlink() or path.is_dir() for path in kept)
        assert (running / "probability.tif").stat().st_size == 1 << 20
        assert sorted(p.name for p in elsewhere.iterdir()) == [OWNER_FILE, "analyst.tif"]
        # One record; after the CLI's logging set-up caplog can hold it twice (on "dakd" and on the root).
        removed = {id(r): r.getMessage() for r in caplog.records if "killed" in r.getMessage()}
        assert list(removed.values()) == [
            f"removed {orphan.name} from {tmp_path}, left by a killed dakd run, freeing 1.0 MB"
        ]
        assert live.poll() is None
    finally:
        for process in (killed, live):
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
