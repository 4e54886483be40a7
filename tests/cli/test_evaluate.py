"""``dakd evaluate``'s outputs: ``--out`` and ``--json`` are refused together, before the evaluation."""

from pathlib import Path

from engine.cli import main

MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "default.json"


def test_an_out_file_under_a_file_is_refused_before_the_json_is_written(tmp_path, capsys):
    """`--out` was tried only after the evaluation, once `--json` was written: the run failed and left half of it."""
    assert main(["--progress", "none", "simulate", "--size", "256", "256", "--out", str(tmp_path / "sim")]) == 0
    (tmp_path / "notes.txt").write_text("a file where a folder should be")
    capsys.readouterr()
    code = main(
        [
            "--progress",
            "none",
            "evaluate",
            str(MODEL),
            "--scene",
            str(tmp_path / "sim" / "sim_scene.tif"),
            "--label-raster",
            str(tmp_path / "sim" / "sim_labels.tif"),
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "notes.txt" / "metrics.txt"),
            "--json",
            str(tmp_path / "metrics.json"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.strip().splitlines() == [
        f"dakd: error: cannot write {tmp_path / 'notes.txt' / 'metrics.txt'}: {tmp_path / 'notes.txt'} is a file, "
        "not a folder; choose another --out"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sim"]
    assert (tmp_path / "notes.txt").read_text() == "a file where a folder should be"
