"""Make resources/screenshots/{about,enrol_preview,report_page2}.png from the real app.

Under a real X server (Xvfb), shows Help > About with the installed models' cards, the
enrolment preview of a flat LFW folder (`Name_0001.jpg` files, as LFW ships them) and
renders page 2 of a real case report (a CUFS test sketch inverted by the default model,
searched against the CUFS test photos), all through the app's own code.

    xvfb-run -a -s "-screen 0 1400x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tools/screenshot_dialogs.py
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

from app_driver import settle  # noqa: E402  (this folder, see app_driver.py)

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


def report_page2(out: Path, home: Path) -> None:
    from sketchlab.cases import CaseStore
    from sketchlab.cases.actions import invert_sketch
    from sketchlab.cases.bundle import export_bundle
    from sketchlab.cases.gallery_link import match_inversion
    from sketchlab.core.inference import Inverter
    from sketchlab.core.model_catalog import resolve_model
    from sketchlab.db.gallery import open_gallery
    from sketchlab.report.pdf import render_report

    url = f"sqlite:///{home / 'gallery.sqlite'}"
    with open_gallery(url) as g:
        g.enroll([DATA / "cufs_cuhk" / "test" / "photos"])
    store = CaseStore(home / "cases")
    info = store.create_case(number="2026-0042", title="Street robbery, Mill Lane",
                             artist="A. Artist", investigator="DI Example",
                             witness_description="female, 20s, long straight hair")
    sketch = DATA / "cufs_cuhk" / "test" / "sketches" / "f-039-01-sz1.jpg"
    store.add_sketch(info.number, sketch.read_bytes(), note="first version from the witness")
    invert_sketch(store, info.number, Inverter(resolve_model(None), device="cpu"))
    with open_gallery(url) as g:
        match_inversion(store, info.number, g, k=10)
    bundle = export_bundle(store, info.number, home / "case.zip", render_pdf=render_report)
    import zipfile

    pdf = home / "r.pdf"
    pdf.write_bytes(zipfile.ZipFile(bundle.path).read("report.pdf"))
    subprocess.run(["pdftoppm", "-r", "80", "-f", "2", "-l", "2", "-png", "-singlefile",
                    str(pdf), str(out.with_suffix(""))], check=True, timeout=120)
    store.close()
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "screenshots")
    args = ap.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="sketchlab-shots-"))
    os.environ["SKETCHLAB_HOME"] = str(home)
    from PySide6.QtWidgets import QApplication

    from sketchlab.core.model_catalog import list_models
    from sketchlab.ui.app import app_icon
    from sketchlab.ui.dialogs.enrol_dialog import EnrolPreviewDialog
    from sketchlab.ui.dialogs.help_dialog import about_dialog

    app = QApplication(sys.argv[:1])
    app.setWindowIcon(app_icon())
    models = list_models()
    about = about_dialog(models, models[0].name if models else None)
    about.resize(900, 760)
    grab(app, about, args.out / "about.png")
    about.close()

    preview = EnrolPreviewDialog(lfw_flat_folder(home))
    preview.resize(760, 620)
    grab(app, preview, args.out / "enrol_preview.png")
    preview.close()

    report_page2(args.out / "report_page2.png", home)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
