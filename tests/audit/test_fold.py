"""Folding: one canonical form for search and detection, with exact offsets back."""

from __future__ import annotations

import pytest

from audit.text.fold import fold, fold_text


@pytest.mark.parametrize(
    ("written", "folded"),
    [
        ("ＶＸ", "vx"),  # full-width Latin
        ("１３８", "138"),  # full-width digits
        ("返利", "返利"),
        ("發財", "发财"),  # traditional → simplified
        ("頭髮", "头发"),
        ("WeChat", "wechat"),
        ("Straße", "strasse"),  # case folding may lengthen
    ],
)
def test_fold_forms(written: str, folded: str) -> None:
    assert fold_text(written) == folded


def test_offsets_map_back_to_what_was_written() -> None:
    original = "請加ＶＸ：Straße 發財"
    folded = fold(original)
    assert len(folded.origin) == len(folded.text)
    for needle, expected in [("vx", "ＶＸ"), ("发财", "發財"), ("strasse", "Straße"), ("ss", "ß")]:
        start = folded.text.index(needle)
        begin, end = folded.to_original(start, start + len(needle))
        assert original[begin:end] == expected


def test_drop_and_substitute_keep_offsets() -> None:
    folded = fold("加 V - 信").drop(lambda char: char in " -").substitute(lambda c: "微" if c == "v" else c)
    assert folded.text == "加微信"
    begin, end = folded.to_original(0, 3)
    assert folded.original[begin:end] == "加 V - 信"


def test_span_outside_text_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside"):
        fold("ab").to_original(1, 5)
