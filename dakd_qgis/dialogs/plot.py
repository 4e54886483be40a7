"""A small live line plot (loss and validation mIoU over training steps), drawn with QPainter.

Drawn by hand instead of with matplotlib so the dialog has no plotting dependency and repaints
cheaply at every progress event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qgis.PyQt.QtCore import QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QPainter, QPainterPath, QPen
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget


@dataclass
class Series:
    """One curve: its label, colour, the y axis it uses (``left`` or ``right``) and its points."""

    label: str
    colour: QColor
    axis: str = "left"
    points: list[tuple[float, float]] = field(default_factory=list)


class LivePlot(QWidget):
    """Curves sharing an x axis (step); the left axis auto-scales, the right one is fixed (mIoU in %)."""

    MARGIN = 52
    BOTTOM = 36

    def __init__(self, parent: QWidget | None = None, right_range: tuple[float, float] = (0.0, 100.0)) -> None:
        super().__init__(parent)
        self.series: dict[str, Series] = {}
        self.right_range = right_range
        self.setMinimumSize(320, 160)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def add_series(self, key: str, label: str, colour: str, axis: str = "left") -> None:
        """Declare a curve (``axis="right"`` for values on the fixed right axis, such as mIoU in %)."""
        self.series[key] = Series(label, QColor(colour), axis)

    def add_point(self, key: str, x: float, y: float) -> None:
        """Append a point and repaint."""
        self.series[key].points.append((float(x), float(y)))
        self.update()

    def clear(self) -> None:
        """Remove all points (keeps the curves)."""
        for series in self.series.values():
            series.points.clear()
        self.update()

    def point_count(self, key: str) -> int:
        """Count the points of a curve."""
        return len(self.series[key].points)

    def paintEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        """Axes, legend and curves."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor("white"))
        area = QRectF(self.MARGIN, 10, self.width() - 2 * self.MARGIN, self.height() - 10 - self.BOTTOM)
        painter.setPen(QPen(QColor("#888888"), 1))
        painter.drawRect(area)
        points = [p for s in self.series.values() for p in s.points]
        if not points:
            painter.drawText(area, Qt.AlignCenter, "The curves appear when training starts.")
            painter.end()
            return
        x_min, x_max = min(p[0] for p in points), max(p[0] for p in points)
        left = [p[1] for s in self.series.values() if s.axis == "left" for p in s.points]
        y_min, y_max = (min(left), max(left)) if left else (0.0, 1.0)
        if y_max - y_min < 1e-9:
            y_min, y_max = y_min - 0.5, y_max + 0.5
        x_span = max(x_max - x_min, 1e-9)
        painter.drawText(QRectF(0, area.bottom() + 2, self.MARGIN * 2, 14), Qt.AlignLeft, f"{x_min:g}")
        painter.drawText(QRectF(area.right() - self.MARGIN, area.bottom() + 2, self.MARGIN * 2, 14), Qt.AlignRight,
                         f"step {x_max:g}")
        painter.drawText(QRectF(0, area.top(), self.MARGIN - 3, 18), Qt.AlignRight | Qt.AlignTop, f"{y_max:.3g}")
        painter.drawText(QRectF(0, area.bottom() - 18, self.MARGIN - 3, 18), Qt.AlignRight | Qt.AlignBottom,
                         f"{y_min:.3g}")
        painter.drawText(QRectF(area.right() + 3, area.top(), self.MARGIN, 14), Qt.AlignLeft,
                         f"{self.right_range[1]:g}")
        painter.drawText(QRectF(area.right() + 3, area.bottom() - 14, self.MARGIN, 14), Qt.AlignLeft,
                         f"{self.right_range[0]:g}")
        legend_x = area.left() + 6
        for series in self.series.values():
            low, high = (y_min, y_max) if series.axis == "left" else self.right_range
            painter.setPen(QPen(series.colour, 2))
            path = QPainterPath()
            for index, (x, y) in enumerate(series.points):
                point = QPointF(area.left() + (x - x_min) / x_span * area.width(),
                                area.bottom() - (y - low) / max(high - low, 1e-9) * area.height())
                if index == 0:
                    path.moveTo(point)
                else:
                    path.lineTo(point)
            if len(series.points) == 1:
                painter.drawEllipse(path.currentPosition(), 2, 2)
            painter.drawPath(path)
            painter.drawText(QRectF(legend_x, area.bottom() + 18, 170, 16), Qt.AlignLeft, f"— {series.label}")
            legend_x += 170
        painter.end()
