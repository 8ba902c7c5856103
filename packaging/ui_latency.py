"""Measure stroke-to-photo latency inside the real app: end of a pen stroke -> new photo on screen.

Drives the real MainWindow (offscreen by default) with tablet strokes sent as QTabletEvents
at a pen's report rate, through the same throttled live-inversion path a user gets, and
reports the median time from each stroke's release to the repaint of the photo pane.

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/ui_latency.py [--model NAME] [-n 30]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sketchlab-default")
    ap.add_argument("--device", default="auto")
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
    store.update(store.value.replace(model=args.model, device=args.device,
                                     live_preview=not args.no_live))
    w = MainWindow(store)
    w.resize(1280, 820)
    w.show()
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
        idle = time.perf_counter() + 0.3
        while time.perf_counter() < idle:
            app.processEvents()
            time.sleep(0.005)
    lat = w.photo_pane.latencies_ms
    last = w.photo_pane.last
    q = statistics.quantiles(lat, n=10) if len(lat) >= 2 else lat
    print(f"model {status.name} on {status.device_label}, live preview "
          f"{'off' if args.no_live else 'on'}, {len(lat)} strokes at {args.hz:.0f} Hz")
    print(f"stroke->photo latency: median {statistics.median(lat):.1f} ms, "
          f"p10 {q[0]:.1f} ms, p90 {q[-1]:.1f} ms, max {max(lat):.1f} ms")
    print(f"network time per inversion (all {len(net_ms)} shown, live and final): median "
          f"{statistics.median(net_ms):.1f} ms; last {last.ms:.1f} ms")
    w.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
