"""Developer helper: autogenerate a migration from sketchlab.db.tables against a scratch
database.

    python -m sketchlab.db.revision "add subject notes"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from sketchlab.db.engine import _alembic_config, make_engine, migrate


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'scratch.sqlite'}")
        migrate(engine)
        with engine.begin() as conn:
            command.revision(_alembic_config(conn), message=argv[0], autogenerate=True)
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
