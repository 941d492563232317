"""The retention rules as plain values, and the decision for one message.

A message's effective retention is the LONGEST of the policies that apply to it: the
corp-wide policy, the policies of the departments of its internal participants (sender
and recipients that are directory members; a department policy covers sub-departments)
and the policy of its conversation's chat type. A message no policy applies to is never
disposed. A message past its retention is still kept while any active legal hold covers it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

CHAT_TYPES = ("single_external", "single_internal", "group")
SUBJECT_KINDS = ("employee", "customer", "room")


def chat_type_of(kind: str | None, has_external: bool | None) -> str | None:
    """The chat type of a conversation (``archive.models.Conversation`` kind + has_external).

    Messages without a conversation (``switch`` records) or in an unusual one have none.
    """
    if kind == "group":
        return "group"
    if kind == "single":
        return "single_external" if has_external else "single_internal"
    return None


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the rules look at in a message (never its content)."""

    id: int
    msgtime: datetime
    sender: str
    recipients: frozenset[str]
    roomid: str | None
    chat_type: str | None
    departments: frozenset[int]  # departments of its internal participants

    def involves(self, wecom_id: str) -> bool:
        return wecom_id == self.sender or wecom_id in self.recipients


@dataclass(frozen=True, slots=True)
class PolicyRule:
    id: int
    name: str
    scope_kind: str
    scope_value: str
    retain_days: int
    departments: frozenset[int]  # a department policy's department and all below it

    def applies_to(self, facts: MessageFacts) -> bool:
        if self.scope_kind == "corp":
            return True
        if self.scope_kind == "department":
            return not self.departments.isdisjoint(facts.departments)
        return self.scope_kind == "chat_type" and facts.chat_type == self.scope_value


@dataclass(frozen=True, slots=True)
class HoldRule:
    id: int
    starts_at: datetime | None
    ends_at: datetime | None
    employees: frozenset[str]
    customers: frozenset[str]
    rooms: frozenset[str]

    def covers(self, facts: MessageFacts) -> bool:
        if self.starts_at is not None and facts.msgtime < self.starts_at:
            return False
        if self.ends_at is not None and facts.msgtime >= self.ends_at:
            return False
        if not (self.employees or self.customers or self.rooms):
            return True  # a date-range hold: the window is the whole criterion
        return (
            any(facts.involves(userid) for userid in self.employees)
            or any(facts.involves(external) for external in self.customers)
            or (facts.roomid is not None and facts.roomid in self.rooms)
        )


class Verdict(enum.Enum):
    NO_POLICY = "no_policy"  # kept forever
    RETAINED = "retained"  # its retention has not run out
    HELD = "held"  # past its retention, kept by a legal hold
    DISPOSE = "dispose"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    policy: PolicyRule | None  # the policy that sets its retention (the longest applicable)


@dataclass(frozen=True, slots=True)
class RetentionRules:
    revision: int
    policies: tuple[PolicyRule, ...]
    holds: tuple[HoldRule, ...]  # active holds only

    def shortest_retention(self) -> timedelta | None:
        """Nothing younger than this can be past its retention."""
        if not self.policies:
            return None
        return timedelta(days=min(policy.retain_days for policy in self.policies))

    def governing_policy(self, facts: MessageFacts) -> PolicyRule | None:
        """The longest applicable policy (the lowest id among equals), or None."""
        applicable = [policy for policy in self.policies if policy.applies_to(facts)]
        if not applicable:
            return None
        return min(applicable, key=lambda policy: (-policy.retain_days, policy.id))

    def decide(self, facts: MessageFacts, now: datetime) -> Decision:
        """Retention runs out once msgtime < now − retain_days."""
        policy = self.governing_policy(facts)
        if policy is None:
            return Decision(Verdict.NO_POLICY, None)
        if facts.msgtime >= now - timedelta(days=policy.retain_days):
            return Decision(Verdict.RETAINED, policy)
        if any(hold.covers(facts) for hold in self.holds):
            return Decision(Verdict.HELD, policy)
        return Decision(Verdict.DISPOSE, policy)
