"""Losses of DAKD: cross-entropy and Dice on real pairs, KD on generated pairs (paper §4; Dice on real only, [I]).

Real samples give ``w_ce * L_ce + w_dice * L_dice`` against their label; generated samples give
``w_kd * L_kd`` against their soft label (weights equal by default, as drawn in the paper's figure). The two
are mixed by the generated samples' share of the batch, ``(1 - s) * L_real + s * L_generated``, so that
generated pairs carry the share of the supervision they have of the data (issue 17: summing a mean over
the real samples and a mean over the generated ones gave a quarter of the data about half of the
supervision). ``LossWeights.generated_share`` sets ``s`` instead (0.25-0.5 are sensible). Dice runs on real
samples only: the argmax of a generated soft label is not a label to match region by region [I].

Partial labels (:data:`~engine.classes.NOT_OIL_INDEX`, "any class but oil": binary masks and
oil-only polygons on a five-class model) are a set of allowed classes, not one class. L_ce is then
the negative log-likelihood of the set, ``-log sum_{c allowed} p_c = -log(1 - p_oil)`` (Cour, Sapp &
Taskar 2011, "Learning from partial labels"; the marginal loss of Shi et al. 2021 for segmentation
with classes missing from the labels): it pushes oil down and leaves how the rest is shared between
sea, look-alike, ship and land to what the model already knows. With exact labels it is the usual
cross-entropy. Dice adds an oil-against-the-rest term on those pixels (:func:`oil_vs_rest_dice`).

Fine-tuning from a trained model (``--init``) adds a retention term (:func:`retention_loss`): the
frozen starting model is a teacher for what the labels do not say, as in Learning without
Forgetting (Li & Hoiem 2016). A few hundred tiles that name only oil otherwise let the model forget
look-alikes, ships and land, and drift on scenes unlike the new ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.classes import IGNORE_INDEX, NOT_OIL_INDEX, OIL
from engine.config import ConfigBase


@dataclass(frozen=True)
class LossWeights(ConfigBase):
    """Weights of the three terms and the distillation temperature tau [I: tau is not in the paper].

    ``retain`` weighs :func:`retention_loss` (0: off; fine-tuning from ``--init`` turns it on).
    ``generated_share`` is the share of the supervision that generated pairs carry in a mixed batch
    (None: their share of the batch; see the module notes).
    """

    ce: float = 1.0
    kd: float = 1.0
    dice: float = 1.0
    temperature: float = 2.0
    retain: float = 0.0
    generated_share: float | None = None

    def __post_init__(self) -> None:
        if self.generated_share is not None and not 0.0 <= self.generated_share <= 1.0:
            raise ValueError(f"generated_share must be in [0, 1], got {self.generated_share}")


def dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX, eps: float = 1.0
) -> torch.Tensor:
    """Soft multi-class Dice loss, 1 - mean over classes of 2|P∩T| / (|P| + |T|) (Milletari et al. 2016).

    Pixels equal to ``ignore_index`` or :data:`NOT_OIL_INDEX` (no single class to compare with) are
    excluded. ``eps`` smooths classes absent from both prediction and target, so they contribute
    (near) zero loss instead of NaN.
    """
    num_classes = logits.shape[1]
    valid = ((target != ignore_index) & (target != NOT_OIL_INDEX)).unsqueeze(1).to(logits.dtype)
    probs = torch.softmax(logits.float(), dim=1) * valid
    one_hot = F.one_hot(target.clamp(0, num_classes - 1).long(), num_classes).permute(0, 3, 1, 2).to(probs.dtype)
    one_hot = one_hot * valid
    dims = (0, 2, 3)
    intersection = (probs * one_hot).sum(dims)
    cardinality = probs.sum(dims) + one_hot.sum(dims)
    return 1.0 - ((2.0 * intersection + eps) / (cardinality + eps)).mean()


def oil_vs_rest_dice(
    logits: torch.Tensor, target: torch.Tensor, oil_id: int = OIL.id, eps: float = 1.0
) -> torch.Tensor:
    """Two-class Dice loss of oil against the rest, over every labelled pixel, exact or "not oil".

    The rest's probability is ``1 - p_oil``, so like the partial cross-entropy it says nothing about
    how the rest is shared between the other classes. It gives Dice's balance between the rare oil
    and the large background on labels that name only oil.
    """
    labelled = (target != IGNORE_INDEX).to(torch.float32)
    p_oil = torch.softmax(logits.float(), dim=1)[:, oil_id] * labelled
    t_oil = (target == oil_id).to(torch.float32)
    p_rest, t_rest = (1.0 - p_oil) * labelled, (1.0 - t_oil) * labelled
    dice_oil = (2.0 * (p_oil * t_oil).sum() + eps) / (p_oil.sum() + t_oil.sum() + eps)
    dice_rest = (2.0 * (p_rest * t_rest).sum() + eps) / (p_rest.sum() + t_rest.sum() + eps)
    return 1.0 - 0.5 * (dice_oil + dice_rest)


def partial_cross_entropy(logits: torch.Tensor, target: torch.Tensor, oil_id: int = OIL.id) -> torch.Tensor:
    """Return the mean over labelled pixels of ``-log sum_{c allowed} p_c``.

    That is the cross-entropy for exact labels and ``-log(1 - p_oil)`` for :data:`NOT_OIL_INDEX`
    pixels (the maximum-likelihood loss of a set-valued label); :data:`IGNORE_INDEX` pixels are
    skipped. Zero (with a gradient) when nothing is labelled.
    """
    num_classes = logits.shape[1]
    log_p = torch.log_softmax(logits.float(), dim=1)
    exact = target < num_classes
    partial = target == NOT_OIL_INDEX
    nll = -log_p.gather(1, torch.where(exact, target, 0).long().unsqueeze(1)).squeeze(1)
    if partial.any():
        rest = [c for c in range(num_classes) if c != oil_id]
        nll_rest = -torch.logsumexp(log_p[:, rest], dim=1)
        nll = torch.where(partial, nll_rest, nll)
    counted = exact | partial
    if not counted.any():
        return logits.sum() * 0.0
    return nll[counted].mean()


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


def retention_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, valid: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Distillation from the frozen starting model (the teacher) on every valid pixel, KL(q_T || p_T) * T^2.

    Learning without Forgetting (Li & Hoiem, TPAMI 2018): the labels must outweigh what the starting
    model said to change a decision, oil included, and what they do not name (look-alikes, ships and land
    under "not oil") keeps the teacher's answer. Distilling only the teacher's split of the rest on "not
    oil" pixels, and leaving oil to the labels, was measured too: the model then lost a quarter of its oil
    recall (bench/results/finetune_binary_held-out_conditioned.json, docs/model.md).
    """
    mask = valid.reshape(teacher_logits.shape[:1] + teacher_logits.shape[2:]).bool()  # (N, H, W) or (N, 1, H, W)
    return kd_loss(student_logits, torch.softmax(teacher_logits.float(), dim=1), temperature, mask)


def segmentation_loss(
    logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor, generated: torch.Tensor, weights: LossWeights
) -> tuple[torch.Tensor, dict[str, float]]:
    """Return the DAKD loss on a mixed batch: ``(1 - s) * (CE + Dice on real) + s * KD on generated``.

    Args:
        logits: (N, C, H, W) student output.
        labels: (N, H, W) hard targets: the label for real samples, argmax of the soft label for
            generated ones; IGNORE_INDEX where unlabelled, NOT_OIL_INDEX where only "not oil" is known.
        soft: (N, C, H, W) soft labels (ignored for real samples).
        generated: (N,) bool, True for generated samples.
        weights: term weights, KD temperature and the generated share ``s`` (:func:`generated_share`).

    Returns:
        The total loss and its terms as floats (for logging), ``share`` included.
    """
    real = ~generated
    zero = logits.sum() * 0.0
    ce, dice, kd = zero, zero, zero
    if real.any():
        ce = partial_cross_entropy(logits[real], labels[real])
        dice = dice_loss(logits[real], labels[real])
        if (labels[real] == NOT_OIL_INDEX).any():  # exact pixels keep the class Dice; oil-vs-rest covers them all
            dice = 0.5 * (dice + oil_vs_rest_dice(logits[real], labels[real]))
    if generated.any():
        gen_mask = labels[generated] != IGNORE_INDEX
        kd = kd_loss(logits[generated], soft[generated], weights.temperature, gen_mask)
    share = generated_share(generated, weights.generated_share)
    total = (1.0 - share) * (weights.ce * ce + weights.dice * dice) + share * weights.kd * kd
    terms = {"ce": float(ce.detach()), "kd": float(kd.detach()), "dice": float(dice.detach()), "share": share}
    return total, terms


def generated_share(generated: torch.Tensor, configured: float | None) -> float:
    """Return the share of a batch's supervision that its generated samples carry.

    0 or 1 when the batch is all of one kind; else ``configured``, or their share of the batch when None.
    """
    count = int(generated.sum())
    if count == 0:
        return 0.0
    if count == generated.numel():
        return 1.0
    return count / generated.numel() if configured is None else float(configured)
