"""Toolbar icons: the desktop's icon theme when it has one, else simple line drawings.

The drawings use the palette's text colour, so they fit light and dark themes alike and
keep a first-time user from guessing what a floppy disk means for "copy".
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QIcon,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

_THEME = {
    "add": "list-add",
    "remove": "list-remove",
    "edit": "document-edit",
    "add-folder": "folder-new",
    "refresh": "view-refresh",
    "move": "folder-move",
    "copy": "edit-copy",
    "tag": "tag",
    "undo": "edit-undo",
    "settings": "preferences-system",
}


def _folder(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(6, 18)
    path.lineTo(6, 12)
    path.lineTo(24, 12)
    path.lineTo(29, 18)
    path.lineTo(58, 18)
    path.lineTo(58, 52)
    path.lineTo(6, 52)
    path.closeSubpath()
    p.drawPath(path)


def _add_folder(p: QPainter) -> None:
    _folder(p)
    p.drawLine(QPointF(32, 26), QPointF(32, 44))
    p.drawLine(QPointF(23, 35), QPointF(41, 35))


def _move(p: QPainter) -> None:
    _folder(p)
    p.drawLine(QPointF(20, 35), QPointF(42, 35))
    p.drawPolyline([QPointF(35, 28), QPointF(43, 35), QPointF(35, 42)])


def _copy(p: QPainter) -> None:
    p.drawPolyline([QPointF(16, 44), QPointF(8, 44), QPointF(8, 6), QPointF(38, 6),
                    QPointF(38, 14)])  # fmt: skip
    p.drawRoundedRect(QRectF(22, 18, 32, 40), 3, 3)


def _tag(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(8, 10)
    path.lineTo(30, 10)
    path.lineTo(56, 36)
    path.lineTo(34, 58)
    path.lineTo(8, 32)
    path.closeSubpath()
    p.drawPath(path)
    p.drawEllipse(QPointF(19, 21), 4, 4)


def _undo(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(14, 28)
    path.lineTo(40, 28)
    path.cubicTo(62, 28, 62, 54, 40, 54)
    path.lineTo(24, 54)
    p.drawPath(path)
    p.drawPolyline([QPointF(24, 18), QPointF(13, 28), QPointF(24, 38)])


def _refresh(p: QPainter) -> None:
    p.drawArc(QRectF(12, 12, 40, 40), 30 * 16, 300 * 16)
    end = QPointF(32 + 20 * math.cos(math.radians(30)), 32 - 20 * math.sin(math.radians(30)))
    p.drawPolyline([end + QPointF(-10, -4), end, end + QPointF(2, -11)])


def _settings(p: QPainter) -> None:
    path = QPainterPath()
    teeth = 8
    for i in range(teeth * 2):
        angle = math.pi * i / teeth
        r = 25 if i % 2 == 0 else 19
        for delta in (-0.16, 0.16):
            pt = QPointF(32 + r * math.cos(angle + delta), 32 + r * math.sin(angle + delta))
            if path.elementCount() == 0:
                path.moveTo(pt)
            else:
                path.lineTo(pt)
    path.closeSubpath()
    p.drawPath(path)
    p.drawEllipse(QPointF(32, 32), 7, 7)


def _add(p: QPainter) -> None:
    p.drawLine(QPointF(32, 12), QPointF(32, 52))
    p.drawLine(QPointF(12, 32), QPointF(52, 32))


def _remove(p: QPainter) -> None:
    p.drawLine(QPointF(12, 32), QPointF(52, 32))


def _edit(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(14, 50)
    path.lineTo(17, 38)
    path.lineTo(42, 13)
    path.lineTo(51, 22)
    path.lineTo(26, 47)
    path.closeSubpath()
    p.drawPath(path)
    p.drawLine(QPointF(36, 19), QPointF(45, 28))


def _eye(p: QPainter) -> None:
    path = QPainterPath()
    path.moveTo(6, 32)
    path.cubicTo(18, 14, 46, 14, 58, 32)
    path.cubicTo(46, 50, 18, 50, 6, 32)
    p.drawPath(path)
    p.drawEllipse(QPointF(32, 32), 8, 8)


def _eye_off(p: QPainter) -> None:
    _eye(p)
    p.drawLine(QPointF(12, 54), QPointF(52, 10))


_DRAW: dict[str, Callable[[QPainter], None]] = {
    "add": _add,
    "remove": _remove,
    "edit": _edit,
    "add-folder": _add_folder,
    "refresh": _refresh,
    "move": _move,
    "copy": _copy,
    "tag": _tag,
    "undo": _undo,
    "settings": _settings,
    "eye": _eye,
    "eye-off": _eye_off,
}


def _drawn(name: str, colour: QColor) -> QIcon:
    icon = QIcon()
    for mode, alpha in ((QIcon.Mode.Normal, 255), (QIcon.Mode.Disabled, 90)):
        pixmap = QPixmap(64, 64)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen_colour = QColor(colour)
        pen_colour.setAlphaF(colour.alphaF() * alpha / 255)
        pen = QPen(pen_colour, 4.5)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        _DRAW[name](painter)
        painter.end()
        icon.addPixmap(pixmap, mode)
    return icon


def watch_icon(watching: bool, selected: bool = False) -> QIcon:
    """The eye of a watched folder (in the accent colour), or a faint crossed-out eye."""
    palette = QGuiApplication.palette()
    text = palette.highlightedText() if selected else palette.windowText()
    if watching:
        return _drawn("eye", text.color() if selected else palette.highlight().color())
    faint = QColor(text.color())
    faint.setAlpha(110)
    return _drawn("eye-off", faint)


def icon(name: str) -> QIcon:
    """The themed icon for `name` (see _THEME), or a drawn one."""
    themed = _THEME.get(name)
    if themed and QIcon.hasThemeIcon(themed):
        return QIcon.fromTheme(themed)
    colour = QGuiApplication.palette().windowText().color()
    return _drawn(name, colour)


def paint_focus(painter: QPainter, option: QStyleOptionViewItem) -> None:
    """A visible keyboard-focus frame round a list row (Fusion and others draw none)."""
    if not option.state & QStyle.StateFlag.State_HasFocus:
        return
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = option.palette.color(QPalette.ColorRole.Highlight)
    painter.setPen(QPen(colour.darker(140), 1.5, Qt.PenStyle.DashLine))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRoundedRect(QRectF(option.rect).adjusted(2, 2, -2, -2), 4, 4)
    painter.restore()
