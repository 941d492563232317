"""A bag-of-words text classifier over jieba words and character n-grams.

spaCy's ``TextCatBOW`` hashes n-grams of one token attribute. Chinese chat defeats a word
segmenter often enough (slang, typos, 加V, run-together phrases) that character n-grams add
signal words miss, and words add signal that characters spread thin; so this model extracts
word uni- and bigrams (spaCy's ORTH ids from the jieba segmenter) *and* character 1–3-grams of
the raw text, hashes them into one sparse linear layer and normalises with softmax. Fully
vectorised per document (numpy), so inference stays far above 2,000 chat messages/s per core.

The architecture is registered with spaCy's registry under ``wecom_audit.WordCharBOW.v1``;
``audit.nlp.sentiment`` imports this module before loading a saved pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy
from spacy.attrs import ORTH  # type: ignore[import-not-found]  # a compiled module without stubs
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Logistic, Model, SparseLinear_v2, chain, softmax_activation

# Character n-gram keys are moved out of the range of spaCy's 64-bit ORTH hashes' own n-grams.
_CHAR_SALT = numpy.uint64(0x9E3779B97F4A7C15)

Features = tuple[Any, Any, Any]  # (keys uint64[n], values float32[n], lengths int32[batch])


def _extract(model: Model[list[Doc], Features], docs: list[Doc], is_train: bool) -> tuple[Features, Callable[..., Any]]:
    ngrams: Callable[[int, Any], Any] = model.ops.ngrams  # numpy arrays in, hashed n-gram keys out
    word_ngrams: int = model.attrs["word_ngrams"]
    char_ngrams: int = model.attrs["char_ngrams"]
    batch_keys = []
    batch_counts = []
    cache_key = f"wecom_audit.ngrams.{word_ngrams}.{char_ngrams}"
    for doc in docs:
        # Both classifiers of the pipeline use the same features: extract them once per doc.
        cached = doc.user_data.get(cache_key)
        if cached is None:
            cached = doc.user_data[cache_key] = _doc_features(doc, word_ngrams, char_ngrams, ngrams)
        batch_keys.append(cached[0])
        batch_counts.append(cached[1])
    lengths = numpy.asarray([len(keys) for keys in batch_keys], dtype="int32")
    all_keys = numpy.concatenate(batch_keys) if batch_keys else numpy.zeros((0,), dtype="uint64")
    all_counts = (
        numpy.concatenate(batch_counts).astype("float32") if batch_counts else numpy.zeros((0,), dtype="float32")
    )

    def backprop(_: Any) -> list[Doc]:
        return []  # features are not learned

    return (all_keys, all_counts, lengths), backprop


def _doc_features(doc: Doc, word_ngrams: int, char_ngrams: int, ngrams: Callable[[int, Any], Any]) -> tuple[Any, Any]:
    parts: list[Any] = []
    words = numpy.asarray(doc.to_array([ORTH]), dtype="uint64").reshape(-1)
    if word_ngrams and len(words):
        parts.append(words)
        parts += [ngrams(n, words) for n in range(2, word_ngrams + 1) if len(words) >= n]
    chars = numpy.frombuffer(doc.text.encode("utf-32-le"), dtype=numpy.uint32).astype("uint64")
    if char_ngrams and len(chars):
        parts.append(chars ^ _CHAR_SALT)
        parts += [ngrams(n, chars) ^ _CHAR_SALT for n in range(2, char_ngrams + 1) if len(chars) >= n]
    keys = numpy.concatenate(parts) if parts else numpy.zeros((0,), dtype="uint64")
    return numpy.unique(keys, return_counts=True)


@registry.architectures("wecom_audit.WordCharBOW.v1")  # type: ignore[untyped-decorator]
def word_char_bow(
    exclusive_classes: bool,
    word_ngrams: int = 2,
    char_ngrams: int = 3,
    length: int = 1 << 20,
    nO: int | None = None,  # spaCy passes the label count under this name
) -> Model[list[Doc], Any]:
    extract: Model[list[Doc], Features] = Model(
        "word_char_ngrams", _extract, attrs={"word_ngrams": word_ngrams, "char_ngrams": char_ngrams}
    )
    output = softmax_activation() if exclusive_classes else Logistic()
    linear = SparseLinear_v2(nO, length=length)
    model: Model[list[Doc], Any] = chain(extract, linear, output)
    if nO is not None:
        model.set_dim("nO", nO)
    model.set_ref("output_layer", linear)  # as spaCy's TextCatBOW: what resizing touches
    model.attrs["multi_label"] = not exclusive_classes
    return model
