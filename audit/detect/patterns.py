"""Pattern detectors that validate what they find: a number is a phone, ID or bank card only if
it has the right shape *and* checksum, so order numbers and typos do not flood reviewers.

Numbers are read from the ``numerals`` view (一三八 → 138, full-width digits folded) as groups
of digits separated by up to three separator characters (``138 1234 5678``, ``138-1234-5678``).
Adjacent groups are joined while the result is a valid number, so two numbers separated only
by a space are still told apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date

from audit.detect.context import MessageContext
from audit.detect.hits import Hit, Severity
from audit.text.fold import Folded
from audit.text.normalise import Normaliser, TextViews

PATTERN_VERSION = "1"

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# First digits of card schemes issued in mainland China (UnionPay 62/60/9x, Visa 4,
# Mastercard 5, JCB/Amex 3). A plausibility filter, not a BIN database.
_CARD_FIRST_DIGITS = frozenset("345689")
_CARD_LENGTHS = range(16, 20)
_MAX_NUMBER_LENGTH = 19

_EMAIL_RE = re.compile(r"(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}(?![a-z0-9])")
_URL_RE = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'，。！？、；）)】」]+"
    r"|(?<![a-z0-9@./_-])(?:[a-z0-9-]+\.)+(?:com|cn|net|org|io|cc|top|xyz|vip|me|info|link|site|club|shop)"
    r"(?:/[^\s<>\"'，。！？、；）)】」]*)?(?![a-z0-9@-])"
)
# "微信号: abc123" / "wechat id abc_123" in the compact view (variants already 微信/qq).
_WECHAT_ID_RE = re.compile(r"(?:微信|wechat)(?:号码|号|id)?[是为:：\s]{0,3}(?P<id>[a-z][a-z0-9_-]{5,19})(?![a-z0-9_-])")
_QQ_ID_RE = re.compile(r"qq(?:号码|号)?[是为吧:：\s]{0,3}(?P<id>[1-9][0-9]{4,11})(?![0-9])")
_CONTACT_RE = re.compile(r"微信|wechat|qq")
_CONTACT_PATTERNS = ((_WECHAT_ID_RE, "contact.wechat_id", "WeChat id"), (_QQ_ID_RE, "contact.qq_id", "QQ number"))


def id_number_valid(number: str) -> bool:
    """An 18-character mainland resident ID: digits, a plausible birth date and the ISO 7064
    MOD 11-2 check character (``x`` for 10)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2100:
        return False
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS, strict=True))
    return "10x98765432"[total % 11] == number[17].lower()


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def mobile_valid(number: str) -> bool:
    if len(number) == 13 and number.startswith("86"):
        number = number[2:]
    return len(number) == 11 and number[0] == "1" and number[1] in "3456789"


def classify_number(number: str) -> str | None:
    """``"mobile"``, ``"id_number"``, ``"bank_card"`` or ``None``."""
    if not number.isdigit() and not (len(number) == 18 and number[:17].isdigit()):
        return None
    if mobile_valid(number):
        return "mobile"
    if id_number_valid(number):
        return "id_number"
    if number.isdigit() and len(number) in _CARD_LENGTHS and number[0] in _CARD_FIRST_DIGITS and luhn_valid(number):
        return "bank_card"
    return None


_NUMBER_RULES = {
    "mobile": ("pii.mobile", Severity.MEDIUM, "mainland mobile number"),
    "id_number": ("pii.id_number", Severity.HIGH, "resident ID number with a valid check character"),
    "bank_card": ("pii.bank_card", Severity.HIGH, "bank card number passing the Luhn check"),
}


class PatternDetector:
    name = "pattern"
    version = PATTERN_VERSION

    def __init__(self, normaliser: Normaliser, url_allow_domains: Iterable[str]) -> None:
        sep = normaliser.separator_class
        group = r"[0-9]+(?:x(?![a-z0-9]))?"
        self._run_re = re.compile(rf"(?<![0-9]){group}(?:[{sep}]{{1,3}}{group})*")
        self._allow = tuple(domain.lower().lstrip(".") for domain in url_allow_domains if domain)

    def detect(self, message: MessageContext, views: TextViews) -> list[Hit]:
        """Validated numbers, e-mail addresses and links outside the allow-list."""
        hits: list[Hit] = []
        if views.numerals is not None:
            hits.extend(self._numbers(views.numerals))
        folded = views.folded
        if "@" in folded.text:
            for match in _EMAIL_RE.finditer(folded.text):
                hits.append(self._hit(folded, match.start(), match.end(), "pii.email", Severity.LOW, "e-mail address"))
        for match in _URL_RE.finditer(folded.text) if "." in folded.text else ():
            if not self._allowed(match.group()):
                hits.append(
                    self._hit(folded, *match.span(), "url.external", Severity.LOW, "link outside the allowed domains")
                )
        return hits

    def detect_contact_ids(self, message: MessageContext, views: TextViews) -> list[Hit]:
        """WeChat ids and QQ numbers offered as such (微信号: abc123, QQ：12345678)."""
        hits: list[Hit] = []
        compact = views.compact
        if not _CONTACT_RE.search(compact.text):
            return hits
        for regex, rule, what in _CONTACT_PATTERNS:
            for match in regex.finditer(compact.text):
                detail = f"{what} offered for off-platform contact"
                hits.append(self._hit(compact, *match.span(), rule, Severity.HIGH, detail, "off_platform_contact"))
        return hits

    def _numbers(self, view: Folded) -> list[Hit]:
        hits: list[Hit] = []
        for run in self._run_re.finditer(view.text):
            groups = [(m.start() + run.start(), m.end() + run.start()) for m in _GROUP_RE.finditer(run.group())]
            hits.extend(self._run_hits(view, groups))
        return hits

    def _run_hits(self, view: Folded, run: Sequence[tuple[int, int]]) -> list[Hit]:
        hits: list[Hit] = []
        first = 0
        while first < len(run):
            for last in range(len(run) - 1, first - 1, -1):
                number = "".join(view.text[s:e] for s, e in run[first : last + 1])
                if len(number) > _MAX_NUMBER_LENGTH + 2:
                    continue
                kind = classify_number(number)
                if kind is not None:
                    rule, severity, what = _NUMBER_RULES[kind]
                    hit = self._hit(view, run[first][0], run[last][1], rule, severity, what)
                    hits.append(replace(hit, normalised=number))
                    first = last + 1
                    break
            else:
                first += 1
        return hits

    def _allowed(self, url: str) -> bool:
        host = re.sub(r"^(?:https?://)?", "", url).split("/", 1)[0].split(":", 1)[0].split("?", 1)[0]
        return any(host == domain or host.endswith("." + domain) for domain in self._allow)

    def _hit(
        self, view: Folded, start: int, end: int, rule: str, severity: Severity, detail: str, category: str = ""
    ) -> Hit:
        original = view.to_original(start, end)
        return Hit(
            detector=self.name,
            detector_version=self.version,
            category=category or rule,
            rule=rule,
            severity=severity,
            start=original[0],
            end=original[1],
            matched=view.original[original[0] : original[1]],
            normalised=view.text[start:end],
            detail=detail,
        )


_GROUP_RE = re.compile(r"[0-9]+x?")
