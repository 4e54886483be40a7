import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parent / "ddp_worker.py"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_both_trainers_under_torchrun_with_gloo(tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        "--nproc_per_node=2",
        str(WORKER),
        str(tmp_path),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    # DDP keeps the replicas identical: same weights on both processes after training
    assert ranks[0]["segmenter_checksum"] == pytest.approx(ranks[1]["segmenter_checksum"], rel=1e-9)
    assert ranks[0]["jointnet_checksum"] == pytest.approx(ranks[1]["jointnet_checksum"], rel=1e-9)
    assert len(ranks[0]["losses"]) == 4 and all(math.isfinite(v) for v in ranks[0]["losses"])
    assert ranks[0]["miou"] == pytest.approx(ranks[1]["miou"])  # same validation decision everywhere
    assert (tmp_path / "seg" / "last.pt").is_file()  # written once, by rank 0
