"""The report's model card and audit trail are laid out like its first page: no heading
left at a page's foot, no empty table rows, no raw JSON running off the page, nothing cut
mid-way."""

import dataclasses
import shutil
import subprocess
import unicodedata

import pytest

from sketchlab.cases.report_data import build_report_data, card_summary
from sketchlab.core.model_catalog import list_models

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                reason="poppler-utils not installed")


def _pages(pdf_path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True,
                          text=True, check=True, timeout=60).stdout
    return [unicodedata.normalize("NFKC", p) for p in text.split("\f") if p.strip()]


def test_page_two_with_the_bundled_model_card(store, worked_case, tmp_path):
    pytest.importorskip("PySide6.QtGui")
    from sketchlab.report.pdf import render_report

    card = next(m for m in list_models() if m.name == "sketchlab-default").card_text()
    summary = card_summary(card)
    assert "```" not in summary and '{"fsim"' not in summary
    assert "[... see the full model card]" not in summary
    data = build_report_data(store, store.get(worked_case), store.verify(worked_case))
    data = dataclasses.replace(data, model_summary=summary)
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_report(data))
    pages = _pages(pdf)
    assert len(pages) >= 2
    for page in pages:  # no heading left alone at the foot of a page
        body = [ln for ln in page.splitlines() if ln.strip()][:-1]  # minus the footer
        assert body[-1].strip() not in ("Model", "Summary", "Audit trail"), body[-1]
    text = "\n".join(pages)
    assert '{"fsim"' not in text and "see the full model card]" not in text
    assert "weights" in text and "rank 1" in text
    # no line of page text is wider than the page (A4 at pdftotext's ~ 4.4 chars/cm)
    assert max(len(ln) for p in pages for ln in p.splitlines()) < 160
