"""Segmentation metrics as in the paper's tables: mIoU, per-class IoU, F1, precision, recall, accuracy.

All come from one confusion matrix accumulated over every labelled pixel of a data set (not
averaged per tile). Per class c, with TP/FP/FN from the matrix::

    IoU_c = TP / (TP + FP + FN)     P_c = TP / (TP + FP)     R_c = TP / (TP + FN)     F1_c = 2 P R / (P + R)

mIoU, F1, precision and recall are the means over classes that occur in the target or the
prediction (a class absent from both is left out, not counted as 0 or 1); accuracy is the pixel
accuracy. The paper does not define its averages; these are the usual ones [I].

Pixels labelled only "not oil" (:data:`~engine.classes.NOT_OIL_INDEX`) have no single class, so the
class confusion skips them; :func:`oil_vs_rest_confusion` scores them as oil against the rest, where
any prediction but oil is right.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch

from engine.classes import IGNORE_INDEX, NOT_OIL_INDEX, OIL, SegClass


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """(C, C) int64 counts, rows = target class, columns = predicted class; ignored and "not oil" pixels skipped."""
    keep = (target != ignore_index) & (target != NOT_OIL_INDEX)
    index = target[keep].long() * num_classes + pred[keep].long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes).cpu()


def oil_vs_rest_confusion(pred: torch.Tensor, target: torch.Tensor, oil_id: int = OIL.id) -> torch.Tensor:
    """(2, 2) counts of not-oil (0) / oil (1) over every labelled pixel, exact or "not oil".

    Predictions and labels are folded the same way: oil is oil, every other class is "not oil".
    """
    labelled = target != IGNORE_INDEX
    binary_target = torch.where(labelled, (target == oil_id).long(), IGNORE_INDEX)
    return confusion_matrix((pred == oil_id).long(), binary_target, 2)


def scores(confusion: np.ndarray | torch.Tensor) -> dict[str, object]:
    """Paper metrics from a confusion matrix; percentages (0-100), NaN for classes not present."""
    matrix = np.asarray(confusion, dtype=np.float64)
    true_pos = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    present = (support + predicted) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(present, true_pos / (support + predicted - true_pos), np.nan)
        precision = np.where(
            present, np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0), np.nan
        )
        recall = np.where(present, np.divide(true_pos, support, out=np.zeros_like(true_pos), where=support > 0), np.nan)
        f1 = np.where(
            present,
            np.divide(
                2 * precision * recall, precision + recall, out=np.zeros_like(true_pos), where=(precision + recall) > 0
            ),
            np.nan,
        )
    total = matrix.sum()

    def mean(values: np.ndarray) -> float:
        return float(np.nanmean(values) * 100) if present.any() else float("nan")

    return {
        "miou": mean(iou),
        "f1": mean(f1),
        "precision": mean(precision),
        "recall": mean(recall),
        "accuracy": float(true_pos.sum() / total * 100) if total else float("nan"),
        "iou": [float(v * 100) for v in iou],
        "class_f1": [float(v * 100) for v in f1],
        "pixels": int(total),
    }


def metrics_table(result: dict[str, object], classes: tuple[SegClass, ...]) -> str:
    """Return a plain-text table in the layout of the paper's tables (mIoU, F1, A, R, P, then per-class IoU)."""
    head = f"{'mIoU':>7} {'F1':>7} {'A':>7} {'R':>7} {'P':>7}"
    row = " ".join(f"{result[k]:7.2f}" for k in ("miou", "f1", "accuracy", "recall", "precision"))
    names = " ".join(f"{c.name:>10}" for c in classes)
    ious = " ".join(f"{v:10.2f}" for v in cast("list[float]", result["iou"]))
    return f"{head}\n{row}\n\nIoU per class\n{names}\n{ious}"
