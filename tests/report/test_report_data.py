import shutil
import subprocess
import unicodedata
import zipfile

import pytest
from PIL import Image

from sketchlab.cases.bundle import export_bundle, verify_bundle
from sketchlab.cases.report_data import CAUTION, build_report_data


def test_report_data_picks_latest_work(store, worked_case):
    case = store.get(worked_case)
    data = build_report_data(store, case, store.verify(worked_case))
    assert data.sketch.version == case.latest_inversion.sketch_version == 2
    assert data.source_image and data.input_image and data.photo_image
    assert data.inversion.source_sha256 == data.sketch.image_sha256
    assert len(data.thumbnails) == 6 and data.verified
    assert data.audit_count == 6 and data.audit_head == case.info.audit_head
    assert "not installed" not in data.model_summary or data.inversion.model_name


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_pdf_in_bundle_opens_and_renders(store, worked_case, tmp_path):
    pytest.importorskip("PySide6.QtGui")
    from sketchlab.report.pdf import render_report

    path = export_bundle(store, worked_case, tmp_path / "b.zip", render_pdf=render_report).path
    assert verify_bundle(path).ok
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(zipfile.ZipFile(path).read("report.pdf"))
    assert pdf.read_bytes().startswith(b"%PDF-")
    subprocess.run(["pdftoppm", "-r", "50", "-f", "1", "-l", "1", "-png", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=60)
    page = next(tmp_path.glob("page*.png"))
    with Image.open(page) as im:
        w, h = im.size
        extrema = im.convert("L").getextrema()
    # A4 is 595 x 842 pt: at 50 dpi pdftoppm gives 413-414 x 584-585 pixels
    assert abs(w - 595 / 72 * 50) <= 1 and abs(h - 842 / 72 * 50) <= 1, (w, h)
    assert extrema[0] < 60  # there is ink on the page
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        squashed = " ".join(unicodedata.normalize("NFKC", text).split())  # ligatures
        assert worked_case in squashed
        assert " ".join(CAUTION.split()[:8]) in squashed
        assert "subject-001" in squashed and "Audit trail" in squashed
        head = store.entries(worked_case)[-2].hash  # the export itself came after the report
        assert f"audit head {head[:16]}" in squashed and "page 1 of" in squashed
        assert store.get(worked_case).latest_inversion.model_sha256[:32] in squashed.replace(
            " ", "")


def test_card_summary_keeps_what_a_reader_needs():
    from sketchlab.cases.report_data import card_summary

    card = ("# m\n\nOne-line description.\n\n## Summary\n\n| a | b |\n|---|---|\n| x | y |\n\n"
            "## Command\n\n```\npython -m trainer train\n```\n\n## Evaluation\n\nPSNR 20.1\n\n"
            "## Samples\n\n![s](s.png)\n")
    text = card_summary(card)
    assert "One-line description." in text and "#### Summary" in text and "| x | y |" in text
    assert "PSNR 20.1" in text
    assert "trainer train" not in text and "s.png" not in text and "# m" not in text
