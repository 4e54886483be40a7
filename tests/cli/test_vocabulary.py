"""One vocabulary over every ``dakd`` sub-command: ``--out`` everywhere, the same ``--device`` everywhere."""

import argparse

import pytest

from engine.cli import build_parser, main
from engine.contract import DEVICES


def leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Yield (command words, parser) for every runnable sub-command, e.g. (("model", "info"), parser)."""
    subcommands = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield prefix, parser
        return
    for name, child in subcommands[0].choices.items():
        yield from leaf_commands(child, (*prefix, name))


COMMANDS = dict(leaf_commands(build_parser()))
#: Commands that print a report: --out FILE writes it instead, replacing a file only with --overwrite.
REPORTS = {("info",), ("model", "info"), ("model", "list"), ("evaluate",), ("describe",)}


def option(parser: argparse.ArgumentParser, name: str) -> argparse.Action | None:
    return next((a for a in parser._actions if name in a.option_strings), None)


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(words) for words in COMMANDS}
    assert {
        "detect",
        "info",
        "simulate",
        "simulate-tiles",
        "model info",
        "model list",
        "model export",
        "finetune",
        "train-jointnet",
        "generate",
        "train",
        "evaluate",
        "calibrate",
    } <= names


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_every_command_takes_out(words) -> None:
    parser = COMMANDS[words]
    out = option(parser, "--out")
    assert out is not None, f"dakd {' '.join(words)} has no --out"
    assert out.dest == "out"
    for alias in ("--output", "-o"):  # the older spelling, where a command had it, is the same option
        assert option(parser, alias) in (None, out)
    if words in REPORTS:  # a report printed by default, written to --out FILE on request
        assert not out.required and option(parser, "--overwrite") is not None


def test_every_device_option_is_the_same() -> None:
    devices = {words: option(parser, "--device") for words, parser in COMMANDS.items()}
    devices = {words: action for words, action in devices.items() if action is not None}
    assert {("detect",), ("finetune",), ("train",), ("train-jointnet",), ("generate",), ("evaluate",)} <= set(devices)
    first = next(iter(devices.values()))
    for words, action in devices.items():
        assert (action.type, action.choices, action.metavar) == (first.type, first.choices, first.metavar), words
        assert action.default == "auto", words
    for value in (*DEVICES, "cuda:1", "CUDA:0"):
        assert first.type(value) == value.lower()


@pytest.mark.parametrize("words", ["detect", "finetune", "train", "train-jointnet", "generate", "evaluate"])
def test_a_wrong_device_is_one_line_naming_the_choices(words, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main([words, "--device", "gpu"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "argument --device: 'gpu' is not a device; use one of auto, cpu, cuda, mps or cuda:N" in err
    assert f"see dakd {words} --help" in err


def test_a_report_goes_to_out_and_is_not_overwritten(tmp_path, scene_tif, capsys) -> None:
    report = tmp_path / "info.json"
    assert main(["info", str(scene_tif), "--json", "--out", str(report)]) == 0
    assert capsys.readouterr().out == ""
    assert '"width": 320' in report.read_text()
    assert main(["info", str(scene_tif), "--out", str(report)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["info", str(scene_tif), "--out", str(report), "--overwrite"]) == 0
    assert "width: 320" in report.read_text()
    assert main(["info", str(scene_tif), "--out", str(scene_tif), "--overwrite"]) == 2  # never over an input
    assert "it is an input of this run" in capsys.readouterr().err


def test_model_list_writes_its_lines_to_out(tmp_path, capsys) -> None:
    listing = tmp_path / "models.txt"
    assert main(["model", "list", str(tmp_path), "--out", str(listing)]) == 0
    assert capsys.readouterr().out == ""
    assert listing.read_text() == f"no model cards found in {tmp_path}\n"


def test_the_augment_choices_are_the_registrys() -> None:
    """``--augment`` lists its names literally (building the parser must not import torch); they are AUGMENTS'."""
    from engine.data.samples import AUGMENTS

    assert set(option(COMMANDS[("finetune",)], "--augment").choices) == set(AUGMENTS)
