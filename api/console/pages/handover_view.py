"""What the handover pages show of a case: the stored case as the report sees it
(``audit.handover.report.build_report``), why it cannot be signed off yet
(``audit.handover.service.sign_off_blockers``, as reason codes shown in the page's
language) and who may take over.

Nothing here decides anything: it arranges facts the handover services computed, so the
console, the JSON API and the report always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from litestar import Request, Response

from api.console.auth import principal_of
from api.console.render import language, render
from api.unit_of_work import Db
from audit.handover import detail, reasons
from audit.handover import report as reports
from audit.handover.decisions import DECIDABLE_CASE_STATES
from audit.handover.detail import MemberOption
from audit.handover.dossier import RISK_REASON_TEXT
from audit.handover.models import CaseStatus, Decision, ItemState
from audit.security.roles import Permission

PROGRESS_TEMPLATE: Final = "_handover_progress.html"
# Item states whose transfer is under way or done: the item can no longer be re-decided.
LOCKED_STATES: Final = frozenset({ItemState.SENT, ItemState.COMPLETED})

Line = reports.CustomerLine | reports.GroupLine


@dataclass(frozen=True)
class CaseView:
    report: reports.CaseReport
    blockers: list[reasons.Reason]  # why it cannot be signed off yet (``.text(lang)``)
    report_sha256: str | None
    signed_off_at: Any
    successors: list[MemberOption]
    can_manage: bool

    @property
    def id(self) -> int:
        return self.report.case_id

    @property
    def status(self) -> str:
        return self.report.status

    @property
    def decidable(self) -> bool:
        return self.can_manage and self.status in DECIDABLE_CASE_STATES

    @property
    def executing(self) -> bool:
        return self.status == CaseStatus.EXECUTING

    def name(self, userid: str | None) -> str:
        return self.report.member_names.get(userid, userid) if userid else ""

    def selectable(self, line: Line) -> bool:
        """Whether the manager may (re-)decide this item now (the service checks again)."""
        if not self.decidable or line.state in LOCKED_STATES:
            return False
        claimed = line.state == ItemState.PENDING and line.sent_to is not None
        assigned = getattr(line, "assigned", True)
        return assigned and not claimed

    @property
    def to_send(self) -> int:
        """Decided transfers WeCom has not been asked for yet (what "execute" would send)."""
        lines: list[Line] = [*(c for c in self.report.customers if c.assigned), *self.report.groups]
        return sum(
            1
            for line in lines
            if line.decision == Decision.TRANSFER and line.state == ItemState.PENDING and line.sent_to is None
        )

    @property
    def sent(self) -> list[Line]:
        """Items a transfer was sent for (their progress)."""
        lines: list[Line] = [*self.report.customers, *self.report.groups]
        return [line for line in lines if line.sent_to is not None]

    @property
    def successor_groups(self) -> list[tuple[bool, list[MemberOption]]]:
        same = [m for m in self.successors if m.same_department]
        others = [m for m in self.successors if not m.same_department]
        return [(flag, members) for flag, members in ((True, same), (False, others)) if members]


def load_case_view(request: Request[Any, Any, Any], db: Db, case_id: int) -> CaseView:
    """The case as the caller may see it (NotFound / OutOfScope otherwise)."""
    principal = principal_of(request)
    shown = detail.case_detail(db, principal, case_id, successors=True)
    return CaseView(
        report=shown.report,
        blockers=shown.blockers,
        report_sha256=shown.case.report_sha256,
        signed_off_at=shown.case.signed_off_at,
        successors=shown.successors,
        can_manage=principal.can(Permission.HANDOVER_MANAGE),
    )


def reason_text(request: Request[Any, Any, Any]) -> Callable[[str], str]:
    """A risk reason code in the page's language."""
    index = 0 if language(request) == "zh" else 1
    return lambda code: RISK_REASON_TEXT.get(code, (code, code))[index]


def suggestion_text(request: Request[Any, Any, Any]) -> Callable[[str | None], str]:
    """A stored suggestion reason (codes) in the page's language."""
    lang = language(request)
    return lambda encoded: reasons.describe(encoded, lang)


def render_case(
    request: Request[Any, Any, Any],
    template: str,
    view: CaseView,
    *,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> Response[str]:
    return render(
        request,
        template,
        principal=principal_of(request),
        headers=headers,
        view=view,
        report=view.report,
        reason_text=reason_text(request),
        suggestion_text=suggestion_text(request),
        **values,
    )


def render_progress(request: Request[Any, Any, Any], view: CaseView, *, seen_status: str | None) -> Response[str]:
    """The progress fragment (htmx). When the case's state moved on since the page was
    drawn (completed, say), the whole page reloads: its other parts depend on it."""
    changed = seen_status is not None and seen_status != view.status
    return render_case(request, PROGRESS_TEMPLATE, view, headers={"HX-Refresh": "true"} if changed else None)
