"""Every model module of the database, imported in one place (for Alembic and tools)."""

from archive import models
from archive.completeness import models as completeness_models
from archive.consent import models as consent_models
from archive.directory import models as directory_models
from archive.integrity import models as integrity_models
from archive.media import models as media_models
from archive.outbox import models as outbox_models
from archive.retention import models as retention_models

metadata = models.Base.metadata

__all__ = [
    "completeness_models",
    "consent_models",
    "directory_models",
    "integrity_models",
    "media_models",
    "metadata",
    "models",
    "outbox_models",
    "retention_models",
]
