"""Cold start of the desktop app from source: launch -> window that takes strokes, and
launch -> live photo ready (the model loaded), medians of N fresh processes.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/startup_latency.py [--runs 5]
        [--src CHECKOUT ...]

Each run is a fresh interpreter that starts the GUI as `python -m sketchlab` does. The
first start on a machine times the inference engines for the model and exports it to
ONNX (once); it is timed on its own ("first start") in a fresh SKETCHLAB_HOME, and the
timed runs then reuse that home, as every later start of the app does. "window" is the
moment the event loop has run once with the main window shown (from then on a stroke is
drawn); "photo ready" is when the inversion model has loaded and the live photo can
follow the pen. Timed against the system's monotonic clock from just before the process
is spawned. Several `--src` checkouts are measured in alternation (before/after on the
same machine and load). Stdlib only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Runs in the child: patch the two moments we time, then start the app as usual.
CHILD = r"""
import os, sys, time
sys.path.insert(0, {src!r})
import sketchlab.ui.main_window as mw

def mark(*_a, **_k):
    print("MARK", time.monotonic(), flush=True)
    os._exit(0)

if {until!r} == "window":
    mw.MainWindow.shutdown = mark  # runs once the event loop quits (SKETCHLAB_QUIT_AFTER_MS=0)
else:
    orig = mw.MainWindow._on_model_changed
    def ready(self, status):
        if status is not None:
            mark()
        orig(self, status)
    mw.MainWindow._on_model_changed = ready
from sketchlab.__main__ import run_gui
run_gui([])
"""


def time_once(python: str, src: str, until: str, home: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKETCHLAB_")}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if until == "window":
        env["SKETCHLAB_QUIT_AFTER_MS"] = "0"
    env["SKETCHLAB_HOME"] = home
    t0 = time.monotonic()
    out = subprocess.run([python, "-c", CHILD.format(src=src, until=until)], env=env,
                         cwd=src, capture_output=True, text=True, timeout=300)
    marks = [ln for ln in out.stdout.splitlines() if ln.startswith("MARK ")]
    if not marks:
        raise SystemExit(f"{src}: no start-up mark ({out.returncode}):\n{out.stderr[-2000:]}")
    return float(marks[0].split()[1]) - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--src", action="append", help="checkout(s) to time (default: this one)")
    args = ap.parse_args()
    srcs = args.src or [str(REPO)]
    with tempfile.TemporaryDirectory() as tmp:
        homes = {src: str(Path(tmp) / f"home{i}") for i, src in enumerate(srcs)}
        for src in srcs:  # warm the page cache and .pyc files; not counted
            time_once(args.python, src, "window", homes[src])
        first = {src: time_once(args.python, src, "photo ready", homes[src]) for src in srcs}
        res: dict[tuple[str, str], list[float]] = {(s, u): [] for s in srcs
                                                   for u in ("window", "photo ready")}
        for _ in range(args.runs):
            for until in ("window", "photo ready"):
                for src in srcs:
                    res[(src, until)].append(time_once(args.python, src, until, homes[src]))
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, median of "
          f"{args.runs} processes each, alternating; first start: once, in a fresh home")
    print("| checkout | launch -> window taking strokes (s) | launch -> live photo ready (s) "
          "| first start -> live photo ready (s) |")
    print("|---|---|---|---|")
    for src in srcs:
        w, p = res[(src, "window")], res[(src, "photo ready")]
        print(f"| {src} | {statistics.median(w):.2f} ({min(w):.2f}-{max(w):.2f}) | "
              f"{statistics.median(p):.2f} ({min(p):.2f}-{max(p):.2f}) | {first[src]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
