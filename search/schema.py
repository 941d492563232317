"""Every model module of the search layer, on top of the audit layer's (for Alembic and tools)."""

from audit.schema import metadata
from search import saved as saved_models

__all__ = ["metadata", "saved_models"]
