import pytest
import torch

from engine.models.sar_jointnet import SARJointNet, jointnet_config, label_x0_from_logits


def test_zero_convs_leave_the_nets_independent_at_step_0() -> None:
    torch.manual_seed(0)
    model = SARJointNet(jointnet_config("tiny", num_classes=3))
    x = torch.randn(2, 1, 32, 32)
    y = torch.randn(2, 3, 32, 32)
    t = torch.tensor([10, 700])
    image_x0, logits = model(x, y, t)
    torch.testing.assert_close(image_x0, model.sar_net(x, t))
    torch.testing.assert_close(logits, model.label_net(y, t))
    image_other, logits_other = model(x, torch.randn_like(y), t)
    torch.testing.assert_close(image_other, image_x0)  # the label does not reach SAR-Net yet
    assert all(torch.all(p == 0) for conv in (*model.to_sar, *model.to_label) for p in conv.parameters())


def test_coupling_learns_after_one_step() -> None:
    torch.manual_seed(0)
    model = SARJointNet(jointnet_config("tiny", num_classes=3))
    x, y, t = torch.randn(2, 1, 32, 32), torch.randn(2, 3, 32, 32), torch.tensor([10, 700])
    optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
    image_x0, logits = model(x, y, t)
    (image_x0.square().mean() + logits.square().mean()).backward()
    optimiser.step()
    assert model.label_to_sar_stem.weight.abs().sum() > 0
    image_a, _ = model(x, y, t)
    image_b, _ = model(x, torch.randn_like(y), t)
    assert not torch.allclose(image_a, image_b)  # now the label influences the image branch


def test_label_estimate_and_variants() -> None:
    logits = torch.tensor([[[[10.0]], [[-10.0]]]])
    torch.testing.assert_close(
        label_x0_from_logits(logits, 0.5), torch.tensor([[[[0.5]], [[-0.5]]]]), atol=1e-6, rtol=0
    )
    with pytest.raises(KeyError, match="valid: tiny, small, base"):
        jointnet_config("huge")
