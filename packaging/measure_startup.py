"""Start-up time of the frozen bundle versus `python -m sketchlab` (medians of N runs).

    python packaging/measure_startup.py [--runs 5] [--python .venv/bin/python]
                                        [--bundle dist/sketchlab/sketchlab] [--cold]

Each case is a fresh process in a fresh SKETCHLAB_HOME, timed wall-clock from spawn to
exit: `--version` (interpreter and CLI start), `models --json` (imports torch, reads the
model headers), and the GUI offscreen until its main window is shown and the event loop
runs (SKETCHLAB_QUIT_AFTER_MS=0). `--cold` drops the page cache before every run (root
only; slows everything else on the machine for a moment) to time a first start after boot.
Stdlib only, so any Python can run it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = {
    "--version": (["--version"], {}),
    "models --json": (["models", "--json"], {}),
    "gui (window shown)": ([], {"QT_QPA_PLATFORM": "offscreen", "SKETCHLAB_QUIT_AFTER_MS": "0"}),
}


def _drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def _time(cmd: list[str], extra_env: dict[str, str], cold: bool, cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SKETCHLAB_", "QT_"))}
    env.update(extra_env)
    with tempfile.TemporaryDirectory() as home:
        env["SKETCHLAB_HOME"] = home
        if cold:
            _drop_caches()
        start = time.perf_counter()
        out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    ap.add_argument("--bundle", default=str(REPO / "dist" / "sketchlab" / "sketchlab"))
    ap.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    # From source, run in the checkout: `-m sketchlab` then imports this checkout's code.
    launchers = {"frozen": [args.bundle], "python -m sketchlab": [args.python, "-m", "sketchlab"]}
    results: dict[str, dict[str, float]] = {}
    for case, (cli_args, env) in CASES.items():
        times: dict[str, list[float]] = {name: [] for name in launchers}
        for _ in range(args.runs):  # interleaved, so load changes hit both alike
            for name, launcher in launchers.items():
                times[name].append(_time(launcher + cli_args, env, args.cold, REPO))
        results[case] = {name: round(statistics.median(t), 3) for name, t in times.items()}
    meta = {"runs": args.runs, "cold": args.cold, "machine": platform.platform(),
            "cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0]}
    if args.json:
        print(json.dumps({"seconds_median": results, **meta}, indent=2))
        return 0
    print(f"| case | frozen bundle (s) | python -m sketchlab (s) |  [median of {args.runs}"
          f"{', cold page cache' if args.cold else ''}]")
    print("|---|---|---|")
    for case, r in results.items():
        print(f"| {case} | {r['frozen']:.2f} | {r['python -m sketchlab']:.2f} |")
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
