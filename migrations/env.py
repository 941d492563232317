"""Alembic environment: runs migrations on the engine that config.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from config.database import create_db_engine
from config.settings import load_settings
from search.schema import metadata  # the top data layer: imports every model below it

target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url") or load_settings().database_url
    with create_db_engine(url).connect() as new_connection:
        _run(new_connection)
