"""One corp's completeness and lag, as ``wecom-audit completeness`` shows it (counts, seqs,
lag and member ids — never content), through the same use case
(``archive.completeness.report``). ``GET /api/v1/archive/completeness`` lists every corp
in brief."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from litestar import get
from litestar.params import PathParameter, QueryParameter

from api.auth.guards import requires
from api.unit_of_work import Context, Db
from archive.clock import utcnow
from archive.completeness.report import CompletenessReport, completeness_report, member_coverage
from archive.completeness.service import DEFAULT_ZONE, CoverageReport
from audit.errors import InvalidInput, NotFound
from audit.security.roles import Permission

STATUS = [requires(Permission.ARCHIVE_STATUS)]
CorpIdParam = Annotated[str, PathParameter(min_length=1, max_length=64)]


@get(
    "/api/v1/archive/completeness/{corp_id:str}",
    guards=STATUS,
    sync_to_thread=True,
    summary="Completeness and lag of one corp",
)
def corp_completeness(
    db: Db,
    corp_id: CorpIdParam,
    gap_limit: Annotated[int, QueryParameter(ge=1, le=1000, description="List at most this many seq gaps.")] = 20,
    from_seq: Annotated[
        int,
        QueryParameter(
            ge=0, le=2**63 - 1, description="List gaps from this seq on (the last gap's before_seq pages on)."
        ),
    ] = 0,
) -> CompletenessReport:
    """Seq gaps (leads to check: WeCom's seqs need not be contiguous), how far behind WeCom
    the archive is (message and media lag, and each against the alert thresholds), the open
    completeness alerts and the archived pairs without recorded consent."""
    return completeness_report(db, corp_id, utcnow(), gap_limit=gap_limit, from_seq=from_seq)


@get(
    "/api/v1/archive/completeness/{corp_id:str}/coverage",
    guards=STATUS,
    summary="Member coverage of one corp",
)
async def corp_coverage(
    context: Context,
    corp_id: CorpIdParam,
    days: Annotated[int, QueryParameter(ge=1, le=366, description="This many local days up to now.")] = 7,
    zone: Annotated[str, QueryParameter(max_length=64, description="Time zone of the days.")] = DEFAULT_ZONE,
) -> CoverageReport:
    """The members with WeCom's archiving licence (asked of WeCom now) against those seen in
    the archive over the period: silent members, members seen without a licence, and the
    messages per local day. Needs the corp's archive secret (404 for a corp not configured);
    WeCom's refusal is a 502."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {zone!r}", hint="use an IANA name such as Asia/Shanghai") from None
    corp = next((corp for corp in context.settings.corps() if corp.corp_id == corp_id), None)
    if corp is None:
        raise NotFound(f"corp {corp_id!r} is not configured", hint="coverage needs the corp's archive secret")
    return await member_coverage(
        context.session_factory,
        corp,
        days=days,
        zone=zone,
        timeout_s=context.settings.sdk.timeout_s,
    )


HANDLERS = [corp_completeness, corp_coverage]
