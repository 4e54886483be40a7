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
