"""SDK return codes (spec §1.4) and JSON ``errcode`` values (spec §2.4) as typed errors."""

from __future__ import annotations

from typing import Final

from archive.errors import ArchiveError

# Only these are transient (spec §1.4, §9.3): retried with backoff.
RETRYABLE_SDK_CODES: Final = frozenset({10001, 10002, 10003})

SDK_RETURN_CODES: Final[dict[int, tuple[str, str]]] = {
    10000: ("bad request parameters", "this is a bug in wecom-audit's call; please report it"),
    10001: (
        "network error: WeCom could not be reached",
        "check that this server can open HTTPS (port 443) to qyapi.weixin.qq.com, the proxy "
        "(WECOM_AUDIT_SDK__PROXY, or https_proxy for the SDK's libcurl) and that this server's egress IP "
        "is in 可信IP of 会话内容存档 in the WeCom admin console",
    ),
    10002: ("failed to parse the response", "usually transient; retry later"),
    10003: ("internal/system failure", "usually transient; retry later"),
    10004: ("encryption failed (secret/key problem)", "check the archive secret and the RSA key in the admin console"),
    10005: ("bad sdkfileid", "the media id in the message is invalid"),
    10006: ("decryption failed", "check the private key registered for this publickey_ver"),
    10007: ("no private key for the message's key version", "register the private key for that publickey_ver"),
    10008: ("failed to parse encrypt_key", "the unwrapped random key is malformed: check the private key"),
    10009: (
        "IP not allowed",
        "add this server's egress IP to 可信IP (trusted IPs) of 会话内容存档 in the WeCom admin console",
    ),
    10010: ("data expired", "the data is past WeCom's retention window and cannot be fetched any more"),
    10011: ("certificate error", "check the system CA certificates and any TLS-intercepting proxy"),
}

# What DecryptData's codes mean for a record in WeCom's format (spec §1.1b): the same numbers
# as above, another meaning (10005 is not about an sdkfileid here).
DECRYPT_DATA_CODES: Final[dict[int, str]] = {
    10000: "a NULL argument",
    10005: "the key info inside the random key does not fit the message",
    10006: "the message body does not decrypt with the key inside the random key",
    10008: "the random key does not decrypt with the message's key part",
}

WECOM_ERRCODES: Final[dict[int, tuple[str, str]]] = {
    40001: ("invalid secret", "set WECOM_AUDIT_WECOM__ARCHIVE_SECRET to the 会话内容存档 Secret (not an app secret)"),
    40013: ("invalid corp id", "set WECOM_AUDIT_WECOM__CORP_ID to the corp id (ww…) from 我的企业"),
    301042: (
        "IP not in the archive's trusted IP list",
        "add this server's egress IP to 可信IP of 会话内容存档 in the WeCom admin console",
    ),
    301052: ("the archive licence has expired", "renew 会话内容存档 in the WeCom admin console"),
    301053: ("the archive service is not enabled", "enable 会话内容存档 for this corp in the WeCom admin console"),
    301058: ("response exceeds the size limit", "wecom-audit lowers the batch limit by itself"),
}


class SdkError(ArchiveError):
    code = "sdk_error"

    def __init__(self, message: str, *, hint: str = "", sdk_code: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.sdk_code = sdk_code


class SdkTransientError(SdkError):
    """10001–10003 that persisted through every retry."""

    code = "sdk_transient"
    retryable = True


class SdkConfigurationError(SdkError):
    """Wrong secret, IP not trusted, archive not enabled or expired: an admin must act."""

    code = "sdk_configuration"


class SdkDataExpiredError(SdkError):
    code = "sdk_data_expired"


class SdkLibraryError(SdkError):
    """The library cannot be loaded or lacks the Finance SDK's functions."""

    code = "sdk_library"


class SdkCrashError(SdkError):
    """The SDK worker keeps dying outside any single record (e.g. in GetChatData)."""

    code = "sdk_crash"
    retryable = True


def error_for_return_code(rc: int, call: str, *, attempts: int = 1) -> SdkError:
    meaning, hint = SDK_RETURN_CODES.get(rc, ("unknown return code", "see WeCom's SDK documentation"))
    tried = f" ({attempts} attempts)" if attempts > 1 else ""
    message = f"{call} returned SDK code {rc} ({meaning}){tried}"
    if rc in RETRYABLE_SDK_CODES:
        return SdkTransientError(message, hint=hint, sdk_code=rc)
    if rc == 10010:
        return SdkDataExpiredError(message, hint=hint, sdk_code=rc)
    return SdkConfigurationError(message, hint=hint, sdk_code=rc)


def load_failure_hint(exitcode: int | None, printed: str) -> str:
    """What to do when the library does not load, chosen by what the loader or the dying
    worker said (``exitcode`` negative: killed by that signal)."""
    text = printed.lower()
    if "no such file" in text or "cannot open shared object" in text:
        return "check WECOM_AUDIT_SDK__LIBRARY_PATH (the file, and the libraries `ldd` lists for it)"
    if "wrong elf class" in text or "invalid elf header" in text or "file too short" in text:
        return (
            "this file is not a Linux shared library for this machine: use the SDK's Linux build "
            "for this CPU (`uname -m`: x86_64 or aarch64)"
        )
    if "glibc" in text or "version `" in text:
        return (
            "the library needs a newer glibc than this system has (musl/Alpine cannot run it): "
            "use a glibc distribution such as Debian 12"
        )
    if "does not export" in text:
        return "point WECOM_AUDIT_SDK__LIBRARY_PATH at libWeWorkFinanceSdk_C.so"
    if exitcode is not None and exitcode < 0:
        return (
            "the library crashed while loading, although wecom-audit loads it first in a fresh process: "
            "check LD_PRELOAD and /etc/ld.so.preload, and that the file is Tencent's unmodified library "
            "(compare its md5 with md5.txt of the download)"
        )
    return "the worker could not start: reinstall wecom-audit (`make install`) and try again"


def error_for_errcode(errcode: int, errmsg: str) -> SdkError:
    meaning, hint = WECOM_ERRCODES.get(errcode, (errmsg or "unknown error", "see WeCom's global error codes (90313)"))
    return SdkConfigurationError(f"WeCom answered errcode {errcode} ({meaning})", hint=hint, sdk_code=errcode)
