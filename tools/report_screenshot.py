"""Make resources/screenshots/report-unsaved-sketch-p1.png: page 1 of a real case report
whose search used a sketch that was never saved.

Runs the real app (offscreen) through the sequence that once misattributed a search: a
case is opened, one CUFS sketch is imported and saved (sketch version 1), a different
CUFS sketch is imported and not saved, the shipped model inverts it and the gallery (CUFS
test photos, enrolled through the real API) is searched; then the case is exported with
its PDF report and page 1 is rendered with pdftoppm. The report must show the unsaved
image under its own hash, not version 1.

    .venv/bin/python tools/report_screenshot.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from app_driver import wait_for  # noqa: E402  (this folder, see app_driver.py)

from sketchlab.core.manifest import shared_data_dir  # noqa: E402  (REPO, above)

DATA = shared_data_dir()
SKETCHES = DATA / "cufs_cuhk" / "test" / "sketches"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--saved", type=Path, default=SKETCHES / "m-063-01-sz1.jpg",
                    help="the sketch imported and saved as version 1")
    ap.add_argument("--unsaved", type=Path, default=SKETCHES / "f-039-01-sz1.jpg",
                    help="the sketch imported afterwards and searched without saving")
    ap.add_argument("--photos", type=Path, default=DATA / "cufs_cuhk" / "test" / "photos")
    ap.add_argument("--gallery-size", type=int, default=40)
    ap.add_argument("--model", default="sketchlab-default")
    ap.add_argument("--dpi", type=int, default=100)
    ap.add_argument("--out", type=Path,
                    default=REPO / "resources" / "screenshots" / "report-unsaved-sketch-p1.png")
    args = ap.parse_args(argv)
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm not found: apt-get install poppler-utils")

    home = Path(tempfile.mkdtemp(prefix="sketchlab-report-"))
    os.environ["SKETCHLAB_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from sketchlab.core.model_catalog import model_drawing
    from sketchlab.db.gallery import open_gallery

    photos = sorted(args.photos.glob("*.jpg"))[: args.gallery_size]
    url = f"sqlite:///{home / 'gallery.sqlite'}"
    with open_gallery(url) as g:  # drawn as the app enrols, so the search is two-way
        g.enroll(photos, workers=1, drawing=model_drawing(args.model))
        print(f"gallery: {g.stats().photos} CUFS test photos")

    from PySide6.QtWidgets import QApplication

    from sketchlab.ui.main_window import MainWindow
    from sketchlab.ui.settings import SettingsStore

    app = QApplication(sys.argv[:1])
    store = SettingsStore()
    store.update(store.value.replace(model=args.model, device="cpu", gallery_url=url,
                                     top_k=10))
    w = MainWindow(store, autosave_root=home / "autosave")
    try:
        w.resize(1400, 900)
        w.show()
        wait_for(app, lambda: w.photo_pane.status is not None, 120, "the model to load")
        info = w.case_dock.panel.create_case(
            number="2026-0142", title="Robbery, Station Road", artist="J. Ortega",
            investigator="DS K. Mensah",
            witness_description="Woman, about 25, long straight dark hair, narrow face.")
        shown: list = []
        w.inversion_done.connect(shown.append)

        def import_sketch(path: Path) -> None:
            dlg = w.files.import_file(path)
            wait_for(app, lambda: dlg.analysis is not None or dlg.error is not None, 60,
                     "alignment")
            if dlg.error is not None:
                raise SystemExit(f"import of {path.name} failed: {dlg.error}")
            dlg.accept()
            wait_for(app, lambda: any(r.final and r.request_id == w.service.latest_id
                                      for r in shown), 120, "the photo")

        import_sketch(args.saved)
        w.files.save_to(home / "sketch-v1.png")
        import_sketch(args.unsaved)  # on the canvas, never saved
        done: list = []
        w.match_done.connect(done.append)
        w.commands.search.trigger()
        wait_for(app, lambda: bool(done), 120, "the gallery search")
        case = w.case_dock.panel.store.get(info.uid)
        inv = case.inversion(case.matches[-1].inversion)
        print(f"search recorded with inversion {inv.number}: sketch version "
              f"{inv.sketch_version}, source {inv.source_sha256[:16]}")
        assert inv.sketch_version is None, "the unsaved sketch was attributed to a saved version"
        bundle = home / "case.zip"
        path = w.case_dock.panel.export_to(bundle)
        if path is None:
            raise SystemExit(f"export failed: {w.case_dock.panel.last_error}")
    finally:
        w.shutdown()
        w.close()
    pdf = home / "report.pdf"
    pdf.write_bytes(zipfile.ZipFile(path).read("report.pdf"))
    subprocess.run(["pdftoppm", "-r", str(args.dpi), "-f", "1", "-l", "1", "-png",
                    "-singlefile", str(pdf), str(home / "page1")], check=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(home / "page1.png", args.out)
    print(f"wrote {args.out} (page 1 of {pdf}, {args.dpi} dpi)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
