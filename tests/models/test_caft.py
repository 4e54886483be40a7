import pytest
import torch

from engine.models.caft import CAFTBlock, ConvSkipBlock, resize_to


def test_caft_refines_the_high_resolution_map_from_an_upsampled_low_one():
    block = CAFTBlock(channels=8, low_channels=16, num_heads=2)
    high, low = torch.randn(2, 8, 12, 10), torch.randn(2, 16, 6, 5)
    out = block(high, low)
    assert out.shape == high.shape
    torch.nn.init.zeros_(block.project.weight)
    torch.nn.init.zeros_(block.project.bias)
    assert torch.equal(block(high, low), high)  # the residual is onto F_HR


def test_caft_attention_mixes_channels_not_pixels():
    # Transposed attention: each output channel is a convex mix of V's channels at the same pixel, so
    # a value map that is zero at a pixel stays zero there. V's 3×3 depthwise conv sees the neighbours,
    # so the input is zeroed on the 3×3 around the pixel.
    block = CAFTBlock(channels=4, low_channels=8, num_heads=1)
    torch.nn.init.eye_(block.project.weight.view(4, 4))
    torch.nn.init.zeros_(block.project.bias)
    for layer in block.value:
        torch.nn.init.zeros_(layer.bias)
    high = torch.randn(1, 4, 6, 6)
    high[..., 1:4, 2:5] = 0.0
    out = block(high, torch.randn(1, 8, 3, 3))
    assert torch.allclose(out[..., 2, 3], torch.zeros(1, 4), atol=1e-6)


def test_caft_parameters_for_mambavision_t_rows():
    # dakd-paper.md §3: Q's 1×1 conv takes 2Ĉ channels; 34.7k×3 + 133.4k×2 + 522.9k = 0.894M (+ temperatures).
    counts = {c: sum(p.numel() for p in CAFTBlock(c, 2 * c, 1).parameters()) - 1 for c in (80, 160, 320)}
    assert counts == {80: 34_720, 160: 133_440, 320: 522_880}


def test_heads_must_divide_channels():
    with pytest.raises(ValueError, match="divide"):
        CAFTBlock(channels=6, low_channels=12, num_heads=4)


def test_conv_skip_and_resize():
    block = ConvSkipBlock(channels=8, low_channels=16)
    assert block(torch.randn(1, 8, 7, 5), torch.randn(1, 16, 4, 3)).shape == (1, 8, 7, 5)
    x = torch.randn(1, 3, 4, 4)
    assert resize_to(x, x) is x
