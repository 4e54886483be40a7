"""Losses of DAKD: cross-entropy and Dice on real pairs, KD and Dice on generated pairs (paper §4).

``L_total = w_ce * L_ce + w_kd * L_kd + w_dice * L_dice``, weights equal by default as drawn in the
paper's figure. Real samples give L_ce against the label; generated samples give L_kd against
their soft label; Dice runs on both, with ``argmax(soft label)`` as the hard target for generated
samples [I].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.classes import IGNORE_INDEX


@dataclass(frozen=True)
class LossWeights:
    """Weights of the three terms and the distillation temperature tau [I: tau is not in the paper]."""

    ce: float = 1.0
    kd: float = 1.0
    dice: float = 1.0
    temperature: float = 2.0


def dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX, eps: float = 1.0
) -> torch.Tensor:
    """Soft multi-class Dice loss, 1 - mean over classes of 2|P∩T| / (|P| + |T|) (Milletari et al. 2016).

    Pixels equal to ``ignore_index`` are excluded. ``eps`` smooths classes absent from both
    prediction and target, so they contribute (near) zero loss instead of NaN.
    """
    num_classes = logits.shape[1]
    valid = (target != ignore_index).unsqueeze(1).to(logits.dtype)
    probs = torch.softmax(logits.float(), dim=1) * valid
    one_hot = F.one_hot(target.clamp(0, num_classes - 1).long(), num_classes).permute(0, 3, 1, 2).to(probs.dtype)
    one_hot = one_hot * valid
    dims = (0, 2, 3)
    intersection = (probs * one_hot).sum(dims)
    cardinality = probs.sum(dims) + one_hot.sum(dims)
    return 1.0 - ((2.0 * intersection + eps) / (cardinality + eps)).mean()


def kd_loss(
    student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Temperature-scaled distillation KL(q_T || p_T) * T^2 (Hinton et al. 2015), mean over pixels.

    The teacher is given as probabilities (stored soft labels); its tempered form is
    ``softmax(log q / T)``. ``mask`` (N, H, W) selects the pixels that count.
    """
    log_teacher = torch.log(teacher_probs.float().clamp_min(1e-8)) / temperature
    teacher_t = torch.softmax(log_teacher, dim=1)
    log_student_t = torch.log_softmax(student_logits.float() / temperature, dim=1)
    per_pixel = (teacher_t * (torch.log(teacher_t.clamp_min(1e-8)) - log_student_t)).sum(dim=1)
    if mask is not None:
        per_pixel = per_pixel[mask]
    if per_pixel.numel() == 0:
        return student_logits.sum() * 0.0
    return per_pixel.mean() * temperature**2


def segmentation_loss(
    logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor, generated: torch.Tensor, weights: LossWeights
) -> tuple[torch.Tensor, dict[str, float]]:
    """Return the DAKD loss on a mixed batch.

    Args:
        logits: (N, C, H, W) student output.
        labels: (N, H, W) hard targets: the label for real samples, argmax of the soft label for
            generated ones; IGNORE_INDEX where unlabelled.
        soft: (N, C, H, W) soft labels (ignored for real samples).
        generated: (N,) bool, True for generated samples.
        weights: term weights and KD temperature.

    Returns:
        The total loss and its terms as floats (for logging).
    """
    real = ~generated
    zero = logits.sum() * 0.0
    ce = (
        F.cross_entropy(logits[real].float(), labels[real].long(), ignore_index=IGNORE_INDEX)
        if (real.any() and (labels[real] != IGNORE_INDEX).any())
        else zero
    )
    if generated.any():
        gen_mask = labels[generated] != IGNORE_INDEX
        kd = kd_loss(logits[generated], soft[generated], weights.temperature, gen_mask)
    else:
        kd = zero
    dice = dice_loss(logits, labels)
    total = weights.ce * ce + weights.kd * kd + weights.dice * dice
    return total, {"ce": float(ce.detach()), "kd": float(kd.detach()), "dice": float(dice.detach())}
