"""bench/dakd_ablation.py --generator: a SAR-JointNet trained beforehand is checked before any bench work."""

import subprocess
import sys
from pathlib import Path

from engine.models.sar_jointnet import jointnet_config
from engine.train.jointnet import JointTrainConfig, save_jointnet, train_jointnet
from engine.train.loop import LoopConfig

from ..train.conftest import make_tiles

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "dakd_ablation.py"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def test_generator_is_refused_where_it_cannot_stand_for_every_generator(tmp_path: Path) -> None:
    several = bench("--study", "ablation", "--generator", str(tmp_path / "g.safetensors"), "--work", str(tmp_path))
    assert several.returncode == 2 and "trains several generators" in several.stderr
    missing = bench("--study", "goals", "--generator", str(tmp_path / "g.safetensors"), "--work", str(tmp_path))
    assert missing.returncode == 2 and "g.safetensors" in missing.stderr and "Traceback" not in missing.stderr
    assert not any(tmp_path.iterdir())  # refused before any data was simulated


def test_generator_of_another_db_range_is_refused_before_training(tmp_path: Path) -> None:
    config = JointTrainConfig(model=jointnet_config("tiny"), speckle="learned", db_range=(-30.0, 0.0))
    trained, _ = train_jointnet(make_tiles(2, size=32), config, LoopConfig(max_steps=1, batch_size=2))
    weights = save_jointnet(tmp_path / "joint", trained)
    out = tmp_path / "result.json"
    work = tmp_path / "work"
    refused = bench("--study", "goals", "--generator", str(weights), "--work", str(work), "--out", str(out))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("--generator: classes")
    assert "[-30.0, 0.0]" in refused.stderr and not out.exists()
    assert not (work / "test").exists()  # checked before the test tiles were simulated
