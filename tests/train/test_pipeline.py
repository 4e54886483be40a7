import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from engine.cli import main
from engine.errors import Cancelled, InputError
from engine.progress import Progress
from engine.train.pipeline import DataConfig, FinetuneConfig, finetune


@pytest.fixture(scope="module")
def tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "tiles"
    assert main(["--progress", "none", "simulate-tiles", "--count", "4", "--format", "osd", "--out", str(out)]) == 0
    return out


def config(tiles: Path, output: Path, **changes) -> FinetuneConfig:
    data = DataConfig(format="osd", folder=str(tiles), split=None, val_share=0.25)
    base = dict(output=str(output), data=data, preset="tiny", aug_ratio=0.0, segmenter_steps=6, device="cpu")
    return FinetuneConfig(**dict(base, **changes))


@pytest.mark.slow
def test_interrupted_finetune_resumes_to_the_same_model(tiles: Path, tmp_path: Path) -> None:
    straight = finetune(config(tiles, tmp_path / "straight" / "m"))
    assert straight["steps"] == 6

    seen = {"step": 0}

    def sink(event: dict) -> None:
        if event.get("event") == "progress" and event.get("stage") == "train SAROSS-Net":
            seen["step"] = event["step"]

    with pytest.raises(Cancelled):
        finetune(config(tiles, tmp_path / "cut" / "m"), Progress(sink, lambda: seen["step"] >= 3))
    assert not (tmp_path / "cut" / "m.json").exists()  # nothing half-written
    with pytest.raises(InputError, match="--resume"):
        finetune(config(tiles, tmp_path / "cut" / "m"))
    resumed = finetune(config(tiles, tmp_path / "cut" / "m", resume=True))
    assert resumed["steps"] == 6
    a = load_file(str(tmp_path / "straight" / "m.safetensors"))
    b = load_file(str(tmp_path / "cut" / "m.safetensors"))
    assert all((a[k] == b[k]).all() for k in a)
    card = json.loads((tmp_path / "cut" / "m.json").read_text())
    assert card["training"]["preset"] == "tiny" and card["metrics"]["validation"]["pixels"] > 0


def test_every_preset_names_existing_networks_and_the_cli_offers_it() -> None:
    from engine.cli.train import PRESET_NAMES
    from engine.models import MODEL_VARIANTS
    from engine.models.sar_jointnet import jointnet_config
    from engine.train.pipeline import PRESETS

    assert set(PRESET_NAMES) == set(PRESETS)
    for name, preset in PRESETS.items():
        assert preset.segmenter_model in MODEL_VARIANTS, name
        assert jointnet_config(preset.jointnet_variant) is not None
        assert preset.description, name
    default = PRESETS["cpu-default"]  # the bundled model's recipe: CPU-sized; generated pairs only when asked
    assert default.segmenter_model == "saross_net_xs" and default.jointnet_variant == "tiny"
    assert default.aug_ratio == 0 and default.crop_px == 128
