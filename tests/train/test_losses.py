import pytest
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


def test_not_oil_pixels_cost_minus_log_one_minus_p_oil() -> None:
    """The partial label "not oil" costs -log(1 - p_oil) by hand; exact labels are plain cross-entropy."""
    from engine.classes import NOT_OIL_INDEX
    from engine.train.losses import partial_cross_entropy

    pixels = torch.tensor([[2.0, 1.0, 0.5, -1.0, 0.0], [0.0, 3.0, 0.0, 0.0, 0.0]])  # 2 pixels x 5 classes
    logits = pixels.T.reshape(1, 5, 1, 2).contiguous()
    p = torch.softmax(logits, dim=1)[0, :, 0]  # (5 classes, 2 pixels)
    target = torch.tensor([[[NOT_OIL_INDEX, 2]]])
    expected = (-torch.log(1 - p[1, 0]) - torch.log(p[2, 1])) / 2
    torch.testing.assert_close(partial_cross_entropy(logits, target), expected)
    only_partial = partial_cross_entropy(logits[..., :1], target[..., :1])
    torch.testing.assert_close(only_partial, -torch.log(1 - p[1, 0]))
    exact = torch.tensor([[[0, IGNORE_INDEX]]])
    torch.testing.assert_close(
        partial_cross_entropy(logits, exact),
        torch.nn.functional.cross_entropy(logits, exact, ignore_index=IGNORE_INDEX),
    )


def test_not_oil_gradients_lower_oil_and_do_not_push_the_rest_to_sea() -> None:
    """The gradient on each non-oil logit is proportional to its probability: oil goes down, and the
    model's own split of the rest (here mostly look-alike) is kept, where forcing "sea" would overturn it."""
    from engine.classes import NOT_OIL_INDEX
    from engine.train.losses import partial_cross_entropy

    logits = torch.tensor([0.0, 1.5, 2.0, -1.0, -0.5]).reshape(1, 5, 1, 1).requires_grad_(True)
    partial_cross_entropy(logits, torch.tensor([[[NOT_OIL_INDEX]]])).backward()
    grad, p = logits.grad.flatten(), torch.softmax(logits.detach().flatten(), 0)
    assert grad[1] > 0  # oil pushed down
    rest = [0, 2, 3, 4]
    assert (grad[rest] < 0).all()  # every other class up, none pushed down
    ratio = grad[rest] / p[rest]
    torch.testing.assert_close(ratio, ratio[:1].expand(4))  # in proportion to what the model believes
    # a few descent steps: oil falls, look-alike stays the model's answer among the rest
    z = logits.detach().clone().requires_grad_(True)
    for _ in range(50):
        loss = partial_cross_entropy(z, torch.tensor([[[NOT_OIL_INDEX]]]))
        (grad_z,) = torch.autograd.grad(loss, z)
        z = (z - 0.5 * grad_z).detach().requires_grad_(True)
    q = torch.softmax(z.detach().flatten(), 0)
    assert q[1] < 0.05 and q.argmax() == 2 and q[2] > q[0]
    forced = logits.detach().clone().requires_grad_(True)  # the wrong way: "background" as sea
    torch.nn.functional.cross_entropy(forced, torch.tensor([[[0]]])).backward()
    assert forced.grad.flatten()[2] > 0  # forcing sea would push look-alike down


def test_segmentation_loss_on_binary_labels_uses_oil_vs_rest_dice() -> None:
    from engine.classes import NOT_OIL_INDEX
    from engine.train.losses import oil_vs_rest_dice

    labels = torch.full((1, 4, 4), NOT_OIL_INDEX)
    labels[0, :2, :2] = 1
    good = torch.full((1, 5, 4, 4), -10.0)
    good[:, 2] = 10.0  # "look-alike" on the not-oil pixels is right
    good[0, :, :2, :2] = -10.0
    good[0, 1, :2, :2] = 10.0
    assert oil_vs_rest_dice(good, labels).item() < 1e-3
    bad = good.clone()
    bad[:, 1] = 20.0  # oil everywhere: wrong on every not-oil pixel
    assert oil_vs_rest_dice(bad, labels).item() > 0.3
    no_generated = torch.zeros(1, dtype=torch.bool)
    loss_good, terms = segmentation_loss(good, labels, torch.zeros(1, 5, 4, 4), no_generated, LossWeights())
    loss_bad, _ = segmentation_loss(bad, labels, torch.zeros(1, 5, 4, 4), no_generated, LossWeights())
    assert terms["ce"] < 1e-3 and loss_good.item() < 0.01 < loss_bad.item()


def test_retention_distils_every_valid_pixel_from_the_starting_model() -> None:
    """Learning without Forgetting: KD from the teacher's logits, zero for the teacher itself, nodata left out."""
    from engine.train.losses import retention_loss

    teacher, student = torch.randn(2, 5, 4, 4), torch.randn(2, 5, 4, 4)
    valid = torch.ones(2, 1, 4, 4, dtype=torch.bool)
    expected = kd_loss(student, torch.softmax(teacher, 1), temperature=2.0)
    torch.testing.assert_close(retention_loss(student, teacher, valid, 2.0), expected)
    assert retention_loss(teacher, teacher, valid, 2.0).abs().item() < 1e-6
    valid[1] = False
    torch.testing.assert_close(
        retention_loss(student, teacher, valid, 2.0),
        kd_loss(student[:1], torch.softmax(teacher[:1], 1), temperature=2.0),
    )
    assert retention_loss(student, teacher, torch.zeros_like(valid), 2.0).item() == 0.0
    moving = student.clone().requires_grad_(True)  # a descent step moves the student towards the teacher
    retention_loss(moving, teacher, torch.ones_like(valid), 2.0).backward()
    closer = (moving - 0.5 * moving.grad).detach()
    assert retention_loss(closer, teacher, torch.ones_like(valid), 2.0) < retention_loss(
        student, teacher, torch.ones_like(valid), 2.0
    )


def _mixed_batch(generated: list[bool]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    n = len(generated)
    logits = torch.randn(n, 3, 8, 8)
    labels = torch.randint(0, 3, (n, 8, 8))
    soft = torch.softmax(torch.randn(n, 3, 8, 8), 1)
    return logits, labels, soft, torch.tensor(generated)


def test_generated_share_of_the_loss_equals_their_share_of_the_batch() -> None:
    """Issue 17: 1 generated sample of 4 carries a quarter of the supervision, not a half."""
    logits, labels, soft, generated = _mixed_batch([False, False, False, True])
    total, terms = segmentation_loss(logits, labels, soft, generated, LossWeights())
    assert terms["share"] == 0.25
    real_part = terms["ce"] + terms["dice"]
    generated_part = terms["kd"]
    assert abs(total.item() - (0.75 * real_part + 0.25 * generated_part)) < 1e-5
    assert abs(0.25 * generated_part / total.item() - generated_part / (3 * real_part + generated_part)) < 1e-5


def test_a_configured_generated_share_is_used_on_a_fixed_batch() -> None:
    logits, labels, soft, generated = _mixed_batch([False, False, False, True])
    total, terms = segmentation_loss(logits, labels, soft, generated, LossWeights(generated_share=0.5))
    assert terms["share"] == 0.5
    assert abs(total.item() - 0.5 * (terms["ce"] + terms["dice"]) - 0.5 * terms["kd"]) < 1e-5
    with pytest.raises(ValueError, match="generated_share"):
        LossWeights(generated_share=1.5)


def test_dice_runs_on_real_samples_only() -> None:
    logits, labels, soft, generated = _mixed_batch([False, True])
    _, terms = segmentation_loss(logits, labels, soft, generated, LossWeights())
    other = labels.clone()
    other[1] = (other[1] + 1) % 3  # the generated sample's hard target changes; Dice must not
    _, terms_other = segmentation_loss(logits, other, soft, generated, LossWeights())
    assert terms["dice"] == terms_other["dice"]
    _, real_only = segmentation_loss(logits[:1], labels[:1], soft[:1], generated[:1], LossWeights())
    assert abs(terms["dice"] - real_only["dice"]) < 1e-6 and real_only["share"] == 0.0
