"""A small live line plot (loss and validation mIoU over training steps), drawn with QPainter.

Drawn by hand instead of with matplotlib so the dialog has no plotting dependency and repaints
cheaply at every progress event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qgis.PyQt.QtCore import QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QPainter, QPainterPath, QPen
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget

from ..translation import tr


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
    TOP = 10
    #: Text lines under the frame: the step labels and a legend of up to two lines.
    BOTTOM_LINES = 3
    #: Share of the left axis's range kept free above the highest and below the lowest point.
    HEADROOM = 0.08

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

    def y_range(self) -> tuple[float, float]:
        """Return the left axis's range: the left curves' finite values, with room above and below."""
        left = [
            y for series in self.series.values() if series.axis == "left" for _x, y in series.points if math.isfinite(y)
        ]
        y_min, y_max = (min(left), max(left)) if left else (0.0, 1.0)
        if y_max - y_min < 1e-9:
            y_min, y_max = y_min - 0.5, y_max + 0.5
        pad = (y_max - y_min) * self.HEADROOM
        return y_min - pad, y_max + pad

    def plot_area(self) -> QRectF:
        """Return where the curves are drawn (inside the axes' frame)."""
        bottom = self.BOTTOM_LINES * self.fontMetrics().height() + 6
        return QRectF(
            self.MARGIN, self.TOP, max(1.0, self.width() - 2 * self.MARGIN), max(1.0, self.height() - self.TOP - bottom)
        )

    def paintEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        """Axes, legend and curves; the curves never leave the frame."""
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor("white"))
        area = self.plot_area()
        painter.setPen(QPen(QColor("#888888"), 1))
        painter.drawRect(area)
        points = [p for s in self.series.values() for p in s.points if math.isfinite(p[0]) and math.isfinite(p[1])]
        if not points:
            painter.drawText(area, Qt.AlignCenter | Qt.TextWordWrap, tr("The curves appear when training starts."))
            painter.end()
            return
        x_min, x_max = min(p[0] for p in points), max(p[0] for p in points)
        y_min, y_max = self.y_range()
        x_span = max(x_max - x_min, 1e-9)
        metrics = painter.fontMetrics()
        line = metrics.height()
        painter.drawText(QRectF(area.left(), area.bottom() + 2, area.width() / 2, line), Qt.AlignLeft, f"{x_min:g}")
        painter.drawText(
            QRectF(area.center().x(), area.bottom() + 2, area.width() / 2, line),
            Qt.AlignRight,
            tr("step {step}").format(step=f"{x_max:g}"),
        )
        painter.drawText(QRectF(0, area.top(), self.MARGIN - 3, line), Qt.AlignRight | Qt.AlignTop, f"{y_max:.3g}")
        painter.drawText(
            QRectF(0, area.bottom() - line, self.MARGIN - 3, line), Qt.AlignRight | Qt.AlignBottom, f"{y_min:.3g}"
        )
        painter.drawText(
            QRectF(area.right() + 3, area.top(), self.MARGIN, line), Qt.AlignLeft, f"{self.right_range[1]:g}"
        )
        painter.drawText(
            QRectF(area.right() + 3, area.bottom() - line, self.MARGIN, line), Qt.AlignLeft, f"{self.right_range[0]:g}"
        )
        legend_x, legend_y = area.left(), area.bottom() + 2 + line
        painter.save()
        painter.setClipRect(area.adjusted(-1, -1, 1, 1))
        for series in self.series.values():
            low, high = (y_min, y_max) if series.axis == "left" else self.right_range
            painter.setPen(QPen(series.colour, 2))
            path = QPainterPath()
            finite = [(x, y) for x, y in series.points if math.isfinite(x) and math.isfinite(y)]
            for index, (x, y) in enumerate(finite):
                point = QPointF(
                    area.left() + (x - x_min) / x_span * area.width(),
                    area.bottom() - (y - low) / max(high - low, 1e-9) * area.height(),
                )
                if index == 0:
                    path.moveTo(point)
                else:
                    path.lineTo(point)
            if len(finite) == 1:
                painter.drawEllipse(path.currentPosition(), 2, 2)
            painter.drawPath(path)
        painter.restore()
        for series in self.series.values():  # the legend wraps to a second line rather than run off the side
            text = f"— {series.label}"
            width = metrics.horizontalAdvance(text) + 12
            if legend_x > area.left() and legend_x + width > area.right():
                legend_x, legend_y = area.left(), legend_y + line
            painter.setPen(QPen(series.colour, 2))
            painter.drawText(QRectF(legend_x, legend_y, width, line), Qt.AlignLeft, text)
            legend_x += width
        painter.end()
