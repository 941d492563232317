"""The completeness migration builds exactly the ``ArchiveAlert`` model, on both databases.

(``tests/test_migrations.py`` checks the whole schema once ``archive.schema`` imports the
model; this test needs only the model itself.)"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from archive.completeness.models import ArchiveAlert
from tests.conftest import Database

TABLE = ArchiveAlert.__tablename__


def _ours(obj: Any, name: str | None, kind: str, _reflected: bool, _compare_to: Any) -> bool:
    return (name if kind == "table" else getattr(getattr(obj, "table", None), "name", None)) == TABLE


def test_the_migration_matches_the_alert_model(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _parent: kind != "table" or name == TABLE,
                "include_object": _ours,
            },
        )
        assert compare_metadata(context, ArchiveAlert.metadata) == []
