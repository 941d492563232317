"""The index's fast folding is the same function as audit.text.fold, and highlights map back."""

from __future__ import annotations

import random

from audit.text.fold import fold_text
from search.folding import fold_for_index
from search.highlight import highlight_spans
from search.query import parse_query

SAMPLES = [
    "",
    "plain ascii Text",
    "ＶＸ：ＡＢＣ１２３",
    "私下轉賬，零風險，發財",
    "e\u0301 café Straße ß ǅ ﬁ ㈱ ①",
    "加\u200b微\u200c信",
    "한국어 조합 \u1100\u1161",
    "😀 emoji ＆ 符号 ～ ！？",
    "\U000f0041 private use",
]


def test_fold_for_index_equals_fold_text() -> None:
    rng = random.Random(8)
    alphabet = "".join(SAMPLES) + "ＡａＺｚ０９藝術發達後臺乾隆"
    generated = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(2000)]
    for text in [*SAMPLES, *generated]:
        assert fold_for_index(text) == fold_text(text), repr(text)


def test_highlights_map_folded_matches_to_the_original_characters() -> None:
    text = "先生，ＶＸ號是 vx9，轉賬請私下"
    spans = highlight_spans(parse_query("vx OR 转账 -微信"), text)
    assert [text[start:end] for start, end in spans] == ["ＶＸ", "vx", "轉賬"]
    assert highlight_spans(parse_query("NOT 转账"), text) == ()
