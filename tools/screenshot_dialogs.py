"""Make resources/screenshots/{about,enrol_preview,enrol_summary,report_page1-3}.png.

Under a real X server (Xvfb), shows Help > About with the installed models' cards, the
enrolment preview of a flat LFW folder (`Name_0001.jpg` files, as LFW ships them), the
enrolment window after a run with skipped files (a few LFW photos, a photo of two people,
a blank image, a damaged JPEG and a text file) and renders pages 1-3 of a real case
report (two CUFS test sketches, each searched as `sketchlab case match` does against
the CUFS test photos), all through the app's own code. `--only` makes some of them.

    xvfb-run -a -s "-screen 0 1400x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tools/screenshot_dialogs.py [--only about,enrol_summary]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app_driver import settle, wait_for  # noqa: E402  (this folder, see app_driver.py)

from sketchlab.core.manifest import shared_data_dir  # noqa: E402  (REPO, above)

DATA = shared_data_dir()

LFW_PEOPLE = ("Adrien_Brody", "Abdullah_Gul", "Alvaro_Uribe", "Amelie_Mauresmo")


def grab(app, widget, out: Path) -> None:
    widget.show()
    widget.raise_()
    settle(app, 1.5)
    pm = widget.screen().grabWindow(widget.winId())
    if pm.isNull() or not pm.save(str(out)):
        raise SystemExit(f"could not grab {out}")
    print(f"wrote {out} ({pm.width()}x{pm.height()})")


def lfw_flat_folder(root: Path) -> Path:
    folder = root / "lfw_flat"
    folder.mkdir()
    for person in LFW_PEOPLE:
        for f in sorted((DATA / "lfw" / "images").glob(f"{person}_[0-9]*.jpg")):
            (folder / f.name).symlink_to(f)
    (folder / "README.txt").write_text("not a photo")
    return folder


def enrol_summary(app, out: Path, home: Path) -> None:
    """The enrolment window at the end of a run that skipped files, as a user sees it."""
    import numpy as np
    from PIL import Image

    from sketchlab.ui.dialogs.gallery_dialog import GalleryDialog
    from sketchlab.ui.gallery_handle import GalleryHandle

    folder = home / "new_photos"
    folder.mkdir()
    images = DATA / "lfw" / "images"
    for person in LFW_PEOPLE:
        for f in sorted(images.glob(f"{person}_[0-9]*.jpg"))[:3]:
            (folder / f.name).symlink_to(f)
    pair = [np.asarray(Image.open(images / f"{p}_0001.jpg").convert("RGB"))
            for p in LFW_PEOPLE[:2]]
    Image.fromarray(np.concatenate(pair, axis=1)).save(folder / "Two_People_0001.jpg")
    Image.fromarray(np.full((250, 250, 3), 190, np.uint8)).save(folder / "Scan_0001.png")
    (folder / "Damaged_0001.jpg").write_bytes((images / "Alvaro_Uribe_0004.jpg")
                                              .read_bytes()[:700])
    (folder / "README.txt").write_text("not a photo")
    handle = GalleryHandle(f"sqlite:///{home / 'summary-gallery.sqlite'}")
    gallery = GalleryDialog(handle)
    gallery.resize(760, 560)
    gallery.show()
    wait_for(app, lambda: gallery.listing is not None, 60, "the gallery listing")
    done: list = []
    gallery.enrolment_finished.connect(done.append)
    gallery.enrol(folder, rule="filename", total=sum(1 for _ in folder.iterdir()))
    wait_for(app, lambda: bool(done) and gallery._enrol is None, 600, "the enrolment")
    grab(app, gallery.run_dialog, out)
    gallery.run_dialog.close()
    gallery.close()
    handle.close()


def report_pages(folder: Path, home: Path, pages: int = 3) -> None:
    """Pages 1..`pages` of a real case report: two sketch versions, each inverted and
    searched (the report shows every search in order with the image it consumed)."""
    import zipfile

    from sketchlab.cases import CaseStore
    from sketchlab.cases.bundle import export_bundle
    from sketchlab.cases.gallery_link import search_sketch
    from sketchlab.core.inference import Inverter
    from sketchlab.core.model_catalog import model_drawing, resolve_model
    from sketchlab.db.gallery import open_gallery
    from sketchlab.report.pdf import render_report

    url = f"sqlite:///{home / 'gallery.sqlite'}"
    with open_gallery(url) as g:  # drawn as the app enrols, so the search is two-way
        g.enroll([DATA / "cufs_cuhk" / "test" / "photos"], drawing=model_drawing())
    store = CaseStore(home / "cases")
    info = store.create_case(number="2026-0042", title="Street robbery, Mill Lane",
                             artist="A. Artist", investigator="DI Example",
                             witness_description="female, 20s, long straight hair")
    inverter = Inverter(resolve_model(None), device="cpu")
    sketches = DATA / "cufs_cuhk" / "test" / "sketches"
    for name, note in (("f-039-01-sz1.jpg", "first version from the witness"),
                       ("f-040-01-sz1.jpg", "witness: the face was rounder")):
        store.add_sketch(info.number, (sketches / name).read_bytes(), note=note)
        with open_gallery(url) as g:
            search_sketch(store, info.number, g, inverter, k=10)
    bundle = export_bundle(store, info.number, home / "case.zip", render_pdf=render_report)
    pdf = home / "r.pdf"
    pdf.write_bytes(zipfile.ZipFile(bundle.path).read("report.pdf"))
    for page in range(1, pages + 1):
        out = folder / f"report_page{page}.png"
        subprocess.run(["pdftoppm", "-r", "80", "-f", str(page), "-l", str(page), "-png",
                        "-singlefile", str(pdf), str(out.with_suffix(""))], check=True,
                       timeout=120)
        print(f"wrote {out}")
    store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "screenshots")
    ap.add_argument("--only", default="about,enrol_preview,enrol_summary,report",
                    help="comma-separated screenshots to make")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))
    home = Path(tempfile.mkdtemp(prefix="sketchlab-shots-"))
    os.environ["SKETCHLAB_HOME"] = str(home)
    from PySide6.QtWidgets import QApplication

    from sketchlab.core.model_catalog import list_models
    from sketchlab.ui.app import app_icon
    from sketchlab.ui.dialogs.enrol_dialog import EnrolPreviewDialog
    from sketchlab.ui.dialogs.help_dialog import about_dialog

    app = QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    if "about" in only:
        models = list_models()
        about = about_dialog(models, models[0].name if models else None)
        about.resize(900, 760)
        grab(app, about, args.out / "about.png")
        about.close()
    if "enrol_preview" in only:
        preview = EnrolPreviewDialog(lfw_flat_folder(home))
        preview.resize(760, 620)
        grab(app, preview, args.out / "enrol_preview.png")
        preview.close()
    if "enrol_summary" in only:
        enrol_summary(app, args.out / "enrol_summary.png", home)
    if "report" in only:
        report_pages(args.out, home)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
