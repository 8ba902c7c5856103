"""Measure stroke-to-photo latency inside the real app: end of a pen stroke -> new photo on screen.

Drives the real MainWindow (offscreen by default) with tablet strokes sent as QTabletEvents
at a pen's report rate, through the same throttled live-inversion path a user gets, and
reports the time from each stroke's release (the pen-up event) to the repaint of the photo
pane, with a breakdown of where it went when the checkout records one. `--src` measures
another checkout with this same harness (before/after comparisons); `--enrol FOLDER` runs a
gallery enrolment in the app meanwhile (the pen must stay ahead of background work).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/ui_latency.py [--model NAME] [-n 30]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _src_arg(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "--src" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--src="):
            return a.split("=", 1)[1]
    return str(Path(__file__).resolve().parent.parent)


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, _src_arg(argv))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", help="checkout to measure (default: this one)")
    ap.add_argument("--enrol", type=Path, help="enrol this folder in the app meanwhile")
    ap.add_argument("--model", default="sketchlab-default")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--engine", default="auto",
                    help="inference engine (auto: the one the app measures fastest here)")
    ap.add_argument("-n", "--strokes", type=int, default=30)
    ap.add_argument("--hz", type=float, default=120.0, help="pen report rate")
    ap.add_argument("--no-live", action="store_true", help="no previews while drawing")
    args = ap.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["SKETCHLAB_HOME"] = tempfile.mkdtemp(prefix="sketchlab-latency-")
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from sketchlab.ui.main_window import MainWindow
    from sketchlab.ui.settings import SettingsStore

    app = QApplication(sys.argv[:1])
    store = SettingsStore()
    settings = dict(model=args.model, device=args.device, live_preview=not args.no_live)
    if hasattr(store.value, "engine"):
        settings["engine"] = args.engine
    store.update(store.value.replace(**settings))
    w = MainWindow(store)
    w.resize(1280, 820)
    w.show()
    import sketchlab

    print(f"checkout {Path(sketchlab.__file__).parent.parent}, load average "
          f"{os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    deadline = time.time() + 120
    while w.photo_pane.status is None and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if w.photo_pane.status is None:
        print(f"model {args.model!r} did not load: {w.photo_pane.view.text()}", file=sys.stderr)
        return 2
    status = w.photo_pane.status
    net_ms: list[float] = []
    w.inversion_done.connect(lambda r: r.photo is not None and net_ms.append(r.ms))
    shown: list[tuple[float, object]] = []  # (perf_counter at repaint, result)
    w.photo_pane.photo_shown.connect(lambda r: shown.append((time.perf_counter(), r)))
    releases: list[float] = []
    from_release: list[float] = []
    release_to_submit: list[float] = []
    enrol_job = None
    if args.enrol is not None:
        from sketchlab.ui import workers
        from sketchlab.ui.dialogs import gallery_dialog

        if hasattr(workers, "Job"):
            from superqt.utils import create_worker

            def start_worker(fn, *args):
                return create_worker(fn, *args, _worker_class=workers.Job, _start_thread=True)
        else:  # an older checkout
            start_worker = workers.start_worker
        if hasattr(gallery_dialog, "enrol_paths"):
            enrol_job = start_worker(gallery_dialog.enrol_paths, w.match_panel.gallery,
                                     [args.enrol], "folder")
        else:  # an older checkout
            enrol_job = start_worker(gallery_dialog.enrol_folder, w.match_panel.gallery,
                                     args.enrol)
        time.sleep(3.0)  # let its workers start and get busy
        print(f"enrolling {args.enrol} in the app meanwhile")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent

    caps = QInputDevice.Capability.Position | QInputDevice.Capability.Pressure
    dev = QPointingDevice("latency stylus", 4242, QInputDevice.DeviceType.Stylus,
                          QPointingDevice.PointerType.Pen, caps, 1, 3, parent=app)
    period = 1.0 / args.hz
    c = w.canvas
    h, wd = w.document.size

    def send(etype, x, y, p):
        pos = c._transform().map(QPointF(x, y))
        ev = QTabletEvent(etype, dev, pos, QPointF(c.mapToGlobal(pos)), p, 0.0, 0.0, 0.0,
                          0.0, 0.0, Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton,
                          Qt.MouseButton.NoButton if etype == QTabletEvent.Type.TabletRelease
                          else Qt.MouseButton.LeftButton)
        QApplication.sendEvent(c, ev)

    for i in range(args.strokes):
        y0 = h * (0.25 + 0.5 * ((i * 7) % 13) / 13)
        pts = [(wd * (0.2 + 0.6 * t / 40), y0 + 20 * math.sin(t / 6 + i)) for t in range(41)]
        for k, (x, y) in enumerate(pts):
            etype = (QTabletEvent.Type.TabletPress if k == 0 else QTabletEvent.Type.TabletRelease
                     if k == len(pts) - 1 else QTabletEvent.Type.TabletMove)
            if etype == QTabletEvent.Type.TabletRelease:
                releases.append(time.perf_counter())
                n_shown = len(shown)
            send(etype, x, y, 0.4 + 0.5 * math.sin(math.pi * k / len(pts)))
            t_next = time.perf_counter() + period
            app.processEvents()
            # Sleep like an idle event loop: a busy wait would steal a core from the
            # inversion thread on a small machine and inflate the numbers.
            time.sleep(max(0.0, t_next - time.perf_counter()))
        n_before = len(w.photo_pane.latencies_ms)
        end = time.time() + 30
        while len(w.photo_pane.latencies_ms) == n_before and time.time() < end:
            app.processEvents()
            time.sleep(0.001)
        final = [(t, r) for t, r in shown[n_shown:] if r.final]
        if final:
            from_release.append((final[0][0] - releases[-1]) * 1000)
            release_to_submit.append((final[0][1].submitted - releases[-1]) * 1000)
        idle = time.perf_counter() + 0.3
        while time.perf_counter() < idle:
            app.processEvents()
            time.sleep(0.005)
    lat = from_release
    last = w.photo_pane.last
    q = statistics.quantiles(lat, n=10) if len(lat) >= 2 else lat
    print(f"model {status.name} on {status.device_label}, live preview "
          f"{'off' if args.no_live else 'on'}, {len(lat)} strokes at {args.hz:.0f} Hz")
    print(f"stroke->photo latency (pen-up -> photo repainted): median "
          f"{statistics.median(lat):.1f} ms, p10 {q[0]:.1f} ms, p90 {q[-1]:.1f} ms, "
          f"max {max(lat):.1f} ms")
    print(f"network time per inversion (all {len(net_ms)} shown, live and final): median "
          f"{statistics.median(net_ms):.1f} ms; last {last.ms:.1f} ms")
    stages = getattr(w.photo_pane, "stage_log", [])
    if stages:
        keys = ["queue", "preprocess", "network", "delivery", "display", "repaint"]
        parts = [f"pen-up->request {_median(release_to_submit):.1f}"]
        parts += [f"{k} {_median([s.get(k, float('nan')) for s in stages]):.1f}" for k in keys]
        print("breakdown of the final request, medians in ms: " + ", ".join(parts))
        queue = [s["queue"] for s in stages if "queue" in s]
        if len(queue) >= 2:
            print(f"queue p90 {statistics.quantiles(queue, n=10)[-1]:.1f} ms")
    stopped = getattr(w.service._worker, "stopped_previews", None)
    if stopped is not None:
        print(f"live previews stopped for a pen-up's request: {stopped}")
    inv = getattr(w.service._worker, "_inverter", None)
    if inv is not None and enrol_job is None:
        import numpy as np

        blank = np.full((*inv.resolution, 3), 255, np.uint8)
        blank[40:120, 30:100] = 0
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            inv.invert(blank)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"same network, back to back in this process (as `sketchlab bench`): median "
              f"{statistics.median(times):.1f} ms")
    if enrol_job is not None:
        enrol_job.quit()
        enrol_job.wait(120000)
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
