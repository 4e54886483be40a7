import pytest
import torch

from engine.errors import ModelError
from engine.models.resnet import build_resnet

# torchvision's documented parameter counts (resnet18 11,689,512; resnet34 21,797,672; resnet50 25,557,032)
# minus the 1000-class fc layer.
TORCHVISION_PARAMS_WITHOUT_FC = {"resnet18": 11_176_512, "resnet34": 21_284_672, "resnet50": 23_508_032}


@pytest.mark.parametrize("variant", list(TORCHVISION_PARAMS_WITHOUT_FC))
def test_sizes_and_names_follow_torchvision(variant):
    encoder = build_resnet(variant, in_chans=3)
    assert sum(p.numel() for p in encoder.parameters()) == TORCHVISION_PARAMS_WITHOUT_FC[variant]
    keys = encoder.state_dict()
    assert keys["conv1.weight"].shape == (64, 3, 7, 7)
    assert keys["layer2.0.downsample.0.weight"].shape[1] == encoder.out_channels[0]
    assert "layer4.1.bn2.running_var" in keys
    if variant == "resnet50":
        assert keys["layer1.0.conv3.weight"].shape == (256, 64, 1, 1)


def test_features_at_strides_4_to_32_for_odd_sizes():
    encoder = build_resnet("resnet18").eval()
    with torch.no_grad():
        features = encoder(torch.randn(1, 1, 300, 200))
    assert [tuple(f.shape[1:]) for f in features] == [(64, 75, 50), (128, 38, 25), (256, 19, 13), (512, 10, 7)]
    assert [i["num_chs"] for i in encoder.feature_info] == list(encoder.out_channels)


def test_local_timm_or_torchvision_checkpoint_loads_minus_fc(tmp_path):
    rgb = build_resnet("resnet18", in_chans=3)
    state = dict(rgb.state_dict())
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(state, path)
    sar = build_resnet("resnet18", in_chans=1)
    sar.load_checkpoint(path)
    assert torch.allclose(sar.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))
    with pytest.raises(ModelError, match="does not fit"):
        build_resnet("resnet34").load_checkpoint(path)


def test_unknown_variant_lists_valid_ones():
    with pytest.raises(KeyError, match="resnet18, resnet34, resnet50"):
        build_resnet("resnet101")
