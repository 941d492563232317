"""WeCom's callback URL (spec §7): URL verification (GET) and event delivery (POST).

Contract: a request is acted on only after its signature, freshness (timestamp window,
unseen nonce), decryption and receive id have all checked out; anything else gets a 4xx
problem, a log line with the reason and nothing more. A genuine delivery is answered at
once and handled afterwards (a background task), as WeCom allows 5 s:
- ``msgaudit_notify`` triggers a pull of the corp, debounced;
- ``change_contact``, ``change_external_contact`` and ``change_external_chat`` trigger a
  directory sync of the corp, debounced (ADR 0020);
- ``change_external_contact`` with ``del_follow_user``, ``del_external_contact`` or
  ``transfer_fail`` is stored by ``audit.events`` for the detectors and handover;
- ``change_external_contact`` with ``msg_audit_approved`` goes to the consent ledger.
Envelopes and events may be XML or JSON (WeCom's JSON mode); both are verified alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.params import FromPath

from api.unit_of_work import transaction
from archive.clock import utcnow
from archive.consent.service import record_approval
from archive.directory.service import callback_departments, record_member_change
from archive.wecom.callback_crypto import (
    MAX_CALLBACK_XML_BYTES,
    CallbackCrypto,
    CallbackRejected,
    ReplayGuard,
    parse_callback_fields,
)
from audit.events.service import record_contact_change
from config.logs import get_logger
from config.settings import ConfigError, Settings

log = get_logger("api.callback")

CONTACT_CHANGES = frozenset({"del_follow_user", "del_external_contact", "transfer_fail"})
# Events that trigger a directory sync of the corp (ADR 0020), msg_audit_approved excepted.
DIRECTORY_EVENTS = frozenset({"change_contact", "change_external_contact", "change_external_chat"})


class CallbackHandler:
    """The callback's state in one app: its crypto, the replay guard and the debounce."""

    def __init__(self, settings: Settings, trigger: Callable[[str], None] | None) -> None:
        self.settings = settings
        self.trigger = trigger
        self.guard = ReplayGuard(settings.callback.replay_window_s)
        self._last_trigger_s: dict[str, float] = {}
        self._lock = threading.Lock()

    def crypto(self) -> CallbackCrypto:
        token = self.settings.callback.token.get_secret_value()
        key = self.settings.callback.encoding_aes_key.get_secret_value()
        corp_id = self.settings.wecom.corp_id
        if not (token and key and corp_id):
            raise ConfigError(
                "The WeCom callback is not configured: set WECOM_AUDIT_CALLBACK__TOKEN, "
                "WECOM_AUDIT_CALLBACK__ENCODING_AES_KEY and WECOM_AUDIT_WECOM__CORP_ID."
            )
        try:
            return CallbackCrypto(token, key, corp_id)
        except ValueError as exc:
            raise ConfigError(f"WECOM_AUDIT_CALLBACK__ENCODING_AES_KEY is invalid: {exc}") from None

    def admit(self, params: dict[str, str], encrypted: str) -> str:
        """Verify and decrypt; raises ``CallbackRejected``. Freshness is checked after the
        signature, so forged requests cannot fill the nonce memory."""
        crypto = self.crypto()
        signature, timestamp, nonce = params["msg_signature"], params["timestamp"], params["nonce"]
        crypto.check_signature(signature, timestamp, nonce, encrypted)
        self.guard.check(timestamp, nonce, time.time())
        return crypto.decrypt(encrypted)

    def should_trigger(self, corp_id: FromPath[str]) -> bool:
        now_s = time.monotonic()
        with self._lock:
            last = self._last_trigger_s.get(corp_id)
            if last is not None and now_s - last < self.settings.callback.debounce_s:
                return False
            self._last_trigger_s[corp_id] = now_s
            return True


def _params(request: Request[Any, Any, Any], *names: str) -> dict[str, str]:
    values = {name: request.query_params.get(name) for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise CallbackRejected("missing_parameters")
    return {name: str(value) for name, value in values.items()}


def _handler(request: Request[Any, Any, Any]) -> CallbackHandler:
    handler: CallbackHandler = request.app.state["callback"]
    return handler


def _rejected(request: Request[Any, Any, Any], error: CallbackRejected) -> None:
    log.warning(
        "wecom.callback.rejected", reason=error.reason, request_id=request.scope.get("state", {}).get("request_id")
    )
    request.app.state["metrics"].callback_events.labels("-", error.reason).inc()


@get("/wecom/callback", sync_to_thread=False, media_type="text/plain", include_in_schema=True)
def verify_url(request: Request[Any, Any, Any]) -> str:
    """URL verification: answers the decrypted echostr, and nothing else."""
    handler = _handler(request)
    try:
        params = _params(request, "msg_signature", "timestamp", "nonce", "echostr")
        plain = handler.admit(params, params["echostr"])
    except CallbackRejected as error:
        _rejected(request, error)
        raise
    log.info("wecom.callback.verified")
    return plain


@post(
    "/wecom/callback",
    media_type="text/plain",
    status_code=200,
    request_max_body_size=MAX_CALLBACK_XML_BYTES,
)
async def deliver(request: Request[Any, Any, Any]) -> Response[str]:
    """Event delivery: verified and decrypted now, handled after the reply."""
    handler = _handler(request)
    try:
        params = _params(request, "msg_signature", "timestamp", "nonce")
        # XML or JSON (WeCom's JSON mode), told apart by Content-Type or the first character.
        envelope = parse_callback_fields(await request.body(), request.headers.get("content-type"))
        encrypted = envelope.get("Encrypt", "")
        if not encrypted:
            raise CallbackRejected("missing_encrypt")
        event = parse_callback_fields(handler.admit(params, encrypted))
    except CallbackRejected as error:
        _rejected(request, error)
        raise
    name = event.get("Event", "") or event.get("MsgType", "")
    request.app.state["metrics"].callback_events.labels(name[:32] or "-", "accepted").inc()
    task = BackgroundTask(handle_event, request.app.state, event)
    return Response("success", media_type="text/plain", background=task)


def handle_event(state: Any, event: dict[str, str]) -> None:
    """The work after the reply. Errors are logged (WeCom already has its answer)."""
    handler: CallbackHandler = state["callback"]
    corp_id = handler.settings.wecom.corp_id
    name, change = event.get("Event", ""), event.get("ChangeType", "")
    directory_change = name in DIRECTORY_EVENTS and change != "msg_audit_approved"
    try:
        if name == "msgaudit_notify":
            if handler.trigger is not None and handler.should_trigger(corp_id):
                handler.trigger(corp_id)
                log.info("wecom.callback.pull_triggered", corp_id=corp_id)
            else:
                log.info("wecom.callback.pull_debounced", corp_id=corp_id)
        elif name == "change_contact" and change in ("delete_user", "update_user"):
            # Departures and moves are applied and dated by the event (the sync that follows
            # confirms them and then changes nothing); other fields wait for that sync.
            _record_member_change(state, corp_id, change, event)
        elif name == "change_external_contact" and change == "msg_audit_approved":
            with transaction(state["context"]) as session:
                record_approval(
                    session,
                    corp_id,
                    event.get("UserID", ""),
                    event.get("ExternalUserID", ""),
                    _created_at(event.get("CreateTime", "")),
                    utcnow(),
                )
            log.info("wecom.callback.consent_approved", corp_id=corp_id)
        elif name == "change_external_contact" and change in CONTACT_CHANGES:
            with transaction(state["context"]) as session:
                record_contact_change(
                    session,
                    corp_id=corp_id,
                    change_type=change,
                    user_id=event.get("UserID", ""),
                    external_user_id=event.get("ExternalUserID", ""),
                    fail_reason=event.get("FailReason") or None,
                    source=event.get("Source") or None,
                    occurred_at=_created_at(event.get("CreateTime", "")),
                    raw=event,
                    now=utcnow(),
                )
            log.info("wecom.callback.contact_event", corp_id=corp_id, change_type=change)
        elif not directory_change:
            log.info("wecom.callback.ignored", event_name=name[:64], change_type=change[:64])
    except Exception as exc:
        log.error("wecom.callback.failed", event_name=name[:64], error_type=type(exc).__name__)
    # Directory changes are hints: a debounced sync of the whole corp reads the truth. Asked
    # after the event's own record (and even if that failed), so the sync confirms it.
    if directory_change and state.get("directory_sync") is not None:
        try:
            started = state["directory_sync"].request(corp_id, "callback")
            log.info("wecom.callback.directory_sync", corp_id=corp_id, change_type=change[:64], started=started)
        except Exception as exc:
            log.error("wecom.callback.directory_sync_failed", corp_id=corp_id, error_type=type(exc).__name__)


def _record_member_change(state: Any, corp_id: str, change: str, event: dict[str, str]) -> None:
    departments = callback_departments(event.get("Department", "")) if change == "update_user" else []
    if departments is None:
        return  # a value that does not parse is left to the sync
    with transaction(state["context"]) as session:
        applied = record_member_change(
            session,
            corp_id,
            change,
            event.get("UserID", ""),
            departments,
            occurred_at=_created_at(event.get("CreateTime", "")),
            now=utcnow(),
        )
    log.info("wecom.callback.member_change", corp_id=corp_id, change_type=change, applied=applied)


def _created_at(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        return utcnow()


def pull_in_background(context: Any) -> Callable[[str], None]:
    """For `serve` without a scheduler in the process: run the corp's pull in a thread. The
    puller's database lease keeps it to one pull per corp across processes."""

    def trigger(corp_id: str) -> None:
        def pull() -> None:
            try:
                report = context.puller(corp_id).run("callback")
                log.info("wecom.callback.pull_finished", corp_id=corp_id, stored=report.stored)
            except Exception as exc:  # a background thread: log, the scheduler retries
                log.error("wecom.callback.pull_failed", corp_id=corp_id, error_type=type(exc).__name__)

        threading.Thread(target=pull, name=f"callback-pull-{corp_id}", daemon=True).start()

    return trigger
