"""bench/options.py: the shared ``--prob-threshold LABEL=P`` parsing of evaluate_default and robustness."""

import argparse
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
spec = importlib.util.spec_from_file_location("bench_options", BENCH / "options.py")
options = importlib.util.module_from_spec(spec)
spec.loader.exec_module(options)


def test_prob_thresholds_are_read_per_model_label() -> None:
    parsed = options.prob_thresholds(argparse.ArgumentParser(), ["p60=0.6", "strict=1"], ["default", "p60", "strict"])
    assert parsed == {"p60": 0.6, "strict": 1.0}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("p60", "give LABEL=P"),
        ("p60=high", "give LABEL=P"),
        ("p60=1.5", "give LABEL=P"),
        ("=0.6", "give LABEL=P"),
        ("other=0.6", "names no --model: other"),
    ],
)
def test_a_bad_prob_threshold_is_one_line_and_exit_2(item: str, message: str, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        options.prob_thresholds(argparse.ArgumentParser(prog="bench"), [item], ["default", "p60"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in error and "Traceback" not in error


def test_overlaps_are_read_per_model_label(capsys) -> None:
    assert options.overlaps(argparse.ArgumentParser(), ["wide=128"], ["default", "wide"]) == {"wide": 128}
    for item, message in (("wide", "give LABEL=PX"), ("wide=-1", "give LABEL=PX"), ("other=64", "names no --model")):
        with pytest.raises(SystemExit) as stopped:
            options.overlaps(argparse.ArgumentParser(prog="bench"), [item], ["default", "wide"])
        assert stopped.value.code == 2 and message in capsys.readouterr().err.strip().splitlines()[-1]
