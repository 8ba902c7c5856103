"""Time the gallery search as a user gets it: the real MainWindow imports CUFS test
sketches one by one (automatic alignment, accepted) and presses Search; the panel's
figures (`MatchResult.total_ms` and its stages: align, invert the 8 variants in one
batch, embed, rank) are collected and their medians printed.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/search_latency.py [-n 10]
        [--engine auto] [--lfw] [--home DIR]

The gallery holds the CUFS test photos, and with --lfw every LFW photo too (~13k faces),
enrolled through the real API (`sketchlab gallery enroll`'s code; a few minutes once).
--home keeps the app's folders, gallery included, so a second run (another engine, an
ISA mask) searches the same gallery without enrolling again. Ranking is exact over
descriptors held in memory, so the gallery's size moves the "rank" stage and the first
search's load of the descriptors (`sketchlab bench --only search_10m` times 1M faces).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app_driver import wait_for  # noqa: E402  (this folder, see app_driver.py)

from sketchlab.core.manifest import shared_data_dir  # noqa: E402  (REPO, above)


def main(argv: list[str] | None = None) -> int:
    data = shared_data_dir() / "cufs_cuhk" / "test"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--searches", type=int, default=10)
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--model", default="sketchlab-default")
    ap.add_argument("--lfw", action="store_true", help="enrol every LFW photo as well")
    ap.add_argument("--home", type=Path, help="SKETCHLAB_HOME to use and keep "
                    "(default: a new temporary folder)")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = args.home or Path(tempfile.mkdtemp(prefix="sketchlab-search-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["SKETCHLAB_HOME"] = str(home)
    from sketchlab.core.model_catalog import model_drawing
    from sketchlab.db.gallery import open_gallery

    url = f"sqlite:///{home / 'gallery.sqlite'}"
    folders = [data / "photos"] + ([shared_data_dir() / "lfw" / "images"] if args.lfw else [])
    with open_gallery(url) as g:
        # one subject per person (LFW's Name_0001.jpg); enrolled photos are skipped
        # drawn as the app enrols: the search timed is the model's two-way one
        g.enroll(folders, rule="filename", drawing=model_drawing(args.model))
        size = g.stats().photos

    from PySide6.QtWidgets import QApplication

    from sketchlab.ui.main_window import MainWindow
    from sketchlab.ui.settings import SettingsStore

    app = QApplication(sys.argv[:1])
    store = SettingsStore()
    store.update(store.value.replace(model=args.model, gallery_url=url, engine=args.engine))
    w = MainWindow(store)
    w.resize(1280, 820)
    w.show()
    wait_for(app, lambda: w.photo_pane.status is not None, 300, "the model to load")
    done: list = []
    w.match_done.connect(done.append)
    for sketch in sorted((data / "sketches").glob("*.jpg"))[: args.searches]:
        dlg = w.files.import_file(sketch)
        wait_for(app, lambda d=dlg: d.analysis is not None or d.error is not None, 60,
                 "alignment")
        dlg.accept()
        before = len(done)
        w.commands.search.trigger()
        wait_for(app, lambda n=before: len(done) > n, 120, "the search")
    stages = {k: statistics.median(o.stages_ms.get(k, 0.0) for o in done)
              for k in ("align", "invert", "embed", "rank")}
    total = [o.total_ms for o in done]
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; gallery {size} "
          f"faces; {w.service.status.device_label}")
    print(f"search (8 variants), median of {len(total)}: {statistics.median(total):.0f} ms "
          f"(min {min(total):.0f}, max {max(total):.0f}); stages: "
          + ", ".join(f"{k} {v:.0f} ms" for k, v in stages.items()))
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
