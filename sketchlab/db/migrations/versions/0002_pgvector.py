"""On PostgreSQL, descriptors become pgvector `vector(128)` with an HNSW index.

The server then answers top-k itself (ORDER BY vector <-> :q LIMIT k) instead of each
workstation loading every descriptor. Existing rows are converted in place, in batches,
inside the migration's transaction: a failure leaves the gallery as it was. SQLite keeps
its BLOB column (nothing to do there).

The extension must exist or be creatable: `CREATE EXTENSION vector` needs a superuser
(or the database owner on PostgreSQL >= 13 when the extension is trusted); README,
"Shared gallery", has the one line a DBA runs first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DIM = 128  # frozen here: a migration must not change when the code's constant does
HNSW_INDEX = "ix_embedding_vector_hnsw"
BATCH = 2000


def _vec_text(raw: bytes) -> str:
    return "[" + ",".join(repr(float(x)) for x in np.frombuffer(raw, "<f4")) + "]"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(f"ALTER TABLE embedding ADD COLUMN vector_new vector({DIM})")
    last = 0
    while True:
        rows = bind.execute(sa.text("SELECT id, vector FROM embedding WHERE id > :last "
                                    "ORDER BY id LIMIT :n"), {"last": last, "n": BATCH}).all()
        if not rows:
            break
        bad = [r[0] for r in rows if len(r[1]) != 4 * DIM]
        if bad:
            raise RuntimeError(f"embedding rows {bad[:5]} are not {DIM} float32 values; "
                               "remove them (sketchlab gallery remove) and migrate again")
        bind.execute(sa.text("UPDATE embedding SET vector_new = CAST(:v AS vector) "
                             "WHERE id = :id"),
                     [{"id": r[0], "v": _vec_text(bytes(r[1]))} for r in rows])
        last = rows[-1][0]
    op.drop_column("embedding", "vector")
    op.alter_column("embedding", "vector_new", new_column_name="vector", nullable=False)
    op.execute(f"CREATE INDEX {HNSW_INDEX} ON embedding USING hnsw (vector vector_l2_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
    op.add_column("embedding", sa.Column("vector_old", sa.LargeBinary(), nullable=True))
    last = 0
    while True:
        rows = bind.execute(sa.text("SELECT id, vector::text FROM embedding WHERE id > :last "
                                    "ORDER BY id LIMIT :n"), {"last": last, "n": BATCH}).all()
        if not rows:
            break
        bind.execute(sa.text("UPDATE embedding SET vector_old = :v WHERE id = :id"),
                     [{"id": r[0], "v": np.array(r[1].strip("[]").split(","), "<f4").tobytes()}
                      for r in rows])
        last = rows[-1][0]
    op.drop_column("embedding", "vector")
    op.alter_column("embedding", "vector_old", new_column_name="vector", nullable=False)
