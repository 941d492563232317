"""Alembic migrations of wecom-audit's database (SQLite and PostgreSQL)."""
