"""Render a case report (ReportData) to PDF bytes with Qt's QTextDocument and QPdfWriter.

Qt is already a dependency, lays out Unicode text with the system's fonts (names and
witness statements are not always Latin-1), paginates HTML tables, and runs offscreen;
so no PDF library is added. The only Qt module in the report path; the CLI imports it
lazily, and it starts an offscreen QGuiApplication when the process has none.
"""

from __future__ import annotations

import html
import logging
import os
import re
from datetime import datetime

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSizeF, Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextBlock,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextFrame,
)

from sketchlab.cases.report_data import ReportData, SearchReport
from sketchlab.core.pipeline import NOTHING_PASSES

log = logging.getLogger(__name__)

_app: QGuiApplication | None = None
_EMPTY_ROW = re.compile(r"<tr>\s*(?:<t[dh][^>]*>\s*(?:<p[^>]*>\s*(?:<br\s*/?>)?\s*</p>)?\s*"
                        r"</t[dh]>\s*)+</tr>")
_RES = 300  # PDF writer resolution (dpi)
_IMG_W = 150  # points for the sketch and photo, side by side, leaving room for candidates
_THUMB_W = 64
_THUMB_H = 80
_GRID_COLS = 5
_CSS = """
body { font-family: 'DejaVu Sans', sans-serif; font-size: 9pt; color: #111; }
h1 { font-size: 15pt; margin: 0; }
h2 { font-size: 11pt; margin-top: 6px; margin-bottom: 2px; color: #223; }
h3 { font-size: 9.5pt; margin-top: 4px; margin-bottom: 2px; color: #223; }
td, th { padding: 2px 4px; vertical-align: top; }
th { background: #e8eaf0; text-align: left; }
.meta td { padding: 1px 6px 1px 0; }
.caution { background: #fff3cd; border: 1px solid #c9a227; padding: 4px; font-size: 8.5pt; }
.small { font-size: 7.5pt; color: #444; }
.cand { font-size: 7.5pt; }
.mono { font-family: 'DejaVu Sans Mono', monospace; font-size: 7.5pt; }
.ok { color: #0a6b2d; font-weight: bold; }
.bad { color: #a40000; font-weight: bold; }
"""


def _ensure_app() -> None:
    """QTextDocument needs a Qt application for fonts; make an offscreen one if absent.

    A QApplication (not just a QGuiApplication): the process may show widgets later
    (tests, or the app itself), and Qt cannot upgrade a QGuiApplication to one.
    """
    global _app
    if QGuiApplication.instance() is not None:
        return
    from PySide6.QtWidgets import QApplication

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QApplication(["sketchlab-report"])


def _e(text: object) -> str:
    return html.escape(str(text if text is not None else ""))


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso


def _add_image(doc: QTextDocument, name: str, data: bytes | None) -> tuple[int, int] | None:
    if not data:
        return None
    img = QImage.fromData(QByteArray(data))
    if img.isNull():
        log.warning("report: image %s could not be decoded", name)
        return None
    doc.addResource(QTextDocument.ResourceType.ImageResource, QUrl(f"img://{name}"), img)
    return img.width(), img.height()


def _img_tag(doc: QTextDocument, name: str, data: bytes | None, width: int,
             height: int | None = None) -> str:
    """An image `width` wide, or fitted inside width x height, aspect kept."""
    size = _add_image(doc, name, data)
    if size is None:
        return "<i>(no image)</i>"
    w, h = size
    scale = width / max(w, 1)
    if height is not None:
        scale = min(scale, height / max(h, 1))
    # Qt sizes <img> in CSS pixels (1/96 inch) and scales them to the PDF writer's dpi.
    px = 96.0 / 72.0
    return (f'<img src="img://{name}" width="{round(w * scale * px)}" '
            f'height="{round(h * scale * px)}">')


def _header(r: ReportData) -> str:
    i = r.case.info
    rows = [("Case", f"<b>{_e(i.number)}</b> &nbsp; {_e(i.title)} &nbsp; [{_e(i.status)}]"),
            ("People", f"artist {_e(i.artist) or '–'}; investigator {_e(i.investigator) or '–'}"),
            ("Dates", f"opened {_when(i.created_at)} by {_e(i.created_by)}; last activity "
                      f"{_when(i.updated_at)}"),
            ("Witness", _e(i.witness_description) or "<i>no description recorded</i>")]
    return ("<h1>SketchLab case report</h1><table class='meta'>"
            + "".join(f"<tr><td><b>{k}</b></td><td>{v}</td></tr>" for k, v in rows)
            + "</table>")


def _pair(doc: QTextDocument, r: ReportData | SearchReport, key: str = "",
          title: str = "<h2>Sketch and synthesized photo</h2>") -> str:
    """The exact images of one search's inversion, each captioned with its own hash: the
    image it consumed, the network input made from it, and the synthesized photo. `key`
    keeps each search's images apart in the document."""
    inv, s = r.inversion, r.sketch
    if inv is None:
        return f"{title}<p><i>No inversion recorded.</i></p>"
    when = f"{_when(inv.created_at)}, {_e(inv.author)}"
    if s is not None:
        saved = (f"Saved sketch version {s.version}, {_when(s.created_at)}, {_e(s.author)}"
                 + (f"<br>Note: {_e(s.note)}" if s.note else ""))
        if inv.source_sha256 is not None and inv.source_sha256 != s.image_sha256:
            saved += (f"<br>Same picture as the version's file <span class='mono'>SHA-256 "
                      f"{s.image_sha256}</span>")
    else:
        saved = ("<b>The canvas as drawn at the time; never saved as a sketch version.</b>")
    cols: list[tuple[str, str]] = []
    if inv.source_sha256 is not None:
        cols.append((_img_tag(doc, f"{key}source", r.source_image, _IMG_W * 2 // 3),
                     f"Image inverted ({when})<br>{saved}<br><span class='mono'>SHA-256 "
                     f"{inv.source_sha256}</span>"))
    else:  # recorded before the consumed image was kept: the network input is exact
        cols.append((_img_tag(doc, f"{key}input", r.input_image, _IMG_W * 2 // 3),
                     "Network input as inverted. Recorded by an older SketchLab as of "
                     f"sketch version {inv.sketch_version}.<br><span class='mono'>SHA-256 "
                     f"{inv.input_sha256 or 'not recorded'}</span>"))
    if inv.source_sha256 is not None and r.input_image is not None:
        variant = ", a variant" if inv.variant else ""
        cols.append((_img_tag(doc, f"{key}input", r.input_image, _IMG_W * 2 // 3),
                     f"Network input (aligned{variant})<br><span class='mono'>SHA-256 "
                     f"{inv.input_sha256}</span>"))
    cols.append((_img_tag(doc, f"{key}photo", r.photo_image, _IMG_W * 2 // 3),
                 f"Inversion {inv.number}: {_e(inv.model_name)} on {_e(inv.device)}"
                 + (f", {inv.ms:.0f} ms" if inv.ms is not None else "")
                 + f"<br><span class='mono'>SHA-256 {inv.photo_sha256}</span>"))
    width = 100 // len(cols)
    html_ = (f"{title}<table width='100%'><tr>"
             + "".join(f"<td width='{width}%' align='center'>{img}</td>" for img, _ in cols)
             + "</tr><tr>"
             + "".join(f"<td class='small'>{cap}</td>" for _, cap in cols) + "</tr></table>")
    if r.variants:
        cells = "".join(
            f"<td align='center' class='cand'>"
            f"{_img_tag(doc, f'{key}variant{v.number}', data, _THUMB_W, height=_THUMB_H)}<br>"
            f"inversion {v.number}<br><span class='mono'>{v.photo_sha256[:12]}</span></td>"
            for v, data in r.variants)
        html_ += (f"<p class='small'>The search also used {len(r.variants)} more photos "
                  "(variants of the same image, each recorded with its own input):</p>"
                  f"<table><tr>{cells}</tr></table>")
    return html_


def _grid(doc: QTextDocument, r: ReportData | SearchReport, key: str = "") -> str:
    m = r.match
    if m is None:
        return "<h2>Gallery candidates</h2><p><i>No gallery search recorded.</i></p>"
    thr = f"{m.threshold:.3f}" if m.threshold is not None else "n/a"
    used = ", ".join(str(n) for n in m.inversions)
    meaning = (_e(m.calibration) if m.calibration else "Score is 0.5 at the threshold.")
    head = (f"<h3>Gallery candidates (match run {m.number})</h3>"
            f"<p>Searched with the photo{'s' if len(m.inversions) > 1 else ''} of inversion"
            f"{'s' if len(m.inversions) > 1 else ''} {used}. "
            f"Gallery <span class='mono'>{_e(m.gallery.location)}</span>, "
            f"{m.gallery.size} photos, fingerprint <span class='mono'>"
            f"{_e(m.gallery.fingerprint[:16])}</span>; searched {_when(m.created_at)} by "
            f"{_e(m.author)}. Distance threshold <b>{thr}</b> (lower distance = more alike; "
            f"&#10003; = within the threshold). {meaning}</p>")
    if not m.candidates:
        return head + "<p><i>The search returned no candidates.</i></p>"
    if not any(c.within_threshold for c in m.candidates):
        head += f"<p><b>{_e(NOTHING_PASSES)}</b></p>"
    cells = []
    for c in m.candidates:
        data = r.thumbnails.get(c.thumbnail_sha256 or "")
        pic = (_img_tag(doc, f"{key}cand{c.rank}", data, _THUMB_W, height=_THUMB_H) if data
               else "<i>no thumbnail</i>")
        mark = " <span class='ok'>&#10003;</span>" if c.within_threshold else ""
        extra = ""
        if c.stability is not None:
            extra += f"<br>top-{m.k} in {100 * c.stability:.0f}&nbsp;% of variants"
        # The reading the search was recorded with: 1:N (share of searches for someone
        # absent this close), 1:1 (share of non-mates), else the plain score.
        rate = (f"absent-person searches this close: {100 * c.fpir:.1f}&nbsp;%"
                if c.fpir is not None else
                f"1 in {round(1 / c.false_match_rate):,} non-mates"
                if c.false_match_rate else f"score {c.score:.2f}")
        cells.append(f"<td align='center' width='{100 // _GRID_COLS}%'>{pic}<br>"
                     f"<span class='cand'><b>#{c.rank}</b> {_e(c.subject)}<br>"
                     f"d {c.distance:.3f} &middot; {rate}{mark}{extra}</span></td>")
    # One table per row of faces: a table is moved whole to the next page (see
    # keep_together), so a face is never parted from its caption by a page break.
    rows = ["<table width='100%' border='0'><tr>" + "".join(cells[i:i + _GRID_COLS])
            + "</tr></table>" for i in range(0, len(cells), _GRID_COLS)]
    return head + "".join(rows)


def _model(r: ReportData) -> str:
    inv = r.inversion
    if inv is None:
        return ""
    card = _markdown_html(r.model_summary)
    settings = ", ".join(f"{_e(k)}={_e(v)}" for k, v in sorted(inv.settings.items()))
    return ("<h2>Model</h2>"
            f"<p><b>{_e(inv.model_name)}</b>, weights SHA-256 <span class='mono'>"
            f"{_e(inv.model_sha256)}</span><br>Settings: {settings or 'defaults'}</p>"
            f"<div class='small'>{card}</div>")


def _markdown_html(markdown: str) -> str:
    """Markdown (a model card) as an HTML fragment, through Qt's own Markdown reader."""
    tmp = QTextDocument()
    tmp.setMarkdown(markdown)
    text = tmp.toHtml()
    del tmp
    start = text.find(">", text.find("<body")) + 1
    end = text.rfind("</body>")
    if not (start > 0 and end > start):
        return _e(markdown)
    # A Markdown table needs a header row; cards with none write an empty one, which Qt
    # prints as an empty first row. Drop rows with no text.
    return _EMPTY_ROW.sub("", text[start:end])


def _audit(r: ReportData) -> str:
    status = ("<span class='ok'>intact</span>: every entry hash, link and artefact checked"
              if r.verified else "<span class='bad'>FAILED</span>: "
              + "; ".join(_e(p) for p in r.problems[:5]))
    counts = ", ".join(f"{v} {_e(k)}" for k, v in sorted(r.action_counts.items()))
    rows = "".join(f"<tr><td>{e.seq}</td><td>{_when(e.time)}</td><td>{_e(e.who)}</td>"
                   f"<td>{_e(e.summary)}</td><td class='mono'>{e.hash[:16]}</td></tr>"
                   for e in r.audit_lines)
    notes = "".join(f"<p class='small'>{_e(n)}</p>" for n in r.notes)
    return ("<h2>Audit trail</h2>"
            f"<p>{r.audit_count} entries ({counts}) by {_e(', '.join(r.people))}. Chain "
            f"{status}.<br>Head hash (compare with the bundle's manifest and the store): "
            f"<span class='mono'>{r.audit_head}</span></p>"
            "<table width='100%' class='small' cellspacing='0'><tr><th>#</th><th>time</th>"
            f"<th>who</th><th>what</th><th>entry hash</th></tr>{rows}</table>{notes}")


def _searches(doc: QTextDocument, r: ReportData) -> str:
    """Every search of the case in order, each with its own query images and candidates;
    a case with no search shows its latest inversion."""
    if not r.searches:
        return _pair(doc, r) + _grid(doc, r)
    n = len(r.searches)
    return "".join(
        _pair(doc, s, f"s{i}-", f"<h2>Search {i} of {n}: {_when(s.match.created_at)}</h2>")
        + _grid(doc, s, f"s{i}-")
        for i, s in enumerate(r.searches, start=1) if s.match is not None)


def report_html(doc: QTextDocument, r: ReportData) -> str:
    return (f"<html><head><style>{_CSS}</style></head><body>"
            + _header(r)
            + f"<p class='caution'><b>Caution.</b> {_e(r.caution)}</p>"
            + _searches(doc, r) + _model(r) + _audit(r)
            + f"<p class='small'>Generated {_when(r.generated_at)} by {_e(r.generated_by)} "
            f"with SketchLab {_e(r.app_version)}.</p></body></html>")


def keep_together(doc: QTextDocument, page_h: float, room: float = 0.2) -> None:
    """Qt has no keep-together or keep-with-next, and splits a table across pages cell by
    cell (faces on one page, their captions on the next). So: a table shorter than a
    page that would cross a page break starts on the next page, and a heading that lands
    in the last `room` of a page moves there too. A forced break before every section
    instead left pages mostly empty; a moved heading leaves its page at least (1 - room)
    full. One pass in document order: a move shifts only what follows, and that is
    measured after it (deciding on a later table first stranded its heading and
    paragraph on a page of their own once the heading moved)."""
    layout = doc.documentLayout()
    items: list[tuple[int, QTextFrame | None, QTextBlock | None]] = [
        (frame.firstPosition(), frame, None) for frame in doc.rootFrame().childFrames()]
    block = doc.begin()
    while block.isValid():
        if block.blockFormat().headingLevel() in (2, 3):
            items.append((block.position(), None, block))
        block = block.next()
    for _, frame, block in sorted(items, key=lambda item: item[0]):
        if frame is not None:
            _move_table(frame, layout, page_h)
        elif block is not None:
            _move_heading(block, layout, page_h, room)


def _breaks_before(fmt: QTextFormat) -> bool:
    return bool(fmt.pageBreakPolicy() & QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)


def _move_table(frame: QTextFrame, layout, page_h: float) -> None:
    r = layout.frameBoundingRect(frame)
    if (r.height() < page_h and int(r.top() // page_h) != int((r.bottom() - 1) // page_h)
            and not _breaks_before(frame.frameFormat())):
        fmt = frame.frameFormat()
        fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
        frame.setFrameFormat(fmt)
        frame.document().pageCount()  # lay out again before measuring what follows


def _move_heading(block: QTextBlock, layout, page_h: float, room: float) -> None:
    if _breaks_before(block.blockFormat()):
        return
    y = layout.blockBoundingRect(block).top()
    if (page_h - y % page_h) < room * page_h and y % page_h > 1:
        fmt = block.blockFormat()
        fmt.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
        QTextCursor(block).setBlockFormat(fmt)
        block.document().pageCount()


def render_report(r: ReportData) -> bytes:
    """The report as PDF bytes: A4, 15 mm margins, a footer on every page with the case
    number, the audit head hash and the page number.

    The layout is done on the PDF writer itself (not the screen), so the report looks the
    same whether it is made offscreen by the CLI or inside the app on any display.
    """
    return _render(r, None)


def render_report_pages(r: ReportData, scale: float = 0.25) -> list[QImage]:
    """The pages exactly as `render_report` lays them out and paints them, as images
    (`scale` of the writer's 300 dpi): to look at, or to measure, without a PDF reader."""
    images: list[QImage] = []
    _render(r, images, scale)
    return images


def _render(r: ReportData, images: list[QImage] | None, scale: float = 1.0) -> bytes:
    """Lay the report out on a PDF writer; paint the pages into it (images None) or onto
    one white image per page appended to `images`."""
    _ensure_app()
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setResolution(_RES)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 12), QPageLayout.Unit.Millimeter))
    writer.setTitle(f"SketchLab case {r.case.info.number}")
    writer.setCreator(f"SketchLab {r.app_version}")
    page = writer.pageLayout().paintRectPixels(_RES)
    full = writer.pageLayout().fullRectPixels(_RES)
    footer_h = _RES * 0.3  # 0.3 inch
    body = QSizeF(page.width(), page.height() - footer_h)
    doc = QTextDocument()
    doc.documentLayout().setPaintDevice(writer)
    doc.setDocumentMargin(0)
    doc.setHtml(report_html(doc, r))
    doc.setPageSize(body)
    keep_together(doc, body.height())
    pages = doc.pageCount()
    font = QFont("DejaVu Sans")
    font.setPointSizeF(7)
    foot = QRectF(0, body.height(), body.width(), footer_h)
    left = (f"SketchLab case {r.case.info.number} \u2014 audit head {r.audit_head[:16]} "
            f"\u2014 generated {_when(r.generated_at)}")

    def paint(painter: QPainter, i: int, doc: QTextDocument = doc) -> None:
        painter.save()
        painter.translate(0, -i * body.height())
        doc.drawContents(painter, QRectF(0, i * body.height(), body.width(), body.height()))
        painter.restore()
        painter.setFont(font)
        painter.setPen(QColor("#555555"))
        align = Qt.AlignmentFlag.AlignBottom
        painter.drawText(foot, align | Qt.AlignmentFlag.AlignLeft, left)
        painter.drawText(foot, align | Qt.AlignmentFlag.AlignRight, f"page {i + 1} of {pages}")

    if images is not None:
        for i in range(pages):
            img = QImage(round(full.width() * scale), round(full.height() * scale),
                         QImage.Format.Format_RGB32)
            img.fill(QColor("white"))
            p = QPainter(img)
            try:  # the same page, at the writer's margins, scaled
                p.scale(scale, scale)
                p.translate(page.left() - full.left(), page.top() - full.top())
                paint(p, i)
            finally:
                p.end()
            images.append(img)
        return b""
    painter = QPainter(writer)
    try:
        for i in range(pages):
            if i:
                writer.newPage()
            paint(painter, i)
    finally:
        painter.end()
    # Destroy the Qt objects here, on the thread that made them (exports run on a worker
    # thread; a later garbage collection on the UI thread would stop their timers from
    # the wrong thread). Deleting the writer finishes the PDF into the buffer.
    del painter, writer, doc
    buf.close()
    data = bytes(buf.data().data())
    del buf
    return data
