"""The case report as a case file needs it: no half-empty pages, every search of the case
in order with its own query images, and nothing from the model card meant for the lab."""

from __future__ import annotations

import numpy as np
import pytest

from sketchlab.cases import GalleryIdentity
from sketchlab.cases.actions import invert_sketch
from sketchlab.cases.report_data import build_report_data, card_summary
from sketchlab.core.model_catalog import list_models
from tests.cases.conftest import candidates, png

pytest.importorskip("PySide6.QtGui")

MM_PER_INCH = 25.4


@pytest.fixture
def two_searches(store, inverter, face_sketch) -> str:
    """A case searched twice, ten candidates each: first the saved sketch, then a
    corrected version of it."""
    n = store.create_case(title="Two searches", witness_description="male, 30s").number
    gallery = GalleryIdentity("/data/gallery.sqlite", "ab" * 32, 606)
    store.add_sketch(n, png(face_sketch), note="first")
    invert_sketch(store, n, inverter)
    store.add_match(n, candidates(10), gallery, 0.6, k=10)
    second = face_sketch.copy()
    second[60:70, 60:140] = 40
    store.add_sketch(n, png(second), note="heavier brow")
    invert_sketch(store, n, inverter)
    store.add_match(n, candidates(10), gallery, 0.6, k=10)
    return n


def _fill(img, scale: float) -> float:
    """How far down the page body the ink goes (0..1), footer and margins left out."""
    dpi = 300 * scale
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    gray = a[:, : img.width() * 4].reshape(img.height(), img.width(), 4)[..., :3].min(axis=2)
    top = round(15 / MM_PER_INCH * dpi)
    bottom = img.height() - round((12 / MM_PER_INCH + 0.3) * dpi)
    rows = np.nonzero((gray[top:bottom] < 200).any(axis=1))[0]
    return 0.0 if rows.size == 0 else (rows[-1] + 1) / (bottom - top)


def test_no_page_but_the_last_is_less_than_a_third_full(store, two_searches):
    from sketchlab.report.pdf import render_report_pages

    card = next(m for m in list_models() if m.name == "sketchlab-default").card_text()
    data = build_report_data(store, store.get(two_searches), store.verify(two_searches))
    import dataclasses

    data = dataclasses.replace(data, model_summary=card_summary(card))
    pages = render_report_pages(data, scale=0.25)
    fills = [_fill(p, 0.25) for p in pages]
    assert len(pages) >= 2
    assert all(f >= 1 / 3 for f in fills[:-1]), [f"{f:.0%}" for f in fills]
    assert fills[-1] > 0


def test_every_search_in_order_with_its_own_query_images(store, two_searches):
    from PySide6.QtGui import QTextDocument

    from sketchlab.report.pdf import report_html

    case = store.get(two_searches)
    data = build_report_data(store, case, store.verify(two_searches))
    assert [s.match.number for s in data.searches] == [1, 2]
    doc = QTextDocument()
    html = report_html(doc, data)
    first, second = html.index("Search 1 of 2"), html.index("Search 2 of 2")
    assert first < second
    for i, s in enumerate(data.searches, start=1):
        inv = case.inversion(s.match.inversions[0])
        assert s.inversion == inv and s.sketch.version == i  # its own query, its version
        at = html.index(inv.photo_sha256)
        assert (first < at < second) if i == 1 else at > second
        assert f'src="img://s{i}-photo"' in html and f'src="img://s{i}-source"' in html
    assert data.searches[0].photo_image != data.searches[1].photo_image


def test_report_card_has_no_lab_notes():
    card = next(m for m in list_models() if m.name == "sketchlab-default").card_text()
    text = card_summary(card)
    for lab in ("cpu_bf16", "next CPU run", "STACK-NOTES", "Targets (issue", "python -m"):
        assert lab not in text, lab
    assert "rank 1" in text or "rank-1" in text  # how well it does is kept


def test_a_heading_that_moves_takes_its_table_along(qapp):
    """A heading in the last fifth of a page with a paragraph and a table under it that
    would cross the break: the heading moves to the next page and the table follows it
    there, not on to a page of its own (deciding on the table first did that)."""
    from PySide6.QtCore import QSizeF
    from PySide6.QtGui import QTextCursor, QTextDocument

    from sketchlab.report.pdf import keep_together

    page = QSizeF(400, 600)
    doc = QTextDocument()
    doc.setPageSize(page)
    filler = "".join(f"<p>line {i}</p>" for i in range(200))
    rows = "".join(f"<tr><td>{i}</td><td>entry</td></tr>" for i in range(8))
    doc.setHtml(f"<html><body>{filler}<h2>Audit trail</h2><p>seven entries</p>"
                f"<table>{rows}</table></body></html>")
    layout = doc.documentLayout()
    heading = next(b for b in _blocks(doc) if b.text() == "Audit trail")
    table = doc.rootFrame().childFrames()[0]
    # drop filler lines until the heading sits in the last fifth and the table crosses
    while not (600 - layout.blockBoundingRect(heading).top() % 600 < 0.2 * 600
               and int(layout.frameBoundingRect(table).top() // 600)
               != int((layout.frameBoundingRect(table).bottom() - 1) // 600)):
        c = QTextCursor(doc.begin())
        c.select(QTextCursor.SelectionType.BlockUnderCursor)
        c.movePosition(QTextCursor.MoveOperation.NextBlock, QTextCursor.MoveMode.KeepAnchor)
        c.removeSelectedText()
        doc.pageCount()
        assert doc.begin().text().startswith("line"), "no arrangement found"
    keep_together(doc, page.height())
    h_page = int(layout.blockBoundingRect(heading).top() // 600)
    t_page = int(layout.frameBoundingRect(table).top() // 600)
    assert t_page == h_page == int((layout.frameBoundingRect(table).bottom() - 1) // 600)


def _blocks(doc):
    b = doc.begin()
    while b.isValid():
        yield b
        b = b.next()
