"""Pattern detectors validate: checksums decide, not digit counts."""

from __future__ import annotations

import pytest

from archive.simulator.phrases import idcard_check_char, luhn_check_digit
from audit.detect.engine import DetectionEngine
from audit.detect.patterns import classify_number, id_number_valid, luhn_valid
from tests.audit.detect.conftest import highlighted, text_hits

VALID_ID = "11010519491231002X"
VALID_CARD = "6222021234567890" + "12"
VALID_CARD += luhn_check_digit(VALID_CARD)


def _rules(engine: DetectionEngine, text: str) -> list[tuple[str, str]]:
    return [(hit.rule, text[hit.start : hit.end]) for hit in text_hits(engine, text) if hit.detector == "pattern"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678找我", "13812345678"),
        ("电话138 1234 5678找我", "138 1234 5678"),
        ("电话138-1234-5678找我", "138-1234-5678"),
        ("电话１３８１２３４５６７８找我", "１３８１２３４５６７８"),
        ("电话一三八一二三四五六七八找我", "一三八一二三四五六七八"),
        ("电话幺三八 幺二三四 五六七八", "幺三八 幺二三四 五六七八"),
        ("电话+86 138 1234 5678", "86 138 1234 5678"),
    ],
)
def test_mobile_numbers_in_every_form(engine: DetectionEngine, text: str, expected: str) -> None:
    assert _rules(engine, text) == [("pii.mobile", expected)]


def test_id_numbers_need_a_valid_check_character(engine: DetectionEngine) -> None:
    assert _rules(engine, f"身份证{VALID_ID}") == [("pii.id_number", VALID_ID)]
    assert _rules(engine, f"身份证{VALID_ID.lower()}，谢谢") == [("pii.id_number", VALID_ID.lower())]
    body = "32010219880315123"
    good = body + idcard_check_char(body)
    bad = body + next(c for c in "0123456789X" if c != idcard_check_char(body))
    assert _rules(engine, f"号码{good}") == [("pii.id_number", good)]
    assert _rules(engine, f"号码{bad}") == []
    assert not id_number_valid("110105194913310028")  # month 13


def test_bank_cards_need_the_luhn_check_and_a_plausible_prefix(engine: DetectionEngine) -> None:
    assert luhn_valid(VALID_CARD)
    spaced = " ".join(VALID_CARD[i : i + 4] for i in range(0, len(VALID_CARD), 4))
    assert _rules(engine, f"卡号{VALID_CARD}") == [("pii.bank_card", VALID_CARD)]
    assert _rules(engine, f"卡号 {spaced} 工行") == [("pii.bank_card", spaced)]
    broken = VALID_CARD[:-1] + str((int(VALID_CARD[-1]) + 3) % 10)
    assert _rules(engine, f"卡号{broken}") == []
    # Luhn-valid but not a card prefix (an order number, say): not flagged.
    order = "1000000000000000" + "00"
    order += luhn_check_digit(order)
    assert classify_number(order) is None


def test_two_numbers_separated_by_a_space_are_told_apart(engine: DetectionEngine) -> None:
    text = f"手机13812345678 {VALID_CARD}"
    assert _rules(engine, text) == [("pii.mobile", "13812345678"), ("pii.bank_card", VALID_CARD)]


def test_long_digit_runs_that_are_nothing_are_not_flagged(engine: DetectionEngine) -> None:
    assert _rules(engine, "订单号 20261123000012345678901") == []
    assert _rules(engine, "金额1234567元") == []


def test_email_and_urls_outside_the_allow_list(engine: DetectionEngine) -> None:
    text = "发到 zhang.san@163.com，或看 https://evil.example.com/p?a=1 和 https://work.weixin.qq.com/x"
    assert _rules(engine, text) == [
        ("pii.email", "zhang.san@163.com"),
        ("url.external", "https://evil.example.com/p?a=1"),
    ]
    assert _rules(engine, "看这里 www.example.cn/abc") == [("url.external", "www.example.cn/abc")]


@pytest.mark.parametrize(
    ("text", "rule", "expected"),
    [
        ("我微信号: zhang_san88，加一下", "contact.wechat_id", "微信号: zhang_san88"),
        ("加我VX：wxid_abc123def", "contact.wechat_id", "VX：wxid_abc123def"),
        ("V信号是 lisi2024", "contact.wechat_id", "V信号是 lisi2024"),
        ("QQ：12345678", "contact.qq_id", "QQ：12345678"),
        ("加我扣扣 87654321", "contact.qq_id", "扣扣 87654321"),
        ("ＱＱ号１２３４５６７８", "contact.qq_id", "ＱＱ号１２３４５６７８"),
    ],
)
def test_wechat_and_qq_ids_when_introduced(engine: DetectionEngine, text: str, rule: str, expected: str) -> None:
    hits = [hit for hit in text_hits(engine, text) if hit.rule == rule]
    assert highlighted(text, hits) == [expected]
    assert hits[0].category == "off_platform_contact"


def test_ids_without_an_introduction_are_not_contact_ids(engine: DetectionEngine) -> None:
    assert [h for h in text_hits(engine, "版本号 abc12345 已发布") if h.rule.startswith("contact.")] == []
