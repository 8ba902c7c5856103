"""The first N CUFS test sketches through `sketchlab match --json --top 10`, as a user runs
them, against a gallery enrolled with `sketchlab gallery enroll` (e.g. the CUFS test photos
plus LFW): how many searches mark a stranger at rank 1 or anywhere in the list, where the
true person is, and whether it is marked. The 1:N figures in the model card's lab record
("against the same 13,141-face gallery") come from this.

    .venv/bin/python tools/match_check.py --db gallery.sqlite [--n 20] [--out rows.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from sketchlab.core.manifest import shared_data_dir


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="the gallery searched (SQLite file or URL)")
    ap.add_argument("--n", type=int, default=20, help="sketches, in file-name order")
    ap.add_argument("--out", help="also write each search's row here (JSON)")
    args = ap.parse_args()
    folder = shared_data_dir() / "cufs_cuhk" / "test" / "sketches"
    sketches = sorted(folder.glob("*.jpg"))[:args.n]
    rows = []
    for s in sketches:
        run = subprocess.run([sys.executable, "-m", "sketchlab", "match", str(s), "--db",
                              args.db, "--json", "--top", "10"],
                             capture_output=True, text=True, check=True)
        found = json.loads(run.stdout)
        person = s.stem.replace("-sz1", "")
        cands = found["candidates"]
        mate = [c for c in cands if c["subject"] == person]
        rows.append({"sketch": s.name, "rank1_is_mate": cands[0]["subject"] == person,
                     "rank1_marked": cands[0]["within_threshold"],
                     "mate_rank": mate[0]["rank"] if mate else None,
                     "mate_marked": bool(mate and mate[0]["within_threshold"]),
                     "strangers_marked": sum(c["within_threshold"] and c["subject"] != person
                                             for c in cands),
                     "reading": found.get("reading", {})})
    print(f"searches: {len(rows)}")
    print("a stranger marked at rank 1:",
          sum(not r["rank1_is_mate"] and r["rank1_marked"] for r in rows))
    print("a stranger marked anywhere in the top 10:",
          sum(r["strangers_marked"] > 0 for r in rows))
    print("true person at rank 1:", sum(r["rank1_is_mate"] for r in rows),
          "; in the top 10:", sum(r["mate_rank"] is not None for r in rows))
    print("true person marked:", sum(r["mate_marked"] for r in rows))
    if rows:
        print("reading of the first search:", json.dumps(rows[0]["reading"])[:600])
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
