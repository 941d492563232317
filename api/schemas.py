"""msgspec structs at the API edge (no ORM objects leave through the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from archive.completeness.alerts import AlertSnapshot
from archive.completeness.service import GapSummary, LagReport, SeqGap
from archive.consent.service import ConsentCoverage
from archive.directory.names import Name, Names
from search.backend import SearchHit

# A database id (signed 64-bit, positive).
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class LastPull(msgspec.Struct, frozen=True):
    status: str
    started_at: datetime
    finished_at: datetime | None
    stored: int
    quarantined: int
    error_code: str | None


class ArchiveStatusView(msgspec.Struct, frozen=True):
    corp_id: str
    messages: int
    envelopes: int
    first_seq: int | None
    cursor: int
    newest_msgtime: datetime | None
    lag_s: float | None
    quarantined: int
    unknown_types: int
    conversations: int
    media: dict[str, int]
    last_pull: LastPull | None


class Health(msgspec.Struct, frozen=True):
    status: str


class CompletenessView(msgspec.Struct, frozen=True):
    """Gaps, lag (messages and media) and open alerts of one corp; see archive.completeness."""

    corp_id: str
    gaps: GapSummary
    first_gaps: list[SeqGap]
    lag: LagReport
    open_alerts: list[AlertSnapshot]
    # Archived member–customer pairs by consent: WeCom archives nothing of a pair until the
    # customer agrees, so quiet pairs without consent are not data loss (archive.consent).
    consent: ConsentCoverage | None = None


# --- authentication and administration ------------------------------------------------------


class LoginRequest(msgspec.Struct, frozen=True):
    username: str
    password: str


class SessionView(msgspec.Struct, frozen=True):
    username: str
    role: str
    permissions: list[str]
    via: str
    purpose: str | None = None
    # Cookie sessions: echo this in X-CSRF-Token on POST/PUT/PATCH/DELETE.
    csrf_token: str | None = None
    expires_at: datetime | None = None


class PurposeRequest(msgspec.Struct, frozen=True):
    purpose: str


class UserCreate(msgspec.Struct, frozen=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(max_length=1024)]
    role: str
    display_name: Annotated[str, msgspec.Meta(max_length=128)] = ""
    scope_all: bool = False
    # [corp_id, dept_id] pairs: the user reads chats of these department subtrees.
    departments: list[tuple[Annotated[str, msgspec.Meta(max_length=64)], Id]] = msgspec.field(default_factory=list)
    # The WeCom member the account belongs to: it is granted at once the conversations the
    # member inherited through handover cases, and later ones as they are granted.
    wecom_userid: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    # The corp of wecom_userid (default: the configured one).
    corp_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None


class UserUpdate(msgspec.Struct, frozen=True):
    role: str | None = None
    scope_all: bool | None = None
    departments: list[tuple[Annotated[str, msgspec.Meta(max_length=64)], Id]] | None = None


class PasswordChange(msgspec.Struct, frozen=True):
    password: Annotated[str, msgspec.Meta(max_length=1024)]


class UserOut(msgspec.Struct, frozen=True):
    id: int
    username: str
    display_name: str
    role: str
    scope_all: bool
    departments: list[tuple[str, int]]
    disabled: bool
    created_at: datetime


class RoleOut(msgspec.Struct, frozen=True):
    role: str
    permissions: list[str]


class TokenCreate(msgspec.Struct, frozen=True):
    name: str
    permissions: list[str]
    # Default: the auth.token_default_ttl_days setting.
    ttl_days: Annotated[int, msgspec.Meta(ge=1, le=366)] | None = None
    # Administrators may create tokens for other users.
    username: str | None = None


class TokenOut(msgspec.Struct, frozen=True):
    id: int
    username: str
    name: str
    prefix: str
    permissions: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(msgspec.Struct, frozen=True):
    token: TokenOut
    # Shown once: only its SHA-256 is stored.
    secret: str


class ProtectRequest(msgspec.Struct, frozen=True):
    reason: str
    officers: list[str]


class ProtectedOut(msgspec.Struct, frozen=True):
    corp_id: str
    userid: str
    officers: list[str]


class GrantRequest(msgspec.Struct, frozen=True):
    conversation_ids: Annotated[list[Id], msgspec.Meta(max_length=10_000)]
    reason: str


class GrantResult(msgspec.Struct, frozen=True):
    granted: int


class GrantOut(msgspec.Struct, frozen=True):
    conversation_id: int
    reason: str
    granted_by: str
    granted_at: datetime


class ProtectedPersonOut(msgspec.Struct, frozen=True):
    corp_id: str
    userid: str
    reason: str
    officers: list[str]
    created_at: datetime


# --- content ---------------------------------------------------------------------------------


class NameOut(msgspec.Struct, frozen=True):
    """A WeCom id with its display name (``archive.directory.names``). ``synced`` is False
    while the directory does not know the id yet: then ``name`` is the id itself."""

    id: str
    name: str
    kind: str  # member / customer / group / robot
    synced: bool

    @classmethod
    def of(cls, name: Name) -> NameOut:
        return cls(name.id, name.label, name.kind, name.synced)


class ConversationOut(msgspec.Struct, frozen=True):
    id: int
    corp_id: str
    kind: str
    roomid: str | None
    participants: list[str]
    has_external: bool
    first_msg_at: datetime
    last_msg_at: datetime
    message_count: int
    # Display names (additive): the room's, and one per participant in the same order.
    room_name: str | None = None
    participant_names: list[NameOut] = msgspec.field(default_factory=list)


class ConversationPage(msgspec.Struct, frozen=True):
    items: list[ConversationOut]
    next_cursor: str | None


class MessageOut(msgspec.Struct, frozen=True):
    id: int
    msgid: str
    corp_id: str
    conversation_id: int | None
    seq: int
    msgtime: datetime
    action: str
    msgtype: str
    sender: str
    recipients: list[str]
    text: str | None
    sender_name: str | None = None
    sender_synced: bool = False


class MessagePage(msgspec.Struct, frozen=True):
    items: list[MessageOut]
    next_cursor: str | None


class MediaLink(msgspec.Struct, frozen=True):
    task_id: int
    status: str
    extension: str
    expected_size: int
    content_type: str | None
    # Set once the file is downloaded; fetching it is logged like any content read.
    url: str | None


class MessageDetailOut(msgspec.Struct, frozen=True):
    message: MessageOut
    body: dict[str, Any]
    media: list[MediaLink]


class ConversationContextOut(msgspec.Struct, frozen=True):
    conversation: ConversationOut
    anchor_message_id: int
    messages: list[MessageOut]


class SearchHitOut(msgspec.Struct, frozen=True):
    message_id: int
    msgid: str
    corp_id: str
    conversation_id: int | None
    roomid: str | None
    msgtime: datetime
    sender: str
    msgtype: str
    text: str
    highlights: list[tuple[int, int]]
    score: float | None
    sender_name: str | None = None
    sender_synced: bool = False
    room_name: str | None = None


def search_hit_out(hit: SearchHit, names: Names) -> SearchHitOut:
    """A search hit with its sender's and room's names (the API's and the export's shape)."""
    sender = names.of(hit.sender)
    return msgspec.structs.replace(
        msgspec.convert(hit, SearchHitOut, from_attributes=True),
        sender_name=sender.label,
        sender_synced=sender.synced,
        room_name=names.label(hit.roomid) if hit.roomid else None,
    )


class SearchFacetValue(msgspec.Struct, frozen=True):
    value: str
    count: int
    # For the sender and room facets: the value's display name.
    name: str | None = None


class SearchResultOut(msgspec.Struct, frozen=True):
    hits: list[SearchHitOut]
    total: int
    next_cursor: str | None
    facets: dict[str, list[SearchFacetValue]]


class SavedSearchIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A query in the search language to keep under a name (the name's previous query is
    replaced)."""

    name: str
    query: str


class SavedSearchOut(msgspec.Struct, frozen=True):
    id: int
    name: str
    query: str
    created_at: datetime


# --- access log and operations ------------------------------------------------------------


class AccessLogEntryOut(msgspec.Struct, frozen=True):
    position: int
    occurred_at: datetime
    actor: str
    actor_role: str
    via: str
    action: str
    purpose: str | None
    target: dict[str, Any]
    result_count: int
    outcome: str
    request_id: str | None
    # The API token the request was made with, if any.
    token_id: int | None
    record_hash: str


class AccessLogPage(msgspec.Struct, frozen=True):
    items: list[AccessLogEntryOut]
    next_cursor: str | None


class AccessLogVerifyOut(msgspec.Struct, frozen=True):
    ok: bool
    checked: int
    head_position: int
    problems: list[str]
    checkpoints_checked: int = 0
    # The row from which the log is HMAC-signed (keyed mode), if it is.
    keyed_from: int | None = None


class AccessLogCheckpointOut(msgspec.Struct, frozen=True):
    position: int
    head_hash: str
    keyed_from: int | None
    created_at: datetime


class AccessLogCheckpointed(msgspec.Struct, frozen=True):
    report: AccessLogVerifyOut
    # None when the chain is broken (then nothing is checkpointed), no anchor file is
    # configured or the head has not moved since the last checkpoint.
    checkpoint: AccessLogCheckpointOut | None


class ReadyCheck(msgspec.Struct, frozen=True):
    name: str
    ok: bool
    detail: str


class Readiness(msgspec.Struct, frozen=True):
    status: str
    checks: list[ReadyCheck]


class ProblemField(msgspec.Struct, frozen=True):
    key: str | None = None
    message: str | None = None
    source: str | None = None


class Problem(msgspec.Struct, frozen=True):
    """RFC 9457 problem details, as every error of this API is sent."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    hint: str | None = None
    # The 0-based character offset of a query syntax error.
    position: int | None = None
    retry_after_s: int | None = None
    errors: list[ProblemField] | None = None
