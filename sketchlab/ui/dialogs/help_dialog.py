"""Help (every shortcut, generated from the window's actions) and About (model card data)."""

from __future__ import annotations

import html

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from sketchlab import __version__
from sketchlab.core.model_catalog import ModelInfo

# Input that is not a QAction (so it is not in the action list) but still a shortcut.
POINTER_SHORTCUTS = (
    ("Draw", "Stylus tip or left mouse button; pressure sets width and darkness"),
    ("Erase", "Stylus eraser end (any tool), or the Eraser tool"),
    ("Pan", "Hold Space and drag, or drag with the middle button"),
    ("Zoom", "Mouse wheel (about the cursor)"),
    ("Import", "Drop an image file on the canvas"),
)


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every action that has a shortcut."""
    rows = []
    for a in actions:
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                         for k in a.shortcuts())
        if keys:
            rows.append((a.property("menu") or "", a.text().replace("&", ""), keys))
    return rows


def shortcuts_html(actions: list[QAction]) -> str:
    rows = "".join(f"<tr><td>{html.escape(m)}</td><td>{html.escape(t)}</td>"
                   f"<td><b>{html.escape(k)}</b></td></tr>"
                   for m, t, k in shortcut_rows(actions))
    pointer = "".join(f"<tr><td>Canvas</td><td>{html.escape(a)}</td><td>{html.escape(b)}</td>"
                      "</tr>" for a, b in POINTER_SHORTCUTS)
    return ("<h2>Keyboard and pen shortcuts</h2><table cellpadding='3'>"
            "<tr><th align='left'>Menu</th><th align='left'>Action</th>"
            f"<th align='left'>Keys</th></tr>{rows}{pointer}</table>"
            "<h3>Workflow</h3><ol><li>Draw the face inside the blue guide (eyes on the eye "
            "marks), or import a scanned sketch (Ctrl+I) and correct its alignment.</li>"
            "<li>The synthesized photo updates as you draw.</li><li>Search the gallery "
            "(Ctrl+F). Candidates are <b>investigative leads, not identifications</b>: "
            "every lead needs independent confirmation.</li></ol>")


def about_html(models: list[ModelInfo], loaded: str | None) -> str:
    parts = [f"<h2>SketchLab {html.escape(__version__)}</h2>"
             "<p>Offline face-sketch inversion (after Güçlütürk et al., <i>Convolutional "
             "Sketch Inversion</i>, 2016) and gallery search with dlib face embeddings.</p>"
             "<p>Results are investigative leads, not identifications.</p>"]
    if not models:
        parts.append("<p><b>No model is installed.</b></p>")
    for m in models:
        mark = " (in use)" if m.name == loaded else ""
        c = m.config
        parts.append(f"<h3>{html.escape(m.name)}{mark}</h3><p>{html.escape(m.summary)}</p>"
                     f"<p>Input {c.height}x{c.width}, width {c.base_width}, "
                     f"{c.n_residual} residual blocks, styles: {', '.join(m.styles)}<br>"
                     f"SHA-256 <code>{html.escape(m.sha256[:16])}…</code><br>"
                     f"File: {html.escape(str(m.path))}</p>")
        card = m.card_text()
        if card:
            parts.append(f"<pre style='white-space: pre-wrap'>{html.escape(card)}</pre>")
    return "".join(parts)


class TextDialog(QDialog):
    def __init__(self, title: str, body_html: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        self.text.setHtml(body_html)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(buttons)
        self.resize(640, 560)
