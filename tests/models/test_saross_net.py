import pytest
import torch

from engine.models import MODEL_VARIANTS, SarossNetConfig, build_saross_net, create_model
from engine.models.mambavision import build_mambavision


@pytest.mark.parametrize("name", list(MODEL_VARIANTS))
@pytest.mark.parametrize("size", [(256, 256), (300, 200)])
def test_every_variant_gives_full_resolution_logits(name, size):
    model = create_model(name, encoder_options={"scan_backend": "reference"} if "resnet" not in name else {}).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 1, *size))
    assert logits.shape == (1, 5, *size)
    assert torch.isfinite(logits).all()


def test_caft_adds_089m_parameters_to_the_t_model():
    def count(skip):
        return sum(p.numel() for p in create_model("saross_net_t", skip=skip).parameters())

    added = count("caft") - count("none")
    assert added == 893_920 + 11  # weights + one temperature per head (1 + 2 + 4 heads over rows of 3, 2, 1 blocks)
    assert abs(added / 1e6 - 0.89) < 0.005  # the paper's "+0.89M"
    assert count("conv") > count("caft")  # the 3×3-conv skip is the heavy one, as in the paper's table


@pytest.mark.parametrize(
    ("skip", "encoder", "variant"),
    [("conv", "mambavision", "XS"), ("none", "mambavision", "XS"), ("caft", "resnet", "resnet18")],
)
def test_ablation_switches_build_and_run_with_two_classes(skip, encoder, variant):
    model = build_saross_net({"encoder": encoder, "variant": variant, "skip": skip, "num_classes": 2}).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 64, 96)).shape == (2, 2, 64, 96)


def test_every_parameter_gets_a_gradient():
    model = create_model("saross_net_xs", encoder_options={"scan_backend": "parallel"})
    loss = model(torch.randn(2, 1, 64, 64)).logsumexp(dim=1).mean()
    loss.backward()
    unused = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert unused == []


def test_config_round_trips_through_a_dict():
    config = SarossNetConfig(variant="XS", num_classes=2, skip="conv", encoder_options={"window_size": [8, 8, 4, 2]})
    rebuilt = SarossNetConfig.from_dict(config.to_dict())
    assert rebuilt == config
    model = build_saross_net(config.to_dict())
    assert model.encoder.config.window_size == (8, 8, 4, 2)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(KeyError, match="saross_net_xs"):
        create_model("saross_net_huge")
    with pytest.raises(KeyError, match="caft, conv, none"):
        create_model("saross_net_xs", skip="dense")
    with pytest.raises(KeyError, match="mambavision, resnet"):
        SarossNetConfig(encoder="vit")


def test_pretrained_encoder_weights_load_from_a_local_file(tmp_path):
    rgb_encoder = build_mambavision("XS", in_chans=3)  # as an ImageNet checkpoint would be
    path = tmp_path / "xs.pth"
    torch.save({"state_dict": {**rgb_encoder.state_dict(), "head.weight": torch.zeros(10, 256)}}, path)
    model = create_model("saross_net_xs")
    model.encoder.load_checkpoint(str(path))
    stem = rgb_encoder.patch_embed.conv_down[0].weight
    assert torch.allclose(model.encoder.patch_embed.conv_down[0].weight, stem.sum(1, keepdim=True))
