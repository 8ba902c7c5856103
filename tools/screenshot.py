"""Make resources/screenshots/main.png: the real app, a CUFS sketch, its photo and candidates.

With --grid-out it also saves the same window with the candidates as a grid of faces.

Runs the real MainWindow on a real X server and grabs the screen's pixels, so what you get
is what a user sees. Enrols the CUFS test photos into a temporary gallery through the real
API (sketchlab.db), imports a CUFS test sketch through the import dialog (automatic
alignment, accepted as is), waits for the synthesized photo, searches, and saves.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python tools/screenshot.py --size 1600x1000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app_driver import settle, wait_for  # noqa: E402  (this folder, see app_driver.py)

from sketchlab.core.manifest import shared_data_dir  # noqa: E402  (REPO, above)

DATA = shared_data_dir()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sketch", type=Path,
                    default=DATA / "cufs_cuhk" / "test" / "sketches" / "f1-001-01-sz1.jpg")
    ap.add_argument("--photos", type=Path, default=DATA / "cufs_cuhk" / "test" / "photos",
                    help="folder enrolled as the gallery")
    ap.add_argument("--model", default="sketchlab-default")
    ap.add_argument("--out", type=Path, default=REPO / "resources" / "screenshots" / "main.png")
    ap.add_argument("--panel-out", type=Path, default=None,
                    help="also save the match panel alone (variants, stability, rates)")
    ap.add_argument("--grid-out", type=Path, default=None,
                    help="also save the window with the candidates shown as a grid")
    ap.add_argument("--top-k", type=int, default=8, help="candidates to list")
    ap.add_argument("--size", default="1600x1000")
    ap.add_argument("--home", type=Path, help="SKETCHLAB_HOME to use (default: a temp dir)")
    args = ap.parse_args(argv)

    os.environ["SKETCHLAB_HOME"] = str(args.home or tempfile.mkdtemp(prefix="sketchlab-shot-"))
    from sketchlab.core.model_catalog import model_drawing
    from sketchlab.db.gallery import open_gallery

    url = f"sqlite:///{Path(os.environ['SKETCHLAB_HOME']) / 'screenshot-gallery.sqlite'}"
    t0 = time.time()
    with open_gallery(url) as g:  # drawn as the app enrols, so the search is two-way
        summary = g.enroll([args.photos], drawing=model_drawing(args.model))
        n = g.stats().photos
    print(f"gallery: {n} photos ({summary.enrolled} newly enrolled in {time.time() - t0:.0f} s)")

    from PySide6.QtWidgets import QApplication

    from sketchlab.ui.app import app_icon
    from sketchlab.ui.main_window import MainWindow
    from sketchlab.ui.settings import SettingsStore

    app = QApplication(sys.argv[:1])
    app.setApplicationName("SketchLab")
    app.setWindowIcon(app_icon())
    store = SettingsStore()
    store.update(store.value.replace(model=args.model, gallery_url=url,
                                     top_k=args.top_k))
    w = MainWindow(store)
    width, height = (int(v) for v in args.size.split("x"))
    w.setGeometry(0, 0, width, height)
    w.show()
    wait_for(app, lambda: w.photo_pane.status is not None, 120, "the model to load")

    dlg = w.files.import_file(args.sketch)
    wait_for(app, lambda: dlg.analysis is not None or dlg.error is not None, 60, "alignment")
    if dlg.error is not None:
        raise SystemExit(f"import failed: {dlg.error}")
    print(f"import: {dlg.analysis.method}")
    dlg.accept()
    done: list = []
    w.match_done.connect(done.append)
    w.commands.search.trigger()
    wait_for(app, lambda: bool(done), 120, "the gallery search")
    outcome = done[0]
    top = outcome.candidates[0]
    truth = args.sketch.stem.split("-sz")[0]
    hit = [c.rank for c in outcome.candidates if truth in Path(c.source_path).stem]
    print(f"search: {len(outcome.candidates)} candidates of {outcome.gallery_size}; top "
          f"{top.subject_name} at {top.distance:.3f}; true subject rank: "
          f"{hit[0] if hit else 'not in top ' + str(len(outcome.candidates))}")
    w.commands.guide.trigger()  # guide off: the sketch itself is what the picture is about
    w.match_panel.table.selectRow(0)
    w.canvas.setFocus()
    settle(app, 1.5)
    geo = w.frameGeometry()
    shot = w.screen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not shot.save(str(args.out)):
        raise SystemExit(f"could not write {args.out}")
    if args.grid_out is not None:
        w.match_panel.grid_button.click()
        settle(app, 1.5)
        geo = w.frameGeometry()
        grid = w.screen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
        if not grid.save(str(args.grid_out)):
            raise SystemExit(f"could not write {args.grid_out}")
        print(f"wrote {args.grid_out}")
        w.match_panel.grid_button.click()
        settle(app, 0.5)
    if args.panel_out is not None:
        # Give the match panel the window's right half to show variants and several rows.
        w.splitter.setSizes([width // 3, width // 6, width // 2])
        settle(app, 1.0)
        panel = w.match_panel
        pos = panel.mapToGlobal(panel.rect().topLeft())
        part = w.screen().grabWindow(0, pos.x(), pos.y(), panel.width(), panel.height())
        if not part.save(str(args.panel_out)):
            raise SystemExit(f"could not write {args.panel_out}")
        within = sum(c.within_threshold for c in outcome.candidates)
        print(f"wrote {args.panel_out}; {within} of {len(outcome.candidates)} within the "
              f"threshold {outcome.threshold:.3f}; stability "
              f"{[c.stability for c in outcome.candidates]}")
    print(f"wrote {args.out} ({shot.width()}x{shot.height()}) on {app.platformName()}; "
          f"photo by {w.photo_pane.status.name} on {w.photo_pane.status.device_label}")
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
