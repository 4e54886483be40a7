import pytest
import torch

from engine.models.unet import UNet, UNetConfig, timestep_embedding

TINY = UNetConfig(
    in_channels=2,
    out_channels=3,
    base_channels=8,
    channel_mults=(1, 2),
    num_res_blocks=1,
    attention_levels=(1,),
    norm_groups=4,
)


def test_shapes_and_skips() -> None:
    net = UNet(TINY)
    x = torch.randn(2, 2, 16, 24)
    t = torch.tensor([0, 500])
    assert net(x, t).shape == (2, 3, 16, 24)
    skips, mid = net.encode(x, net.embed_time(t))
    assert [s.shape[1] for s in skips] == net.skip_channels == [8, 16]
    assert skips[1].shape[-2:] == (8, 12) and mid.shape[1] == net.mid_channels


def test_time_embedding_changes_output_and_config_roundtrip() -> None:
    torch.manual_seed(0)
    net = UNet(TINY)
    x = torch.randn(1, 2, 8, 8)
    assert not torch.allclose(net(x, torch.tensor([1])), net(x, torch.tensor([900])))
    assert UNetConfig.from_dict(TINY.to_dict()) == TINY
    assert timestep_embedding(torch.tensor([3]), 7).shape == (1, 7)


def test_bad_size_names_the_padded_size() -> None:
    net = UNet(
        UNetConfig(
            base_channels=8,
            channel_mults=(1, 2, 2),
            num_res_blocks=1,
            attention_levels=(),
            norm_groups=4,
            time_embedding=False,
        )
    )
    with pytest.raises(ValueError, match="pad it to 12x20"):
        net(torch.randn(1, 1, 10, 18))
