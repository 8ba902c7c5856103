"""`sketchlab` and `python -m sketchlab`: the desktop app when called bare, otherwise the CLI.

The one module that joins the two: `sketchlab.cli` knows nothing of Qt and is handed the
GUI launcher from here, so neither imports the other's side.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sketchlab import cli


def run_gui(argv: list[str] | None = None) -> int:
    """Start the Qt app."""
    from sketchlab import logging_setup
    from sketchlab.ui.app import run  # deferred: the CLI's commands never load Qt

    logging_setup.configure()
    return run(sys.argv[:1] if argv is None else argv)


def main(argv: Sequence[str] | None = None) -> int:
    """The `sketchlab` command: the GUI with no subcommand, else the subcommand."""
    return cli.main(argv, gui=run_gui)


if __name__ == "__main__":
    sys.exit(main())
