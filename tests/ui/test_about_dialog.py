"""Help > About renders the model card as formatted text, not raw Markdown."""

from __future__ import annotations

from PySide6.QtGui import QTextTable

from sketchlab.core.model_catalog import describe, list_models
from sketchlab.ui.dialogs.help_dialog import about_dialog


def _tables(doc) -> list[QTextTable]:
    found, frames = [], [doc.rootFrame()]
    while frames:
        f = frames.pop()
        if isinstance(f, QTextTable):
            found.append(f)
        frames.extend(f.childFrames())
    return found


def test_about_renders_the_bundled_card_as_rich_text(qtbot):
    models = [m for m in list_models() if m.name == "sketchlab-default"]
    assert models and models[0].card is not None, "the bundled model and its card"
    m = models[0]
    dlg = about_dialog(models, loaded=m.name)
    qtbot.addWidget(dlg)
    dlg.show()
    doc = dlg.text.document()
    plain = doc.toPlainText()
    # no Markdown syntax left on screen
    assert "|---|" not in plain and "| --- |" not in plain
    assert "\n#" not in plain and not plain.startswith("#")
    assert "`" not in plain and "**" not in plain and "![" not in plain
    # headings and tables are real ones
    assert "sketchlab-default (in use)" in plain and "Training data" in plain
    tables = _tables(doc)
    assert len(tables) >= 3
    # no table opens with an empty row (the Summary table's blank Markdown header)
    firsts = {t.cellAt(0, 0).firstCursorPosition().block().text() for t in tables}
    assert "" not in firsts and "weights" in firsts
    # the summary once, not twice
    first_sentence = m.summary.split(".")[0]
    assert plain.count(first_sentence) == 1
    # the card's sample sheets resolve from the models folder
    assert str(m.path.parent) in dlg.text.searchPaths()


def test_about_without_a_card_shows_the_summary(qtbot, tiny_model):
    info = describe(tiny_model)
    dlg = about_dialog([info], loaded=None)
    qtbot.addWidget(dlg)
    plain = dlg.text.document().toPlainText()
    assert "test model" in plain and "tiny" in plain and "(in use)" not in plain


def test_the_bundled_card_reads_without_scrolling_sideways(qtbot):
    """At the size the About dialog opens, every table and figure of the bundled card fits
    its width: a reader scrolls down, never sideways."""
    models = [m for m in list_models() if m.name == "sketchlab-default"]
    dlg = about_dialog(models, loaded=models[0].name)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    assert dlg.text.horizontalScrollBar().maximum() == 0
