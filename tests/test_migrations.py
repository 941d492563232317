"""The migrations build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from archive.models import Base
from config import migrate
from tests.conftest import Database


def test_migrations_match_the_models(database: Database) -> None:
    migrate.check(database.engine)  # raises if `alembic check` finds drift
    tables = set(inspect(database.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_upgrade_is_idempotent(database: Database) -> None:
    migrate.upgrade(database.engine)
    migrate.check(database.engine)
