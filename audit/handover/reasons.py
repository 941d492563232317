"""Why a successor was suggested, and why a case cannot be signed off yet: as codes with
parameters, so every reader gets them in their own language (ADR 0016).

A reason is stored and sent as a compact, language-neutral string: parts separated by
``;``, each a code with optional ``key=value`` parameters, e.g.
``same_department;previous_chat:last=2026-11-02;lowest_load_followed:of=4,load=3``.
:func:`describe` turns it into Chinese or English for the report, the console, the CLI
and the JSON API (``*_text`` fields). A part that is not a known code (a reason stored
as free text before codes existed) is shown as it is, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

LANGUAGES: Final = ("zh", "en")
PART_SEPARATOR: Final = ";"
_TOKEN: Final = re.compile(r"[A-Za-z0-9_.+-]+")

# code → (zh, en); ``{name}`` is a parameter of the code.
REASON_TEXT: Final[dict[str, tuple[str, str]]] = {
    # successor suggestions (``successor.py``)
    "same_department": ("同部门", "same department"),
    "parent_department": ("上级部门（原部门已无在职成员）", "parent department (nobody left in the leaver's own)"),
    "previous_chat": ("曾与该客户聊天（最近 {last}）", "chatted with this customer (last {last})"),
    "follows_customer": ("已在企业微信中添加该客户", "already follows this customer in WeCom"),
    "lowest_load_followed": (
        "{of} 位候选人中负担最轻：跟进客户 {load} 位",
        "lowest load of {of}: {load} customers followed",
    ),
    "lowest_load_chatted": (
        "{of} 位候选人中负担最轻：{days} 天内聊过的客户 {load} 位",
        "lowest load of {of}: {load} customers chatted with in {days} days",
    ),
    "suggested_in_case": ("本案另已建议其接替 {count} 位", "+ {count} suggested in this case"),
    "no_candidate": (
        "交接成员所在部门已无在职成员，请选择接替人",
        "no active member left in the leaver's department: choose a successor",
    ),
    "no_candidate_parent": (
        "交接成员所在部门及上级部门均无在职成员，请选择接替人",
        "no active member left in the leaver's parent department: choose a successor",
    ),
    "deleted_before_leaving": (
        "离职前已被成员删除，无可转接",
        "deleted by the member before leaving: nothing to transfer",
    ),
    "group_majority": ("该群 {count} 位客户的建议接替人", "suggested successor of {count} of the group's customers"),
    "in_group": ("已在群内", "already in the group"),
    "no_group_candidate": (
        "交接成员所在部门已无在职成员，请选择新群主",
        "no active member left in the leaver's department: choose a new owner",
    ),
    # sign-off blockers (``service.sign_off_blockers``)
    "case_not_completed": ("案例状态为「{status}」，尚未完成", "the case is {status}, not completed"),
    "items_undecided": (
        "{count} 个客户或客户群尚未决定或暂缓",
        "{count} customers or groups are undecided or on hold",
    ),
    "transfers_not_final": ("{count} 项转接尚无最终结果", "{count} transfers are not final"),
}

# Parameter values that are words themselves (case states) get words in each language.
VALUE_TEXT: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "status": {
        "open": ("审阅中", "open"),
        "executing": ("转接中", "executing"),
        "completed": ("已完成", "completed"),
        "signed_off": ("已签署", "signed off"),
        "cancelled": ("已取消", "cancelled"),
    },
}


@dataclass(frozen=True)
class Reason:
    """One code with its parameters (values are short tokens: numbers, dates, states)."""

    code: str
    params: Mapping[str, str | int] = field(default_factory=dict)

    def encode(self) -> str:
        for token in (self.code, *self.params, *(str(v) for v in self.params.values())):
            if not _TOKEN.fullmatch(token):
                raise ValueError(f"reason token {token!r} must match {_TOKEN.pattern}")
        if not self.params:
            return self.code
        return f"{self.code}:" + ",".join(f"{key}={value}" for key, value in self.params.items())

    def text(self, lang: str) -> str:
        return _text(self.code, {k: str(v) for k, v in self.params.items()}, lang, fallback=self.encode())


def encode(reasons: Sequence[Reason]) -> str:
    """The stored form of several reasons (one suggestion's)."""
    return PART_SEPARATOR.join(reason.encode() for reason in reasons)


def describe(encoded: str | None, lang: str) -> str:
    """A stored reason string in ``lang`` ("zh" or "en"), parts joined for reading."""
    if not encoded:
        return ""
    texts = [_describe_part(part.strip(), lang) for part in encoded.split(PART_SEPARATOR) if part.strip()]
    return ("；" if lang == "zh" else "; ").join(texts)


def _describe_part(part: str, lang: str) -> str:
    code, _, rest = part.partition(":")
    params: dict[str, str] = {}
    for pair in rest.split(",") if rest else ():
        key, sep, value = pair.partition("=")
        if not sep:
            return part  # not a coded part: free text from before codes
        params[key] = value
    return _text(code, params, lang, fallback=part)


def _text(code: str, params: Mapping[str, str], lang: str, *, fallback: str) -> str:
    texts = REASON_TEXT.get(code)
    if texts is None or lang not in LANGUAGES:
        return fallback
    index = LANGUAGES.index(lang)
    shown = {key: VALUE_TEXT.get(key, {}).get(value, (value, value))[index] for key, value in params.items()}
    try:
        return texts[index].format_map(shown)
    except (KeyError, IndexError):  # a parameter missing from a stored reason: show the code
        return fallback
