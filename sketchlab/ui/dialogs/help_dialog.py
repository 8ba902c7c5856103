"""Help (every shortcut, generated from the window's actions) and About (model card data)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence, QTextDocument, QTextTable
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from sketchlab import __version__

if TYPE_CHECKING:
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


def _card_body(card: str) -> str:
    """A model card under the About box's model heading: its own title line dropped (the
    heading names the model) and its headings one level down."""
    lines = card.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    out, fenced = [], False
    for ln in lines:
        if ln.startswith("```"):
            fenced = not fenced
        out.append("#" + ln if ln.startswith("#") and not fenced else ln)
    return "\n".join(out)


def _md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_[]<>#|" else ch for ch in text)


def about_markdown(models: list[ModelInfo], loaded: str | None) -> str:
    """The About text as Markdown, which Qt renders natively (model cards are Markdown)."""
    parts = [f"# SketchLab {_md_escape(__version__)}",
             "Offline face-sketch inversion (after Güçlütürk et al., *Convolutional Sketch "
             "Inversion*, 2016) and gallery search with dlib face embeddings.",
             "**Results are investigative leads, not identifications.**"]
    if not models:
        parts.append("**No model is installed.**")
    for m in models:
        mark = " (in use)" if m.name == loaded else ""
        c = m.config
        parts.append(f"## {_md_escape(m.name)}{mark}")
        parts.append(f"Input {c.height}x{c.width}, width {c.base_width}, {c.n_residual} "
                     f"residual blocks, styles: {', '.join(m.styles)}  \n"
                     f"SHA-256 `{m.sha256[:16]}…`  \nFile: `{m.path}`")
        card = m.card_text()
        # The card opens with the summary; print it once, from the card when there is one.
        parts.append(_card_body(card) if card else _md_escape(m.summary))
    return "\n\n".join(parts) + "\n"


def _drop_empty_rows(doc: QTextDocument) -> None:
    """Markdown tables must have a header row; cards without one write an empty row,
    which Qt would show as a blank first line of the table."""
    frames = [doc.rootFrame()]
    while frames:
        f = frames.pop()
        frames.extend(f.childFrames())
        if isinstance(f, QTextTable):
            for row in reversed(range(f.rows())):
                cells = (f.cellAt(row, c) for c in range(f.columns()))
                if all(not _cell_text(cell) for cell in cells):
                    f.removeRows(row, 1)


def _cell_text(cell) -> str:
    cur = cell.firstCursorPosition()
    cur.setPosition(cell.lastCursorPosition().position(), cur.MoveMode.KeepAnchor)
    return cur.selectedText().strip()


class TextDialog(QDialog):
    """Read-only rich text: HTML, or Markdown rendered by Qt itself (tables, code, images
    found in `search_paths`, e.g. a model card's sample sheets)."""

    def __init__(self, title: str, body: str, parent: QWidget | None = None, *,
                 markdown: bool = False, search_paths: list[str] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        if search_paths:
            self.text.setSearchPaths(search_paths)
        if markdown:
            self.text.setMarkdown(body)
            _drop_empty_rows(self.text.document())
        else:
            self.text.setHtml(body)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(buttons)
        self.resize(760, 640)


def about_dialog(models: list[ModelInfo], loaded: str | None,
                 parent: QWidget | None = None) -> TextDialog:
    folders = sorted({str(m.path.parent) for m in models})
    return TextDialog("About SketchLab", about_markdown(models, loaded), parent, markdown=True,
                      search_paths=folders)
