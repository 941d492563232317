"""Handover (离职继承 / 在职继承): the case list with the form that opens a case, one case
(customers with risks, flags and suggested successors; decisions; execution progress;
follow-up; report; sign-off) and one customer's dossier.

The pages call the same handover use cases as the JSON API (``audit.handover.detail``:
the case and the forms' member lists; ``audit.handover.service``: ``read_report`` and the
``*_in_scope`` steps), so the console and the API cannot drift apart; from the API module
they reuse only its edge helpers (the report read with the configured zone, the PDF
download's headers, the dossier read through the access gate with the caller's purpose,
as ``GET .../dossier``).
The actions (POST) are in ``handover_actions``; the texts in ``handover_texts``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery

from api.auth.guards import context_of
from api.console import consent_panel
from api.console.auth import principal_of, signed_in
from api.console.i18n import translator
from api.console.pages import handover_actions
from api.console.pages.handover_texts import MESSAGES as MESSAGES
from api.console.pages.handover_view import load_case_view, render_case, render_progress
from api.console.render import language, render
from api.routes import handover as api_handover
from api.unit_of_work import Db
from audit.handover import detail, views
from audit.handover.report import LANGUAGES
from audit.handover.service import RenderedReport
from audit.security.roles import Permission

CASES_SHOWN: Final = 200
NOTICES: Final = frozenset({"opened", "decided", "accepted", "executed", "polled", "signed"})
NOTICE_NUMBERS: Final = ("count", "sent", "failed", "groups", "completed", "refused", "waiting")
READ = [signed_in(Permission.HANDOVER_READ)]
# A dossier is chat content: the gate checks content:read (and asks for a purpose).
DOSSIER = [signed_in(Permission.HANDOVER_READ), signed_in(Permission.CONTENT_READ)]


@get("/handover", guards=READ, sync_to_thread=True)
def cases_page(request: Request[Any, Any, Any], db: Db, notice: FromQuery[str | None] = None) -> Response[str]:
    principal = principal_of(request)
    cases = views.list_cases(db, principal, limit=CASES_SHOWN)
    can_manage = principal.can(Permission.HANDOVER_MANAGE)
    corps = context_of(request).settings.corps()
    members = detail.members_in_scope(db, principal, corps[0].corp_id) if can_manage and corps else []
    return render(
        request,
        "handover_cases.html",
        principal=principal,
        cases=cases,
        can_manage=can_manage,
        members=members,
        notice=notice,
    )


@get("/handover/{case_id:int}", guards=READ, sync_to_thread=True)
def case_page(
    request: Request[Any, Any, Any], db: Db, case_id: FromPath[int], notice: FromQuery[str | None] = None
) -> Response[str]:
    view = load_case_view(request, db, case_id)
    # The numbers an action's notice shows (``back(..., notice=..., count=3)``).
    numbers = dict.fromkeys(NOTICE_NUMBERS, "0")
    numbers.update((k, v) for k, v in request.query_params.items() if k in NOTICE_NUMBERS and v.isdigit())
    shown = notice if notice in NOTICES else None
    return render_case(request, "handover_case.html", view, notice=shown, numbers=numbers)


@get("/handover/{case_id:int}/progress", guards=READ, sync_to_thread=True)
def progress_fragment(
    request: Request[Any, Any, Any], db: Db, case_id: FromPath[int], seen: FromQuery[str | None] = None
) -> Response[str]:
    """The execution progress alone (htmx refreshes it while transfers are under way)."""
    return render_progress(request, load_case_view(request, db, case_id), seen_status=seen)


def _sentiment_chart(dossier: dict[str, Any], lang: str) -> str | None:
    """An ECharts option: the customer's weekly negative share (line) over their volume (bars)."""
    trend = [week for week in (dossier.get("sentiment") or {}).get("trend") or [] if isinstance(week, dict)]
    if not trend:
        return None
    t = translator(lang)
    shares = [
        round(float(week["negative_share"]) * 100, 1) if isinstance(week.get("negative_share"), int | float) else None
        for week in trend
    ]
    option = {
        "grid": {"left": 44, "right": 44, "top": 36, "bottom": 28},
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [t("ho.chart.negative"), t("ho.chart.messages")], "top": 0},
        "xAxis": {"type": "category", "data": [str(week.get("week", "")) for week in trend]},
        "yAxis": [
            {"type": "value", "min": 0, "max": 100, "axisLabel": {"formatter": "{value}%"}},
            {"type": "value", "minInterval": 1, "splitLine": {"show": False}},
        ],
        "series": [
            {
                "name": t("ho.chart.messages"),
                "type": "bar",
                "yAxisIndex": 1,
                "data": [week.get("messages", 0) for week in trend],
                "barMaxWidth": 28,
                "itemStyle": {"color": "#c9d8d2"},
            },
            {
                "name": t("ho.chart.negative"),
                "type": "line",
                "connectNulls": True,
                "data": shares,
                "itemStyle": {"color": "#b3261e"},
            },
        ],
    }
    return json.dumps(option, ensure_ascii=False)


@get("/handover/{case_id:int}/customers/{external_userid:str}", guards=DOSSIER, sync_to_thread=True)
def dossier_page(
    request: Request[Any, Any, Any], db: Db, case_id: FromPath[int], external_userid: FromPath[str]
) -> Response[str]:
    """One customer's dossier: a content read (gate, purpose, access log) like the API's."""
    dossier = api_handover.read_dossier(request, case_id, external_userid)
    view = load_case_view(request, db, case_id)
    line = next(c for c in view.report.customers if c.external_userid == external_userid)
    share = (dossier.get("sentiment") or {}).get("recent_negative_share")
    consent = consent_panel.for_customer(request, view.report.corp_id, external_userid)
    return render_case(
        request,
        "handover_dossier.html",
        view,
        line=line,
        dossier=dossier,
        chart=_sentiment_chart(dossier, language(request)),
        recent_share=f"{share:.0%}" if isinstance(share, int | float) else None,
        can_read_alerts=principal_of(request).can(Permission.ALERTS_READ),
        when=_moment,
        consent=consent,
        consent_names=consent_panel.names_of(db, consent),
    )


def _moment(value: Any) -> datetime | None:
    """A dossier's ISO time (stored as JSON text) as a datetime for ``format_time``."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_report(request: Request[Any, Any, Any], db: Db, case_id: int, fmt: str, lang: str | None) -> RenderedReport:
    """The report in the asked language (else the page's), times in the configured zone; logged."""
    return api_handover.read_report(request, db, case_id, fmt, lang if lang in LANGUAGES else language(request))


@get("/handover/{case_id:int}/report.html", guards=READ, sync_to_thread=True)
def report_html(
    request: Request[Any, Any, Any], db: Db, case_id: FromPath[int], lang: FromQuery[str | None] = None
) -> Response[str]:
    """The report page itself (self-contained, inline CSS), logged as a report read."""
    return Response(_read_report(request, db, case_id, "html", lang).html, media_type="text/html; charset=utf-8")


@get("/handover/{case_id:int}/report.pdf", guards=READ, sync_to_thread=True, media_type="application/pdf")
def report_pdf(
    request: Request[Any, Any, Any], db: Db, case_id: FromPath[int], lang: FromQuery[str | None] = None
) -> Response[bytes]:
    return api_handover.pdf_response(_read_report(request, db, case_id, "pdf", lang))


HANDLERS = [
    cases_page,
    case_page,
    progress_fragment,
    dossier_page,
    report_html,
    report_pdf,
    *handover_actions.HANDLERS,
]
