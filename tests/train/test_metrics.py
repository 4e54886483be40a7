import math

import numpy as np
import torch

from engine.classes import BINARY_CLASSES, IGNORE_INDEX
from engine.train.metrics import confusion_matrix, metrics_table, scores


def test_scores_by_hand() -> None:
    target = torch.tensor([0, 0, 0, 1, 1, 2, IGNORE_INDEX])
    pred = torch.tensor([0, 0, 1, 1, 0, 0, 1])
    matrix = confusion_matrix(pred, target, 4)
    np.testing.assert_array_equal(matrix.numpy(), [[2, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    result = scores(matrix)
    # sea: TP 2, FP 2, FN 1 -> IoU 2/5; oil: TP 1, FP 1, FN 1 -> 1/3; look-alike: 0; class 3 absent -> NaN
    assert math.isclose(result["iou"][0], 40.0) and math.isclose(result["iou"][1], 100 / 3)
    assert result["iou"][2] == 0.0 and math.isnan(result["iou"][3])
    assert math.isclose(result["miou"], (40 + 100 / 3 + 0) / 3)
    assert math.isclose(result["accuracy"], 3 / 6 * 100)
    assert math.isclose(result["precision"], (50 + 50 + 0) / 3)
    assert math.isclose(result["recall"], (200 / 3 + 50 + 0) / 3)
    assert result["pixels"] == 6


def test_table_has_the_paper_columns() -> None:
    result = scores(np.array([[5, 0], [0, 5]]))
    table = metrics_table(result, BINARY_CLASSES)
    assert "mIoU" in table and "100.00" in table and "oil" in table


def test_not_oil_pixels_are_scored_as_oil_vs_rest_never_as_sea() -> None:
    from engine.classes import NOT_OIL_INDEX
    from engine.train.metrics import oil_vs_rest_confusion

    target = torch.tensor([NOT_OIL_INDEX, NOT_OIL_INDEX, NOT_OIL_INDEX, 1, 1, 2, IGNORE_INDEX])
    pred = torch.tensor([2, 0, 1, 1, 3, 2, 1])
    # the class confusion leaves "not oil" out: it is no single class
    assert confusion_matrix(pred, target, 5).sum() == 3
    # look-alike and sea predicted on "not oil" are both right; oil there is a false alarm
    np.testing.assert_array_equal(oil_vs_rest_confusion(pred, target).numpy(), [[3, 1], [1, 1]])
