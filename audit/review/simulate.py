"""Rule simulation: what a draft rule set would find in the last days of stored messages.

Read-only: it compiles the draft in memory, scans stored messages in batches and counts;
it writes no hit, alert or outbox row (the CLI also rolls its transaction back). Alerts are
counted with the same grouping, windows and false-positive suppressions the detection
stage uses (``audit.alerts.from_hits``), so enabling the draft and re-scanning the same
range produces exactly the simulated hits and alerts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.models import Conversation, Message
from audit.accesslog import log as access_log
from audit.alerts.from_hits import ScannedMessage, alert_requests
from audit.alerts.masking import masked_excerpt
from audit.detect.engine import build_contexts, compile_engine, load_rules
from audit.detect.hits import Severity
from audit.detect.rules.spec import RuleSet
from audit.review.service import suppressions
from audit.security.principal import Principal
from audit.security.scope import resolve_scope, visible_clause
from config.settings import AlertSettings, DetectionSettings

SIMULATION_BATCH_MESSAGES = 2000
SAMPLES_PER_RULE = 5


@dataclass(frozen=True, slots=True)
class SimulatedHit:
    message_id: int
    msgtime: datetime
    conversation_id: int | None
    rule: str
    severity: str
    normalised: str | None
    excerpt: str


@dataclass
class RuleSimulation:
    ruleset_version: str
    since: datetime
    until: datetime
    messages_scanned: int = 0
    hits_by_rule: Counter[str] = field(default_factory=Counter)
    messages_by_rule: Counter[str] = field(default_factory=Counter)
    alerts_by_rule: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[SimulatedHit]] = field(default_factory=lambda: defaultdict(list))


def simulate_rules(
    session: Session,
    draft: RuleSet,
    *,
    corp_id: str,
    since: datetime,
    until: datetime,
    detection: DetectionSettings,
    alerts: AlertSettings,
    batch_messages: int = SIMULATION_BATCH_MESSAGES,
    samples_per_rule: int = SAMPLES_PER_RULE,
    progress: Callable[[int, int], None] | None = None,
) -> RuleSimulation:
    """Scan ``corp_id``'s messages in [since, until) with ``draft``; count, sample, write nothing.

    ``progress(done, total)`` is called after every batch.
    """
    engine = compile_engine(draft, detection)
    result = RuleSimulation(draft.version, since, until)
    in_range = (Message.corp_id == corp_id, Message.msgtime >= since, Message.msgtime < until)
    total = int(session.scalar(select(func.count(Message.id)).where(*in_range)) or 0)
    suppressed = suppressions(session, corp_id)
    alert_keys: dict[str, set[str]] = defaultdict(set)
    last_id = 0
    while True:
        ids = list(
            session.scalars(
                select(Message.id).where(*in_range, Message.id > last_id).order_by(Message.id).limit(batch_messages)
            )
        )
        if not ids:
            break
        last_id = ids[-1]
        contexts = build_contexts(session, ids)
        hits = engine.scan(contexts)
        scanned = [
            ScannedMessage(c.message_id or 0, c.corp_id, c.conversation_id, c.msgtime, c.text or "") for c in contexts
        ]
        for message, message_hits in zip(scanned, hits, strict=True):
            rules_here = set()
            for hit in message_hits:
                result.hits_by_rule[hit.rule] += 1
                rules_here.add(hit.rule)
                if len(result.samples[hit.rule]) < samples_per_rule:
                    result.samples[hit.rule].append(
                        SimulatedHit(
                            message.message_id,
                            message.msgtime,
                            message.conversation_id,
                            hit.rule,
                            Severity(hit.severity).value,
                            hit.normalised,
                            masked_excerpt(message.text, hit.start, hit.end),
                        )
                    )
            result.messages_by_rule.update(rules_here)
        for request in alert_requests(
            scanned,
            hits,
            window_minutes=alerts.dedupe_window_minutes,
            min_severity=Severity(alerts.min_severity),
            suppressed=suppressed,
        ):
            alert_keys[request.rule].add(request.dedupe_key)
        result.messages_scanned += len(contexts)
        if progress is not None:
            progress(result.messages_scanned, total)
    result.alerts_by_rule = Counter({rule: len(keys) for rule, keys in alert_keys.items()})
    return result


def simulate_for(
    session: Session,
    principal: Principal,
    draft: RuleSet,
    *,
    corp_id: str,
    days: int,
    until: datetime,
    detection: DetectionSettings,
    alerts: AlertSettings,
) -> RuleSimulation:
    """``simulate_rules`` over the last ``days`` days as ``principal`` asks for it (the API and
    the console): counts cover the whole corp (a draft is judged by its true volume), but the
    masked samples kept are only those from conversations in the principal's data scope.

    Rolls the session back (a simulation writes nothing) and then appends the one
    ``admin.rules.simulate`` access-log row, which the caller's transaction commits."""
    result = simulate_rules(
        session,
        draft,
        corp_id=corp_id,
        since=until - timedelta(days=days),
        until=until,
        detection=detection,
        alerts=alerts,
    )
    sampled = {hit.conversation_id for hits in result.samples.values() for hit in hits if hit.conversation_id}
    visible = set(
        session.scalars(
            select(Conversation.id).where(
                Conversation.id.in_(sampled), visible_clause(resolve_scope(session, principal))
            )
        )
    )
    session.rollback()
    access_log.append_admin(
        session,
        principal,
        "admin.rules.simulate",
        {"groups": sorted(group.name for group in draft.groups), "corp_id": corp_id, "days": days},
        result.messages_scanned,
        until,
    )
    samples: dict[str, list[SimulatedHit]] = defaultdict(list)
    for rule, hits in result.samples.items():
        samples[rule] = [hit for hit in hits if hit.conversation_id in visible]
    return replace(result, samples=samples)


def simulate_with_current(
    session: Session,
    drafts: RuleSet,
    *,
    corp_id: str,
    days: int,
    until: datetime,
    detection: DetectionSettings,
    alerts: AlertSettings,
    samples_per_rule: int = SAMPLES_PER_RULE,
    progress: Callable[[int, int], None] | None = None,
) -> RuleSimulation:
    """``wecom-audit alerts simulate``: the draft groups added to the enabled rules in force
    (a draft replaces a group of its name), over the last ``days`` days of the whole corp.
    Rolls the session back: a simulation writes nothing."""
    draft = load_rules(session, corp_id)
    for group in drafts.groups:
        draft = draft.with_group(group)
    try:
        return simulate_rules(
            session,
            draft,
            corp_id=corp_id,
            since=until - timedelta(days=days),
            until=until,
            detection=detection,
            alerts=alerts,
            samples_per_rule=samples_per_rule,
            progress=progress,
        )
    finally:
        session.rollback()
