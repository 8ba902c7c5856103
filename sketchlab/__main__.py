"""`python -m sketchlab`: the desktop app (or the CLI when given a subcommand)."""

from __future__ import annotations

import sys


def run_gui(argv: list[str] | None = None) -> int:
    """Start the Qt app; imported lazily so the CLI never loads Qt."""
    from sketchlab import logging_setup
    from sketchlab.ui.app import run

    logging_setup.configure()
    return run(sys.argv[:1] if argv is None else argv)


if __name__ == "__main__":
    from sketchlab.cli import main

    sys.exit(main())
