"""Every evasion form is caught, and its highlight lands on exactly the characters written."""

from __future__ import annotations

import random
import re
from dataclasses import replace

import pytest

from archive.simulator import phrases
from audit.detect.engine import DetectionEngine, compile_engine
from audit.detect.rules.starter import starter_rules
from audit.text.normalise import BATCH_DELIMITER
from config.settings import DetectionSettings
from tests.audit.detect.conftest import STAFF_TO_CUSTOMER, highlighted, text_hits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("方便加微信吗", "加微信"),
        ("方便加 微 信吗", "加 微 信"),
        ("方便加-微-信吗", "加-微-信"),
        ("方便加\u200b微信吗", "加\u200b微信"),
        ("方便加\u200c微\u2060信吗", "加\u200c微\u2060信"),
        ("方便加.微·信吗", "加.微·信"),
        ("方便加🌹微🌹信吗", "加🌹微🌹信"),
        ("方便加 V 信吗", "加 V 信"),
        ("方便加V信吗", "加V信"),
        ("方便加vx吗", "加vx"),
        ("方便加ＶＸ吗", "加ＶＸ"),
        ("方便加Ｖ信吗", "加Ｖ信"),
        ("方便加WX吗", "加WX"),
        ("方便加薇信吗", "加薇信"),
        ("方便加威信吗", "加威信"),
        ("方便加徽信吗", "加徽信"),
        ("方便加卫星吗", "加卫星"),
        ("方便加微❤吗", "加微❤"),
        ("加我扣扣", "加我扣扣"),
        ("加我企鹅号", "加我企鹅号"),
        ("加我Q Q", "加我Q Q"),
        ("加我ＱＱ", "加我ＱＱ"),
    ],
)
def test_contact_channel_evasions_are_caught_and_highlighted(engine: DetectionEngine, text: str, expected: str) -> None:
    hits = [h for h in text_hits(engine, text) if h.category == "off_platform_contact"]
    assert expected in highlighted(text, hits), [(h.rule, h.normalised) for h in hits]


@pytest.mark.parametrize(
    ("text", "expected", "category"),
    [
        ("这单走飛單", "飛單", "private_dealing"),
        ("我们私 下 交 易", "私 下 交 易", "private_dealing"),
        ("这个产品穩賺不賠", "穩賺不賠", "guaranteed_return"),
        ("保\u200b本\u200b保\u200b息", "保\u200b本\u200b保\u200b息", "guaranteed_return"),
        ("给您返-利", "返-利", "kickback"),
        ("你是ＳＢ吗", "ＳＢ", "abuse"),
        ("傻 逼", "傻 逼", "abuse"),
    ],
)
def test_keyword_evasions(engine: DetectionEngine, text: str, expected: str, category: str) -> None:
    hits = [h for h in text_hits(engine, text) if h.category == category]
    assert highlighted(text, hits) == [expected]


def test_ascii_terms_match_whole_words_only(engine: DetectionEngine) -> None:
    assert text_hits(engine, "插上usb就行") == []
    assert text_hits(engine, "wxyz是型号") == []
    assert highlighted("你是sb吗", text_hits(engine, "你是sb吗")) == ["sb"]


def test_exclusions_and_allowed_contexts(engine: DetectionEngine) -> None:
    assert text_hits(engine, "本产品不保本，请注意") == []
    assert text_hits(engine, "公司禁止返利给客户") == []
    assert text_hits(engine, "这个保本，但投资有风险") == []
    assert highlighted("这个保本的", text_hits(engine, "这个保本的")) == ["保本"]


def test_the_hit_explains_itself(engine: DetectionEngine) -> None:
    [hit] = text_hits(engine, "加 V 信聊吧")
    assert (hit.detector, hit.category, hit.severity.value) == ("lexicon", "off_platform_contact", "high")
    assert hit.matched == "加 V 信" and hit.normalised == "加微信" and hit.detector_version
    assert hit.rule  # the lexicon group's name


_SLOT = re.compile(r"{(\w+)}")


def _generated(count: int, seed: int = 5) -> list[tuple[str, frozenset[str]]]:
    maker = phrases.TextMaker(random.Random(seed))
    categories = sorted(phrases.TEMPLATES)
    # Slots the conversation fills (names, departments ...) get a fixed value here.
    slots = {slot for entries in phrases.TEMPLATES.values() for text, _ in entries for slot in _SLOT.findall(text)}
    context = {slot: "王经理" for slot in slots if slot not in maker._gen}
    return [maker.make(categories[i % len(categories)], context) for i in range(count)]


_LABEL_CATEGORIES = {
    "sensitive:guaranteed_return": "guaranteed_return",
    "sensitive:off_platform": "off_platform_contact",
    "sensitive:kickback": "kickback",
    "sensitive:private_dealing": "private_dealing",
    "sensitive:poaching": "competitor_poaching",
    "sensitive:abuse": "abuse",
    "pii:mobile": "pii.mobile",
    "pii:email": "pii.email",
    "pii:idcard-valid": "pii.id_number",
    "pii:bankcard-valid": "pii.bank_card",
}


def test_every_risky_simulated_phrase_is_caught(engine: DetectionEngine) -> None:
    """The simulator labels what its phrases contain (with the evasion used): all caught."""
    generated = _generated(6000)
    results = engine.scan([replace(STAFF_TO_CUSTOMER, text=text) for text, _ in generated])
    missed: list[tuple[str, str]] = []
    for (text, labels), hits in zip(generated, results, strict=True):
        categories = {hit.category for hit in hits}
        for label, category in _LABEL_CATEGORIES.items():
            if label in labels and category not in categories:
                missed.append((category, text))
        if "pii:idcard-invalid" in labels:
            assert "pii.id_number" not in categories, text
        if "pii:bankcard-invalid" in labels:
            assert "pii.bank_card" not in categories, text
    assert missed == []


def test_batch_fast_path_equals_the_per_message_views(engine: DetectionEngine) -> None:
    """The batch filter and the per-message views apply the same substitutions."""
    texts = [text for text, _ in _generated(3000, seed=9)]
    texts += ["方便加 V 信吗", "ＱＱ：１２３４", "㈱会社…加微❤️", "Straße ß", "a  b", "v x", ""]
    # Characters above the BMP: emoji as separators (kept as a space between ASCII words),
    # mathematical and enclosed letters that fold, a CJK extension character that does not.
    texts += ["add🌹vx", "加🌹微🌹信", "𝐕𝐗 12🅥", "𠀀微信", "a\u3000b", "138🌹1234🌹5678"]
    normaliser = engine.normaliser
    batch = normaliser.compact_plain(normaliser.fast_fold_batch(texts)).split(BATCH_DELIMITER)
    assert batch == [normaliser.views(text).compact.text for text in texts]


def test_scanning_a_batch_equals_scanning_each_message(engine: DetectionEngine) -> None:
    texts = ["你好", "加 V 信", "电话13812345678", "", "飛單", "邮箱 a.b@163.com", "谢谢"]
    batch = engine.scan([replace(STAFF_TO_CUSTOMER, text=text) for text in texts])
    assert batch == [text_hits(engine, text) for text in texts]
    assert [bool(hits) for hits in batch] == [False, True, True, False, True, True, False]


def test_pinyin_matching_is_an_option() -> None:
    """Homophones the variant file does not list are caught by pinyin when enabled."""
    text = "方便加伟新吗"  # wei xin, written with other characters
    plain = compile_engine(starter_rules(), DetectionSettings())
    pinyin = compile_engine(starter_rules(), DetectionSettings(pinyin_matching=True))
    assert [h for h in text_hits(plain, text) if h.category == "off_platform_contact"] == []
    hits = [h for h in text_hits(pinyin, text) if h.category == "off_platform_contact"]
    assert highlighted(text, hits) == ["加伟新"]
    assert hits[0].normalised == "jiaweixin" and "pinyin" in hits[0].detail
