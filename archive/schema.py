"""Every model module of the database, imported in one place (for Alembic and tools)."""

from archive import models
from archive.media import models as media_models

metadata = models.Base.metadata

__all__ = ["media_models", "metadata", "models"]
