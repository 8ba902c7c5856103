"""Alembic environment for the gallery: runs on the connection sketchlab.db.engine passes in.

Run programmatically (sketchlab.db.engine.migrate); there is no alembic.ini. To write a
new revision after changing sketchlab/db/tables.py:
    python -m sketchlab.db.revision "what changed"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from sketchlab.db.tables import Base, autogenerate_filter

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True,
                      include_object=autogenerate_filter(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
