"""The archive's hash chain: verify a corp's chain, list and write its checkpoints — what
``wecom-audit verify`` and ``wecom-audit checkpoint`` do, through the same functions
(``archive.integrity``). Reports name positions, msgids and seqs, never content."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import get, post
from litestar.params import JSONBody, QueryParameter

from api.auth.guards import requires
from api.unit_of_work import Context, Db
from archive.corps import corp_in_question
from archive.integrity.checkpoints import list_checkpoints
from archive.integrity.jobs import checkpoint_corps
from archive.integrity.verify import verify_corp
from audit.security.roles import Permission

STATUS = [requires(Permission.ARCHIVE_STATUS)]
CORP_ID_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"  # what can name a checkpoint file
CorpId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=CORP_ID_PATTERN)]


class CorpChoice(msgspec.Struct, forbid_unknown_fields=True):
    corp_id: CorpId | None = None


class VerifyRequest(msgspec.Struct, forbid_unknown_fields=True):
    corp_id: CorpId | None = None
    # Bounds: check only the links of these positions (a whole run when both are left out).
    from_position: Annotated[int, msgspec.Meta(ge=1)] | None = None
    to_position: Annotated[int, msgspec.Meta(ge=1)] | None = None

    def __post_init__(self) -> None:
        if self.from_position and self.to_position and self.to_position < self.from_position:
            raise ValueError("to_position comes before from_position")

    def positions(self) -> tuple[int, int | None] | None:
        if self.from_position is None and self.to_position is None:
            return None
        return self.from_position or 1, self.to_position


class CheckpointOut(msgspec.Struct):
    id: int
    corp_id: str
    position: int
    last_seq: int
    head_hash: str
    count: int  # live links at the time
    created_at: datetime


class CheckpointWritten(msgspec.Struct):
    corp_id: str
    checkpoint: CheckpointOut | None  # None: no new link since the last checkpoint


class BreakOut(msgspec.Struct):
    check: str
    position: int | None
    msgid: str | None
    seq: int | None
    detail: str


class VerifyOut(msgspec.Struct):
    corp_id: str
    ok: bool
    head_position: int
    links_checked: int
    messages_checked: int
    tombstones: int
    checkpoints_checked: int
    broken: BreakOut | None  # the first broken link: treat it as possible tampering
    checkpoint: CheckpointOut | None  # written after the chain verified (None if broken, unchanged or bounded)
    duration_s: float
    from_position: int | None  # the bounds of a bounded run (None: the whole chain)
    to_position: int | None


@post(
    "/api/v1/integrity/verify",
    guards=STATUS,
    sync_to_thread=True,
    status_code=200,
    summary="Verify a hash chain",
)
def verify_chain(context: Context, data: JSONBody[VerifyRequest | None] = None) -> VerifyOut:
    """Recompute one corp's chain (``corp_id``, default: the configured corp) from the
    database and its checkpoints, and report the first broken link; when the whole chain
    verifies, its head is checkpointed. A whole run takes as long as the chain is long (also:
    `wecom-audit verify`); ``from_position``/``to_position`` bound it to those links (each
    checked against the link before it and its checkpoints; nothing is written)."""
    request = data or VerifyRequest()
    report = verify_corp(context.session_factory, context.settings, request.corp_id, positions=request.positions())
    return msgspec.convert(report, VerifyOut, from_attributes=True)


@get("/api/v1/integrity/checkpoints", guards=STATUS, sync_to_thread=True, summary="List chain checkpoints")
def checkpoints(
    db: Db,
    context: Context,
    corp_id: Annotated[
        str | None, QueryParameter(description="Default: the configured corp.", max_length=64, pattern=CORP_ID_PATTERN)
    ] = None,
) -> list[CheckpointOut]:
    """The corp's checkpoints in the database, oldest first (each is also a line of the
    append-only checkpoint file meant to be copied off-site)."""
    found = list_checkpoints(db, corp_in_question(db, context.settings, corp_id))
    return msgspec.convert(found, list[CheckpointOut], from_attributes=True)


@post(
    "/api/v1/integrity/checkpoints",
    guards=STATUS,
    sync_to_thread=True,
    summary="Write chain checkpoints",
)
def write_checkpoints(context: Context, data: JSONBody[CorpChoice | None] = None) -> list[CheckpointWritten]:
    """Checkpoint the chain head of ``corp_id``, or of every corp with a chain, to the
    database and the append-only file (also: `wecom-audit checkpoint`)."""
    written = checkpoint_corps(context.session_factory, context.settings, data.corp_id if data else None)
    return [
        CheckpointWritten(corp, msgspec.convert(found, CheckpointOut, from_attributes=True) if found else None)
        for corp, found in written.items()
    ]


HANDLERS = [verify_chain, checkpoints, write_checkpoints]
