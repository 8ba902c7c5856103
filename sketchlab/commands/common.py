"""What several commands share: the `--db` option and opening the gallery it names."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sketchlab.errors import UserError

if TYPE_CHECKING:
    from sketchlab.db.gallery import Gallery


def add_db_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None, metavar="URL",
                   help="SQLAlchemy URL or SQLite file (default: $SKETCHLAB_DB or the "
                   "gallery in the user data folder)")


def open_gallery(args: argparse.Namespace) -> Gallery:
    """The gallery `--db` names; a database that cannot be opened is a UserError."""
    # deferred: `sketchlab --help` starts without loading SQLAlchemy
    from sketchlab.db.engine import GalleryDBError
    from sketchlab.db.gallery import open_gallery as _open_gallery

    try:
        g = _open_gallery(args.db)
    except GalleryDBError as exc:
        raise UserError(str(exc)) from exc
    if g.backup is not None:
        print(f"gallery schema upgraded; backup of the old database: {g.backup}",
              file=sys.stderr)
    return g
