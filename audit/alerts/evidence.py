"""An alert's evidence: masked for whoever may see the alert, unmasked only through the gate.

An alert's explanation keeps, per match, the normalised form of what matched (the full
ID-card, bank-card or mobile number, e-mail address, URL): review needs it to suppress a
false positive, and so may a reviewer. That form is chat content. Alert listings and
details carry :func:`masked_explanation` (the masked excerpt, never the normalised form);
the matches themselves are read with :func:`read_matches`, a content read through
:class:`audit.access.gate.AccessGate`: ``content:read``, a purpose, the alert's
conversation in the reader's scope, and an access-log row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from audit.access.gate import AccessGate
from audit.alerts.errors import AlertNotFoundError
from audit.alerts.models import Alert

# Match fields that hold what the message said, unmasked.
UNMASKED_MATCH_KEYS: Final = frozenset({"normalised"})
MATCHES_ACTION: Final = "content.alert_matches"


@dataclass(frozen=True)
class AlertMatch:
    message_id: int | None
    detector: str | None
    detector_version: str | None
    start: int | None
    end: int | None
    normalised: str | None
    excerpt: str | None
    detail: str | None


def masked_explanation(explanation: Mapping[str, Any]) -> dict[str, Any]:
    """The explanation as anyone who may see the alert may read it: matches keep their
    masked excerpt, span and detector, not the unmasked normalised form."""
    shown = dict(explanation)
    matches = explanation.get("matches")
    if isinstance(matches, list):
        shown["matches"] = [
            {key: value for key, value in match.items() if key not in UNMASKED_MATCH_KEYS}
            if isinstance(match, Mapping)
            else match
            for match in matches
        ]
    return shown


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_matches(gate: AccessGate, alert_id: int) -> list[AlertMatch]:
    """The alert's matches, unmasked: a content read of its conversation (``OutOfScope``
    when the reader may not open it, as for the messages themselves), logged."""
    alert = gate.session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFoundError(alert_id)
    gate.check_conversation(alert.conversation_id)
    found = [m for m in alert.explanation.get("matches") or () if isinstance(m, Mapping)]
    readable = gate.visible_messages({i for m in found if (i := _number(m.get("message_id"))) is not None})
    matches = [
        AlertMatch(
            message_id=_number(m.get("message_id")),
            detector=_text(m.get("detector")),
            detector_version=_text(m.get("detector_version")),
            start=_number(m.get("start")),
            end=_number(m.get("end")),
            normalised=_text(m.get("normalised")),
            excerpt=_text(m.get("excerpt")),
            detail=_text(m.get("detail")),
        )
        for m in found
        if _number(m.get("message_id")) in readable
    ]
    gate.record(
        MATCHES_ACTION,
        {
            "alert_id": alert.id,
            "conversation_id": alert.conversation_id,
            "message_ids": sorted({m.message_id for m in matches if m.message_id is not None}),
        },
        len(matches),
    )
    return matches
