"""Top words of a room's day for a word cloud: jieba segmentation minus stopwords.

jieba takes about 0.8 s and 80 MB to load its dictionary, so one segmenter is built per
process, on first use. Words are counted on folded text (NFKC, case, traditional →
simplified) so 「賬戶」 and 「账户」 are one word.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

from audit.text.fold import fold

MIN_WORD_CHARS = 2  # single characters are mostly particles; they make a noisy cloud
MAX_WORD_CHARS = 16
_lock = threading.Lock()


@cache
def stopwords() -> frozenset[str]:
    """The packaged stopword list (``audit/monitor/data/stopwords_zh.txt``), folded."""
    text = resources.files("audit.monitor").joinpath("data/stopwords_zh.txt").read_text(encoding="utf-8")
    words = (line.strip() for line in text.splitlines())
    return frozenset(fold(word).text for word in words if word and not word.startswith("#"))


@cache
def _tokenizer() -> Any:
    import jieba  # type: ignore[import-untyped]

    jieba.setLogLevel(60)  # its "Building prefix dict" banner is not ours to print
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


class TopWords:
    """Counts the words of many texts and returns the most frequent ones."""

    def __init__(self, extra_stopwords: Iterable[str] = ()) -> None:
        self.stopwords = stopwords() | {fold(word).text for word in extra_stopwords}

    def words(self, text: str) -> list[str]:
        folded = fold(text).text
        with _lock:  # jieba's tokenizer keeps per-call state
            tokens = list(_tokenizer().cut(folded))
        return [token for token in (t.strip() for t in tokens) if self._keep(token)]

    def _keep(self, token: str) -> bool:
        if not MIN_WORD_CHARS <= len(token) <= MAX_WORD_CHARS or token in self.stopwords:
            return False
        if token.isdigit() or not any(ch.isalnum() for ch in token):
            return False
        return not token.isascii() or token.isalpha()  # drop ids and codes such as "a1b2"

    def top(self, texts: Iterable[str | None], limit: int) -> list[tuple[str, int]]:
        counts: Counter[str] = Counter()
        for text in texts:
            if text:
                counts.update(self.words(text))
        # Ties broken by the word itself, so the stored ranking is deterministic.
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
