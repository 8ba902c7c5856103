"""Draw the SketchLab application icon with QPainter and write resources/icons/*.png + .svg.

Run once after changing the design: `python tools/make_icons.py`. The PNGs are
committed, so the app needs nothing at run time;
sketchlab.svg is for the .desktop file. The motif: a pencil-drawn face outline
on paper turning, on its right half, into a shaded photo-like face.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QLinearGradient, QPainter, QPainterPath, QPen
from PySide6.QtSvg import QSvgGenerator

OUT = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def draw(p: QPainter, s: float) -> None:
    """Paint the icon in a square of side s."""
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    r = s * 0.18
    bg = QLinearGradient(0, 0, s, s)
    bg.setColorAt(0, QColor(44, 62, 92))
    bg.setColorAt(1, QColor(22, 30, 46))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QBrush(bg))
    p.drawRoundedRect(QRectF(s * 0.03, s * 0.03, s * 0.94, s * 0.94), r, r)
    # Paper card.
    paper = QRectF(s * 0.17, s * 0.12, s * 0.66, s * 0.78)
    p.setBrush(QColor(246, 243, 236))
    p.drawRoundedRect(paper, s * 0.04, s * 0.04)
    # Right half of the face: shaded, "photo".
    face = QRectF(s * 0.29, s * 0.22, s * 0.42, s * 0.54)
    clip = QPainterPath()
    clip.addRect(QRectF(s * 0.5, 0, s * 0.5, s))
    p.save()
    p.setClipPath(clip)
    skin = QLinearGradient(face.left(), 0, face.right(), 0)
    skin.setColorAt(0, QColor(226, 180, 150))
    skin.setColorAt(1, QColor(160, 112, 88))
    p.setBrush(QBrush(skin))
    p.drawEllipse(face)
    p.setBrush(QColor(62, 44, 36))
    hair = QPainterPath()
    hair.moveTo(face.left(), face.top() + face.height() * 0.38)
    hair.cubicTo(face.left(), face.top() - s * 0.05, face.right(), face.top() - s * 0.05,
                 face.right(), face.top() + face.height() * 0.38)
    hair.cubicTo(face.right() - s * 0.05, face.top() + s * 0.05,
                 face.left() + s * 0.05, face.top() + s * 0.05,
                 face.left(), face.top() + face.height() * 0.38)
    p.drawPath(hair)
    p.setBrush(QColor(40, 30, 26))
    p.drawEllipse(QPointF(s * 0.585, s * 0.48), s * 0.028, s * 0.018)
    p.restore()
    # Left half: pencil lines.
    p.save()
    clip2 = QPainterPath()
    clip2.addRect(QRectF(0, 0, s * 0.5, s))
    p.setClipPath(clip2)
    pen = QPen(QColor(50, 50, 56), max(1.0, s * 0.022))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawEllipse(face)
    p.drawArc(QRectF(s * 0.37, s * 0.455, s * 0.09, s * 0.05), 0, 180 * 16)
    p.drawLine(QPointF(s * 0.5, s * 0.5), QPointF(s * 0.475, s * 0.6))
    p.drawArc(QRectF(s * 0.42, s * 0.62, s * 0.16, s * 0.06), 200 * 16, 140 * 16)
    hatch = QPen(QColor(90, 90, 96), max(0.6, s * 0.008))
    p.setPen(hatch)
    for i in range(5):
        x = s * (0.31 + 0.03 * i)
        p.drawLine(QPointF(x, s * 0.3), QPointF(x + s * 0.05, s * 0.24))
    p.restore()
    # Split line and magnifier: the search.
    p.setPen(QPen(QColor(40, 140, 220), max(1.0, s * 0.014), Qt.PenStyle.DashLine))
    p.drawLine(QPointF(s * 0.5, s * 0.16), QPointF(s * 0.5, s * 0.86))
    p.setPen(QPen(QColor(255, 196, 60), max(1.5, s * 0.045)))
    p.setBrush(QColor(255, 255, 255, 60))
    p.drawEllipse(QPointF(s * 0.70, s * 0.72), s * 0.11, s * 0.11)
    p.drawLine(QPointF(s * 0.78, s * 0.80), QPointF(s * 0.88, s * 0.90))


def main() -> int:
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    OUT.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        img = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        img.fill(Qt.GlobalColor.transparent)
        p = QPainter(img)
        draw(p, float(size))
        p.end()
        img.save(str(OUT / f"sketchlab-{size}.png"))
    svg = QSvgGenerator()
    svg.setFileName(str(OUT / "sketchlab.svg"))
    svg.setSize(QSize(256, 256))
    svg.setViewBox(QRectF(0, 0, 256, 256))
    svg.setTitle("SketchLab")
    p = QPainter(svg)
    draw(p, 256.0)
    p.end()
    del app
    print(f"wrote {len(SIZES)} icons to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
