"""The console's message catalogue: Chinese by default, English available.

A message is a key with one text per language; ``{name}`` placeholders are filled by
``str.format``. Pages keep their own texts beside them (a module-level ``MESSAGES`` dict in
the page module, merged at registration) so adding a page never edits this file. The
language is per browser: the ``wecom_audit_lang`` cookie, set by ``/console/language/<lang>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
LANGUAGE_COOKIE = "wecom_audit_lang"

Catalogue = Mapping[str, tuple[str, str]]  # key -> (Chinese, English)

MESSAGES: dict[str, tuple[str, str]] = {
    "app.name": ("企业微信会话审计", "WeCom Audit"),
    "app.skip": ("跳到主要内容", "Skip to main content"),
    "nav.label": ("主导航", "Main navigation"),
    "nav.overview": ("概览", "Overview"),
    "nav.search": ("搜索", "Search"),
    "nav.alerts": ("告警", "Alerts"),
    "nav.groups": ("群监控", "Groups"),
    "nav.handover": ("离职继承", "Handover"),
    "nav.rules": ("规则与词库", "Rules"),
    "nav.access_log": ("访问日志", "Access log"),
    "nav.users": ("用户与权限", "Users"),
    "nav.settings": ("设置", "Settings"),
    "user.signed_in_as": ("当前用户", "Signed in as"),
    "user.purpose": ("查阅目的", "Purpose"),
    "user.purpose_change": ("更改", "change"),
    "user.logout": ("退出登录", "Sign out"),
    "user.language": ("English", "中文"),
    "role.admin": ("管理员", "Administrator"),
    "role.compliance_officer": ("合规专员", "Compliance officer"),
    "role.reviewer": ("审核员", "Reviewer"),
    "role.manager": ("主管", "Manager"),
    "role.auditor": ("审计员", "Auditor"),
    "login.title": ("登录", "Sign in"),
    "login.username": ("用户名", "User name"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码错误。", "The user name or password is wrong."),
    "login.locked": ("账户已被暂时锁定，请 {seconds} 秒后再试。", "The account is locked; try again in {seconds} s."),
    "login.throttled": ("尝试次数过多，请 {seconds} 秒后再试。", "Too many attempts; try again in {seconds} s."),
    "login.stale": (
        "登录页面已过期或不是从本系统提交的，请重新输入后登录。",
        "This sign-in form expired or was not sent by this console; please sign in again.",
    ),
    "login.intro": (
        "本系统存档企业微信会话。所有聊天内容的查阅都会被记录。",
        "This system archives WeCom chats. Every read of chat content is logged.",
    ),
    "purpose.title": ("查阅目的", "Why do you need this?"),
    "purpose.intro": (
        "查阅聊天内容之前，请说明目的（例如案件编号或原因）。它会与您的每次查阅一起记录在访问日志中，本次登录期间有效。",
        "Before reading chat content, say why (a case reference or a reason). It is written to the access log "
        "with each read for the rest of this session.",
    ),
    "purpose.label": ("目的", "Purpose"),
    "purpose.placeholder": ("例如：案件 2026-042 客户投诉核查", "e.g. case 2026-042, customer complaint"),
    "purpose.submit": ("继续", "Continue"),
    "purpose.empty": ("请填写目的。", "Please give a purpose."),
    "password.too_short": (
        "密码太短：至少需要 {length} 个字符。",
        "The password is too short: at least {length} characters.",
    ),
    "password.too_guessable": (
        "密码太容易被猜到（常见密码、重复或连续的字符、键盘序列、用户名等）。请使用由几个不常见的词组成的较长密码。",
        "The password is too easy to guess (a common password, repeats, sequences, keyboard runs, the user name). "
        "Use a longer passphrase of several uncommon words.",
    ),
    "purpose.invalid": (
        "目的中含有控制字符，请用普通文字填写案件编号或原因。",
        "The purpose contains control characters; type the case reference or reason as plain text.",
    ),
    "error.back": ("返回概览", "Back to the overview"),
    "error.request_id": ("请求编号", "Request id"),
    "error.400": ("请求无效", "Invalid request"),
    "error.403": ("没有权限", "Not allowed"),
    "error.404": ("页面不存在", "Not found"),
    "error.405": ("不支持的操作", "Method not allowed"),
    "error.409": ("冲突", "Conflict"),
    "error.429": ("请求过多", "Too many requests"),
    "error.500": ("服务器出错", "Something went wrong"),
    "error.503": ("暂时不可用", "Temporarily unavailable"),
    "error.500.detail": (
        "服务器处理请求时出错。请求编号可在日志中定位问题。",
        "The server failed; the request id identifies the failure in the logs.",
    ),
    "error.403.detail": (
        "您的角色或数据范围不包括此内容。如需访问，请联系管理员。",
        "Your role or data scope does not include this. Ask an administrator if you need it.",
    ),
    "error.404.detail": ("找不到您要的页面或记录。", "The page or record you asked for does not exist."),
    "placeholder.title": ("尚未提供", "Not available yet"),
    "placeholder.detail": ("此页面正在建设中。", "This page is not built yet."),
    "common.none": ("暂无", "none"),
    "common.never": ("从未", "never"),
    "common.loading": ("加载中…", "Loading…"),
}


def merge(catalogue: Catalogue) -> None:
    """Add a page's messages; a key may be defined once only."""
    for key, texts in catalogue.items():
        if key in MESSAGES and MESSAGES[key] != texts:
            raise ValueError(f"console message {key!r} is defined twice with different texts")
        MESSAGES[key] = texts


def language_of(cookie: str | None) -> str:
    return cookie if cookie in LANGUAGES else DEFAULT_LANGUAGE


def translator(language: str) -> Callable[..., str]:
    index = LANGUAGES.index(language_of(language))

    def translate(key: str, **values: object) -> str:
        texts = MESSAGES.get(key)
        if texts is None:
            return key  # visible in the page (and caught by the catalogue test), never a 500
        return texts[index].format(**values) if values else texts[index]

    return translate
