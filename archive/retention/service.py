"""Retention policies and legal holds: the rules for changing them.

Every mutating call takes the :class:`Actor` making it and writes one admin-history entry
in the same transaction (the caller's; nothing here commits). The rules:

- Anything that can make a message disposable sooner needs an admin: creating a policy
  (it may cover messages no policy covered), shortening a policy (admin and a reason),
  locking one (irreversible). Lengthening a policy is open to everyone.
- A locked policy cannot be shortened by anyone, admins included.
- Anyone may place a legal hold or widen its window; releasing or narrowing one needs an
  admin and a non-empty reason.
- Every change also bumps the corp's rules revision under its lock, so a disposition
  batch never works from rules older than the last committed change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from archive import repository as archive_repository
from archive.clock import Clock, utcnow
from archive.directory import repository as directory_repository
from archive.retention import repository
from archive.retention.errors import (
    HoldChangeRefusedError,
    InvalidRetentionRuleError,
    PolicyChangeRefusedError,
    RetentionNotFoundError,
    RetentionPolicyLockedError,
)
from archive.retention.models import (
    HOLD_NAME_LENGTH,
    POLICY_NAME_LENGTH,
    DispositionRun,
    LegalHold,
    RetentionAction,
    RetentionHistoryEntry,
    RetentionPolicy,
)
from archive.retention.rules import SUBJECT_KINDS
from archive.retention.views import (
    HistoryView,
    HoldView,
    PolicyScope,
    PolicyView,
    RunView,
    history_view,
    hold_view,
    policy_view,
    run_view,
)

MAX_RETAIN_DAYS = 36_525  # a century: anything longer is a typo, not a policy
DAYS_PER_YEAR = 365


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change. The CLI passes the OS user as an admin; the web app its roles."""

    name: str
    is_admin: bool


def years_to_days(years: int) -> int:
    """Days that cover ``years`` calendar years whatever the leap days (never fewer)."""
    return years * DAYS_PER_YEAR + math.ceil(years / 4)


def retain_days_of(days: int | None, years: int | None) -> int:
    """A retention period given as exactly one of days and years, in days."""
    if (days is None) == (years is None):
        raise InvalidRetentionRuleError("give exactly one of days and years")
    return days if days is not None else years_to_days(years or 0)


@dataclass(frozen=True, slots=True)
class CorpRetention:
    """A corp's retention at a glance: its policies, active holds and latest disposition runs."""

    corp_id: str
    policies: list[PolicyView]
    holds: list[HoldView]
    runs: list[RunView]


def corp_retention(session: Session, corp_id: str, *, runs: int = 5, clock: Clock = utcnow) -> CorpRetention:
    """What the settings page shows of one corp's retention."""
    service = RetentionService(session, corp_id, clock)
    return CorpRetention(corp_id, service.policies(), service.holds(), service.runs(limit=runs))


class RetentionService:
    """Policies, holds and their history for one corp, inside the caller's transaction."""

    def __init__(self, session: Session, corp_id: str, clock: Clock = utcnow) -> None:
        self.session = session
        self.corp_id = corp_id
        self.clock = clock

    # --- policies -----------------------------------------------------------------------

    def create_policy(
        self, actor: Actor, scope: PolicyScope, retain_days: int, *, name: str | None = None, reason: str | None = None
    ) -> PolicyView:
        """A new policy (admins only: it may make messages disposable that no policy covered)."""
        _check_days(retain_days)
        if not actor.is_admin:
            raise PolicyChangeRefusedError(None, f"{actor.name} may not create retention policies: only an admin may")
        name = (name or scope.label).strip()
        if not 1 <= len(name) <= POLICY_NAME_LENGTH:
            raise InvalidRetentionRuleError(
                f"a policy name must be 1 to {POLICY_NAME_LENGTH} characters", hint="leave --name out to use the scope"
            )
        if scope.kind == "department":
            parents = directory_repository.department_parents(self.session, self.corp_id)
            if int(scope.value) not in parents:
                raise InvalidRetentionRuleError(
                    f"department {scope.value} is not in the corp's directory",
                    hint="sync the directory first, and check the department id",
                )
        now = self._lock()
        if repository.policy_by_scope_or_name(self.session, self.corp_id, scope.kind, scope.value, name):
            raise InvalidRetentionRuleError(
                f"a policy for {scope.label} or named {name!r} exists already",
                hint="change its period with `retention policy set-days` instead",
            )
        policy = repository.add_policy(
            self.session,
            RetentionPolicy(
                corp_id=self.corp_id,
                name=name,
                scope_kind=scope.kind,
                scope_value=scope.value,
                retain_days=retain_days,
                locked=False,
                created_at=now,
                created_by=actor.name,
                updated_at=now,
                updated_by=actor.name,
            ),
        )
        self._record(
            actor, RetentionAction.POLICY_CREATED, now, policy_id=policy.id, after=_policy_state(policy), reason=reason
        )
        return policy_view(policy)

    def set_policy_days(
        self, actor: Actor, policy_id: int, retain_days: int, *, reason: str | None = None
    ) -> PolicyView:
        """Lengthen (anyone) or shorten (an admin with a reason; never a locked policy)."""
        _check_days(retain_days)
        now = self._lock()
        policy = self._policy(policy_id)
        if retain_days < policy.retain_days:
            if policy.locked:
                raise RetentionPolicyLockedError(policy.id, policy.name, policy.retain_days)
            if not actor.is_admin:
                raise PolicyChangeRefusedError(
                    policy.id, f"{actor.name} may not shorten retention policy {policy.name!r}: only an admin may"
                )
            if not _given(reason):
                raise PolicyChangeRefusedError(policy.id, f"shortening retention policy {policy.name!r} needs a reason")
        before = _policy_state(policy)
        policy.retain_days = retain_days
        policy.updated_at, policy.updated_by = now, actor.name
        self.session.flush()
        self._record(
            actor,
            RetentionAction.POLICY_RETENTION_CHANGED,
            now,
            policy_id=policy.id,
            before=before,
            after=_policy_state(policy),
            reason=reason,
        )
        return policy_view(policy)

    def lock_policy(self, actor: Actor, policy_id: int, *, reason: str | None = None) -> PolicyView:
        """Lock a policy for good (admins only): afterwards nobody can shorten it."""
        now = self._lock()
        policy = self._policy(policy_id)
        if not actor.is_admin:
            raise PolicyChangeRefusedError(
                policy.id, f"{actor.name} may not lock retention policies: only an admin may"
            )
        if policy.locked:
            return policy_view(policy)
        before = _policy_state(policy)
        policy.locked = True
        policy.updated_at, policy.updated_by = now, actor.name
        self.session.flush()
        self._record(
            actor,
            RetentionAction.POLICY_LOCKED,
            now,
            policy_id=policy.id,
            before=before,
            after=_policy_state(policy),
            reason=reason,
        )
        return policy_view(policy)

    def policies(self) -> list[PolicyView]:
        return [policy_view(policy) for policy in repository.policies(self.session, self.corp_id)]

    # --- holds --------------------------------------------------------------------------

    def create_hold(
        self,
        actor: Actor,
        subjects: Sequence[tuple[str, str]] = (),
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        case: str | None = None,
        reason: str | None = None,
    ) -> HoldView:
        """Place a legal hold (anyone may).

        Without ``case``: one subject (an employee, customer or room hold) or none and a
        window (a date-range hold). With ``case``: a named hold over several subjects. The
        window [starts_at, ends_at) narrows any hold; a NULL bound is open.
        """
        cleaned = sorted({(kind, value.strip()) for kind, value in subjects})
        for kind, value in cleaned:
            if kind not in SUBJECT_KINDS or not value:
                raise InvalidRetentionRuleError(
                    f"a hold subject must be one of {', '.join(SUBJECT_KINDS)} with an id, not {kind}:{value!r}"
                )
        _check_window(starts_at, ends_at)
        case = case.strip() if case else None
        if case and len(case) > HOLD_NAME_LENGTH:
            raise InvalidRetentionRuleError(f"a case reference must be at most {HOLD_NAME_LENGTH} characters")
        if case:
            kind, name = "case", case
            if not cleaned and starts_at is None and ends_at is None:
                raise InvalidRetentionRuleError(
                    f"case hold {case!r} lists nothing to hold", hint="add --employee, --customer, --room or dates"
                )
        elif len(cleaned) == 1:
            kind, name = cleaned[0][0], f"{cleaned[0][0]}:{cleaned[0][1]}"[:HOLD_NAME_LENGTH]
        elif not cleaned:
            if starts_at is None and ends_at is None:
                raise InvalidRetentionRuleError(
                    "a hold needs a subject or a date range", hint="give --employee, --customer, --room or --from/--to"
                )
            kind, name = "date_range", "date range"
        else:
            raise InvalidRetentionRuleError(
                "a hold over several subjects is a case", hint="name it with --case REFERENCE"
            )
        now = self._lock()
        hold = repository.add_hold(
            self.session,
            LegalHold(
                corp_id=self.corp_id,
                name=name,
                kind=kind,
                starts_at=starts_at,
                ends_at=ends_at,
                created_at=now,
                created_by=actor.name,
                released_at=None,
                released_by=None,
                release_reason=None,
            ),
            cleaned,
        )
        self._record(
            actor, RetentionAction.HOLD_CREATED, now, hold_id=hold.id, after=_hold_state(hold, cleaned), reason=reason
        )
        return hold_view(hold, cleaned)

    def change_hold_window(
        self,
        actor: Actor,
        hold_id: int,
        *,
        starts_at: datetime | None,
        ends_at: datetime | None,
        reason: str | None = None,
    ) -> HoldView:
        """Set a hold's window. Widening is open to everyone; narrowing it at either end
        (shortening the hold) needs an admin and a reason."""
        _check_window(starts_at, ends_at)
        now = self._lock()
        hold = self._active_hold(hold_id)
        subjects = self._subjects(hold.id)
        narrower = (starts_at is not None and (hold.starts_at is None or starts_at > hold.starts_at)) or (
            ends_at is not None and (hold.ends_at is None or ends_at < hold.ends_at)
        )
        if narrower:
            self._require_admin_and_reason(actor, hold, "shorten", reason)
        before = _hold_state(hold, subjects)
        hold.starts_at, hold.ends_at = starts_at, ends_at
        self.session.flush()
        self._record(
            actor,
            RetentionAction.HOLD_WINDOW_CHANGED,
            now,
            hold_id=hold.id,
            before=before,
            after=_hold_state(hold, subjects),
            reason=reason,
        )
        return hold_view(hold, subjects)

    def release_hold(self, actor: Actor, hold_id: int, *, reason: str | None) -> HoldView:
        """Release a hold (an admin with a non-empty reason only). Its messages become
        disposable again at the next disposition run, if their retention has run out."""
        now = self._lock()
        hold = self._active_hold(hold_id)
        self._require_admin_and_reason(actor, hold, "release", reason)
        subjects = self._subjects(hold.id)
        before = _hold_state(hold, subjects)
        hold.released_at, hold.released_by, hold.release_reason = now, actor.name, _cleaned(reason)
        self.session.flush()
        self._record(
            actor,
            RetentionAction.HOLD_RELEASED,
            now,
            hold_id=hold.id,
            before=before,
            after=_hold_state(hold, subjects),
            reason=reason,
        )
        return hold_view(hold, subjects)

    def holds(self, *, include_released: bool = False) -> list[HoldView]:
        rows = repository.holds(self.session, self.corp_id, active_only=not include_released)
        subjects = repository.hold_subjects(self.session, [hold.id for hold in rows])
        return [hold_view(hold, subjects.get(hold.id, [])) for hold in rows]

    # --- history ------------------------------------------------------------------------

    def history(self, *, limit: int = 100) -> list[HistoryView]:
        """The newest entries first."""
        return [history_view(entry) for entry in repository.history(self.session, self.corp_id, limit)]

    def runs(self, *, limit: int = 20) -> list[RunView]:
        """The last disposition runs, newest first (a killed run whose lease expired shows as interrupted)."""
        archive_repository.close_interrupted_runs(
            self.session, DispositionRun, self.corp_id, repository.lease_name(self.corp_id), self.clock()
        )
        recorded = repository.runs(self.session, self.corp_id, limit)
        by_policy = repository.run_policy_counts(self.session, [run.id for run in recorded])
        return [run_view(run, by_policy.get(run.id, {})) for run in recorded]

    # --- helpers ------------------------------------------------------------------------

    def _lock(self) -> datetime:
        """Take the corp's rules lock before reading what a change depends on."""
        now = self.clock()
        repository.lock_rules(self.session, self.corp_id, now)
        return now

    def _policy(self, policy_id: int) -> RetentionPolicy:
        policy = repository.get_policy(self.session, self.corp_id, policy_id)
        if policy is None:
            raise RetentionNotFoundError("policy", policy_id)
        return policy

    def _active_hold(self, hold_id: int) -> LegalHold:
        hold = repository.get_hold(self.session, self.corp_id, hold_id)
        if hold is None:
            raise RetentionNotFoundError("hold", hold_id)
        if hold.released_at is not None:
            raise HoldChangeRefusedError(hold.id, f"legal hold {hold.id} ({hold.name!r}) was released already")
        return hold

    def _subjects(self, hold_id: int) -> list[tuple[str, str]]:
        return repository.hold_subjects(self.session, [hold_id]).get(hold_id, [])

    @staticmethod
    def _require_admin_and_reason(actor: Actor, hold: LegalHold, verb: str, reason: str | None) -> None:
        if not actor.is_admin:
            raise HoldChangeRefusedError(
                hold.id, f"{actor.name} may not {verb} legal hold {hold.id} ({hold.name!r}): only an admin may"
            )
        if not _given(reason):
            raise HoldChangeRefusedError(hold.id, f"to {verb} legal hold {hold.id} ({hold.name!r}) give a reason")

    def _record(
        self,
        actor: Actor,
        action: RetentionAction,
        now: datetime,
        *,
        policy_id: int | None = None,
        hold_id: int | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        repository.bump_revision(self.session, self.corp_id, now)
        repository.add_history(
            self.session,
            RetentionHistoryEntry(
                corp_id=self.corp_id,
                at=now,
                actor=actor.name,
                actor_is_admin=actor.is_admin,
                action=action.value,
                policy_id=policy_id,
                hold_id=hold_id,
                before=before,
                after=after,
                reason=_cleaned(reason),
            ),
        )


def _given(reason: str | None) -> bool:
    return _cleaned(reason) is not None


def _cleaned(reason: str | None) -> str | None:
    text = (reason or "").strip()
    return text or None


def _check_days(retain_days: int) -> None:
    if not 1 <= retain_days <= MAX_RETAIN_DAYS:
        raise InvalidRetentionRuleError(
            f"a retention period must be 1 to {MAX_RETAIN_DAYS} days, not {retain_days}",
            hint="give --days N or --years N",
        )


def _check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    for bound in (starts_at, ends_at):
        if bound is not None and bound.tzinfo is None:
            raise InvalidRetentionRuleError("hold dates must carry a time zone")
    if starts_at is not None and ends_at is not None and starts_at >= ends_at:
        raise InvalidRetentionRuleError("a hold's start must come before its end", hint="check --from and --to")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _policy_state(policy: RetentionPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "scope_kind": policy.scope_kind,
        "scope_value": policy.scope_value,
        "retain_days": policy.retain_days,
        "locked": policy.locked,
    }


def _hold_state(hold: LegalHold, subjects: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "name": hold.name,
        "kind": hold.kind,
        "subjects": [list(subject) for subject in subjects],
        "starts_at": _iso(hold.starts_at),
        "ends_at": _iso(hold.ends_at),
        "released_at": _iso(hold.released_at),
    }
