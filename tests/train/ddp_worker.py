"""Run by ``torchrun`` from test_distributed.py: both trainers on 2 CPU processes with gloo."""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import SMALL_UNET, make_tiles  # noqa: E402

from engine.detectors.base import InputSpec  # noqa: E402
from engine.models.sar_jointnet import jointnet_config  # noqa: E402
from engine.models.unet import UNet  # noqa: E402
from engine.train import distributed  # noqa: E402
from engine.train.jointnet import JointTrainConfig, train_jointnet  # noqa: E402
from engine.train.loop import LoopConfig, train  # noqa: E402
from engine.train.segmenter import SegmenterConfig, SegmenterTask  # noqa: E402


def main(out_dir: Path) -> None:
    # Joined here, the group outlives both train() calls (as in the fine-tune pipeline) and is left at the end.
    with distributed.process_group(torch.device("cpu")) as (info, _):
        tiles = make_tiles(8, size=32)
        spec = InputSpec(units="db", mean=-20.0, std=4.0, tile_size=32)
        torch.manual_seed(0)
        model = UNet(SMALL_UNET)
        task = SegmenterTask(tiles, tiles, None, spec, SegmenterConfig(), seed=0)
        seg = train(model, task, LoopConfig(max_steps=4, batch_size=2, lr=1e-3, checkpoint_every=2), out_dir / "seg")
        joint, joint_result = train_jointnet(
            tiles, JointTrainConfig(model=jointnet_config("tiny")), LoopConfig(max_steps=3, batch_size=2, ema_decay=0.9)
        )
        record = {
            "rank": info.rank,
            "world": info.world_size,
            "segmenter_checksum": float(sum(p.double().sum() for p in seg.model.parameters())),
            "jointnet_checksum": float(sum(p.double().sum() for p in joint.model.parameters())),
            "losses": [loss for _, loss in seg.loss_history],
            "miou": seg.best_score,
            "joint_loss": joint_result.loss_history[-1][1],
        }
        (out_dir / f"rank{info.rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
