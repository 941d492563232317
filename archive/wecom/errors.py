"""WeCom HTTP API errors: the ``errcode`` WeCom answered, what it means and what to do.

Messages never contain the request URL: WeCom puts the secret and the access token in
the query string.
"""

from __future__ import annotations

from typing import Final

from archive.errors import ArchiveError
from archive.sdk.errors import WECOM_ERRCODES

# Answers WeCom documents as "try again later" (spec §6.8); retried with backoff.
TRANSIENT_ERRCODES: Final = frozenset({-1, 45009, 45033})
# The access token is missing, unknown or expired: fetch a new one and retry once (spec §6.1).
# 41001 ("missing") is included defensively: a proxy that strips the query would cause it.
TOKEN_ERRCODES: Final = frozenset({40014, 41001, 42001})

# Call-level answers of the customer-contact and transfer APIs (spec §8.2, §8.4): the request
# named something WeCom will not act on. Per-customer / per-group codes inside a successful
# answer are *results*, not errors: they stay in the returned values (archive.wecom.contacts).
REJECTED_ERRCODES: Final[dict[int, tuple[str, str]]] = {
    40003: ("invalid userid", "check the member's userid in the WeCom address book"),
    40096: ("invalid external_userid", "the customer id is unknown to WeCom: re-read the customer list"),
    40097: ("the member has not left", "use the on-the-job transfer (externalcontact/transfer_customer)"),
    40098: ("the takeover member is not real-name verified", "choose another successor or have them verify"),
    40099: ("the takeover member reached the external-contact limit", "choose another successor"),
    40100: ("the customer is already in a transfer", "wait for the running transfer's result"),
    40128: ("the customer was transferred too often", "on-job transfers: at most 2 per customer in 90 days"),
    40129: ("the customer is being transferred", "wait for the running transfer's result"),
    40130: ("handover and takeover are the same member", "choose a different successor"),
    40131: ("the handover member does not follow this customer", "re-read the member's customer list"),
    41035: ("external_userid missing", "this is a bug in wecom-audit's call; please report it"),
    84061: ("no such follow relationship", "re-read the customer's followers"),
    90500: ("the group owner has not resigned", "use groupchat/onjob_transfer for active owners"),
    90501: ("not a customer group", "only customer groups can be inherited"),
    90502: ("the group owner has already resigned", "use groupchat/transfer for departed owners"),
    90503: ("the group is full", "remove members first or keep the current owner"),
    90504: ("the new owner already owns the group", "nothing to do"),
    90507: ("the group's inheritance is in progress", "wait and read the group list again"),
    90508: ("the group was already inherited", "nothing to do"),
}

API_ERRCODES: Final[dict[int, tuple[str, str]]] = {
    **WECOM_ERRCODES,
    -1: ("WeCom is busy", "usually transient; retry later"),
    40014: ("invalid access token", "wecom-audit fetches a new token by itself; if this persists, report it"),
    41001: ("access token missing", "this is a bug in wecom-audit's call; please report it"),
    42001: ("access token expired", "wecom-audit fetches a new token by itself; if this persists, report it"),
    45009: ("API call frequency exceeded", "WeCom rate-limits this corp; retry later"),
    45033: ("API concurrency limit exceeded", "WeCom rate-limits this corp; retry later"),
    48002: (
        "API not authorised for this secret",
        "msgaudit APIs need the 会话内容存档 Secret; externalcontact APIs need the 客户联系 Secret "
        "(or an app listed under 客户联系 可调用应用)",
    ),
    60020: (
        "source IP not allowed",
        "add this server's egress IP to the trusted IPs (可信IP) of 会话内容存档 in the WeCom admin console",
    ),
}


class WeComApiError(ArchiveError):
    """WeCom answered an error (``errcode``) or an unusable HTTP response."""

    code = "wecom_api"

    def __init__(self, message: str, *, hint: str = "", errcode: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.errcode = errcode


class WeComConfigurationError(WeComApiError):
    """Wrong corp id or secret, IP not trusted, archive not enabled or expired: an admin must act."""

    code = "wecom_configuration"


class WeComTransientError(WeComApiError):
    """Network errors, HTTP 5xx or "busy" errcodes that persisted through every retry."""

    code = "wecom_transient"
    retryable = True


class WeComRejectedError(WeComApiError):
    """WeCom refused what the call asked for (a customer, group or member it will not act on).

    Not an admin problem and not transient: the caller's data or choice must change."""

    code = "wecom_rejected"


def error_for_errcode(errcode: int, errmsg: str, call: str) -> WeComApiError:
    meaning, hint = API_ERRCODES.get(errcode) or REJECTED_ERRCODES.get(
        errcode, (errmsg or "unknown error", "see WeCom's global error codes (90313)")
    )
    message = f"WeCom {call} answered errcode {errcode} ({meaning})"
    if errcode in REJECTED_ERRCODES:
        return WeComRejectedError(message, hint=hint, errcode=errcode)
    if errcode in TRANSIENT_ERRCODES:
        return WeComTransientError(message, hint=hint, errcode=errcode)
    if errcode in API_ERRCODES and errcode not in TOKEN_ERRCODES:
        return WeComConfigurationError(message, hint=hint, errcode=errcode)
    return WeComApiError(message, hint=hint, errcode=errcode)
