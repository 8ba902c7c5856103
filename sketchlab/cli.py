"""`sketchlab COMMAND`: the subcommands (`sketchlab.__main__` adds the GUI). No Qt here.

Each subcommand lives in sketchlab/commands/<name>.py with `register(subparsers)` and is
listed in COMMANDS (imported, so an editor and PyInstaller can follow it); its handler
returns an exit code. The command modules import their heavy dependencies inside the
handlers, so `sketchlab --help` and the GUI start without them. Expected failures raise
`sketchlab.errors.UserError` (or one of the ValueError subclasses from core) and print one
readable line, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from sketchlab import __version__, logging_setup
from sketchlab.commands import bench, case, gallery, invert, match, models
from sketchlab.errors import UserError

log = logging.getLogger(__name__)

COMMANDS = (invert, bench, models, case, gallery, match)  # in `sketchlab --help` order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sketchlab", description="Forensic face-sketch inversion and gallery search. "
        "Run without a command to open the app.")
    parser.add_argument("--version", action="version", version=f"sketchlab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, gui: Callable[[], int] | None = None) -> int:
    """Run one subcommand; with none, `gui` (the app, from `sketchlab.__main__`) or help."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    from sketchlab.core import paths

    fixed = paths.private_process()
    logging_setup.configure(verbose=args.verbose)
    if fixed:
        log.info("made %d existing user files/folders owner-only", fixed)
    if args.command is None:
        if gui is None:
            parser.print_help()
            return 0
        return gui()
    # deferred: `sketchlab --help` and the GUI start without loading torch or PIL
    from sketchlab.core.checkpoint import CheckpointError
    from sketchlab.core.imageio import ImageLoadError
    from sketchlab.core.inference import DeviceError

    try:
        return int(args.handler(args) or 0)
    except (UserError, CheckpointError, ImageLoadError, DeviceError) as exc:
        print(f"sketchlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an input no check foresaw: one line, not a traceback
        log.error("%s failed", args.command, exc_info=True, extra=logging_setup.FILE_ONLY)
        where = ("" if os.environ.get("SKETCHLAB_NO_LOG_FILE") == "1"
                 else f"; details in {logging_setup.log_file()}")
        print(f"sketchlab {args.command}: error: unexpected {type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}{where}", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
