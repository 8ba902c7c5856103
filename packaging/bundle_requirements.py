"""Print the bundle's requirements: pyproject's runtime dependencies minus torch/torchvision,
plus the `postgres` extra (a lab's shared gallery) and the `bundle` extra (PyInstaller).
torch is installed separately (the CPU build).

    python packaging/bundle_requirements.py > build/bundle-requirements.txt

Stdlib only (tomllib, Python 3.11+), so it runs on Linux, Windows and macOS alike.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# torch comes from the CPU wheel, installed first; the app never imports torchvision.
LEFT_OUT = {"torch", "torchvision"}


def requirements(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    reqs = project["dependencies"] + extras.get("postgres", []) + extras["bundle"]
    return [r for r in reqs if re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower() not in LEFT_OUT]


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    sys.stdout.write("".join(f"{r}\n" for r in requirements(root / "pyproject.toml")))
