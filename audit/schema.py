"""Every model module of the audit layer, on top of the archive's (for Alembic and tools)."""

from archive.schema import metadata
from audit.accesslog import models as access_models
from audit.alerts import models as alert_models
from audit.detect import models as detect_models
from audit.detect.rules import models as rule_models
from audit.events import models as event_models
from audit.handover import models as handover_models
from audit.monitor import models as monitor_models
from audit.notify import models as notify_models
from audit.review import models as review_models
from audit.security import models as security_models

__all__ = [
    "access_models",
    "alert_models",
    "detect_models",
    "event_models",
    "handover_models",
    "metadata",
    "monitor_models",
    "notify_models",
    "review_models",
    "rule_models",
    "security_models",
]
