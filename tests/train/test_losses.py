import torch

from engine.classes import IGNORE_INDEX
from engine.train.losses import LossWeights, dice_loss, kd_loss, segmentation_loss


def test_dice_is_zero_for_a_perfect_prediction_and_skips_ignored_pixels() -> None:
    target = torch.tensor([[[0, 1], [1, IGNORE_INDEX]]])
    logits = torch.nn.functional.one_hot(target.clamp(0, 1), 2).permute(0, 3, 1, 2).float() * 50
    logits[0, :, 1, 1] = torch.tensor([-50.0, 50.0])  # wrong where ignored: must not count
    assert dice_loss(logits, target).item() < 1e-3
    assert dice_loss(-logits, target).item() > 0.7  # all wrong: 1 - mean(eps / (|P| + |T| + eps))


def test_kd_is_zero_when_student_matches_teacher_and_scales_with_t2() -> None:
    logits = torch.randn(2, 5, 4, 4)
    teacher = torch.softmax(logits, dim=1)
    assert kd_loss(logits, teacher, temperature=2.0).abs().item() < 1e-5
    other = torch.randn(2, 5, 4, 4)
    plain = kd_loss(other, teacher, 1.0)
    assert plain.item() > 0
    manual = (teacher * (teacher.log() - torch.log_softmax(other, 1))).sum(1).mean()
    torch.testing.assert_close(plain, manual, atol=1e-5, rtol=1e-5)


def test_mixed_batch_uses_ce_for_real_and_kd_for_generated() -> None:
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    labels = torch.zeros(2, 4, 4, dtype=torch.long)
    soft = torch.softmax(torch.randn(2, 3, 4, 4), 1)
    only_real, terms_real = segmentation_loss(logits, labels, soft, torch.tensor([False, False]), LossWeights())
    assert terms_real["kd"] == 0 and terms_real["ce"] > 0
    mixed, terms = segmentation_loss(logits, labels, soft, torch.tensor([False, True]), LossWeights())
    assert terms["kd"] > 0
    expected_ce = torch.nn.functional.cross_entropy(logits[:1], labels[:1]).item()
    assert abs(terms["ce"] - expected_ce) < 1e-6
    mixed.backward()
    assert logits.grad is not None
