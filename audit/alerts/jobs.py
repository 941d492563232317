"""The scheduled detection job: the stage, then notification delivery (thin wrapper)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from archive.clock import utcnow
from audit.notify.service import DeliveryReport, deliver_due
from audit.stage import DetectionStage, StageReport
from config.database import session_scope
from config.settings import NotifySettings


def detect_and_notify(
    stage: DetectionStage, session_factory: sessionmaker[Session], notify: NotifySettings
) -> tuple[StageReport, DeliveryReport]:
    """One tick: drain (part of) the detection queue, then send what is due. Delivery runs
    in its own transaction, after the stage's are committed, so a slow receiver never
    holds a detection batch open."""
    report = stage.run(session_factory)
    with session_scope(session_factory) as session:
        delivery = deliver_due(session, notify, utcnow())
    return report, delivery
