"""The sentiment/intent model: what it predicts, how it batches, and how it fails without a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.nlp.sentiment import (
    ModelMissingError,
    SentimentModel,
    SentimentResult,
    ensure_model,
    load_model,
    measure_throughput,
    model_versions,
)


@pytest.fixture(scope="module")
def model(sentiment_model_dir: Path) -> SentimentModel:
    return load_model(sentiment_model_dir)


def predict_one(model: SentimentModel, text: str) -> SentimentResult:
    return model.predict([text])[0]


@pytest.mark.parametrize(
    "text",
    ["谢谢您，问题很快就解决了，服务非常好", "太满意了，下次还找你们买", "辛苦了，您讲得特别清楚，感谢"],
)
def test_clearly_positive_chat_lines_are_positive(model: SentimentModel, text: str) -> None:
    result = predict_one(model, text)
    assert result.label == "positive"
    assert result.score < 0.5
    assert result.intent is None


@pytest.mark.parametrize("text", ["质量太差了，用了一天就坏了，很失望", "等了半个月还没发货，体验太糟糕了"])
def test_clearly_negative_chat_lines_are_negative(model: SentimentModel, text: str) -> None:
    result = predict_one(model, text)
    assert result.label == "negative"
    assert result.score >= 0.5


@pytest.mark.parametrize("text", ["我要投诉你们的售后，必须给我退款", "你们客服态度太恶劣了，我要投诉她"])
def test_complaints_are_flagged(model: SentimentModel, text: str) -> None:
    result = predict_one(model, text)
    assert (result.label, result.intent) == ("negative", "complaint")


@pytest.mark.parametrize(
    "text", ["再不退钱我就去银保监会举报你们", "你们等着，我马上找律师起诉你们公司", "我知道你住哪，小心点"]
)
def test_threats_are_flagged(model: SentimentModel, text: str) -> None:
    assert predict_one(model, text).intent == "threat"


@pytest.mark.parametrize("text", ["好的，我明天上午把合同发给您", "请问这款理财产品的起购金额是多少"])
def test_business_small_talk_is_neutral(model: SentimentModel, text: str) -> None:
    result = predict_one(model, text)
    assert result.label == "neutral"
    assert result.intent is None


@pytest.mark.parametrize("text", ["", "   ", "好", "👍", "？？", "1"])
def test_empty_and_very_short_input_is_neutral_without_a_score(model: SentimentModel, text: str) -> None:
    assert predict_one(model, text) == SentimentResult("neutral", 0.0, None, model.version)


def test_predict_returns_one_result_per_text_in_order(model: SentimentModel) -> None:
    texts = ["太好了，非常感谢", "", "我要投诉你们", "请问几点开门", "👍", "太差劲了，再也不买了"] * 150
    batched = model.predict(texts, batch_size=32)
    assert len(batched) == len(texts)
    singly = [predict_one(model, text) for text in texts[:6]]
    assert batched[:6] == singly
    assert batched[6:12] == singly
    assert all(result.model_version == model.version for result in batched)


def test_the_version_is_the_directory_name_and_meta_describes_it(sentiment_model_dir: Path) -> None:
    model = load_model(sentiment_model_dir)
    meta = json.loads((sentiment_model_dir / "meta.json").read_text(encoding="utf-8"))
    assert model.version == sentiment_model_dir.name == meta["model_version"]
    assert meta["model_version"].startswith("sentiment-")
    assert {"seed", "trained_with", "data_sha256", "metrics", "counts"} <= meta.keys()
    assert meta["trained_with"]["spacy"].startswith("3.8")


def test_a_model_directory_loads_its_newest_version(sentiment_model_dir: Path) -> None:
    assert load_model(sentiment_model_dir.parent).version == model_versions(sentiment_model_dir.parent)[-1].name


def test_ensure_model_reuses_an_existing_version(sentiment_model_dir: Path) -> None:
    assert ensure_model(sentiment_model_dir.parent) == model_versions(sentiment_model_dir.parent)[-1]


def test_a_missing_model_says_how_to_train_one(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match=r"wecom-audit nlp train"):
        load_model(tmp_path / "nothing-here")
    with pytest.raises(ModelMissingError, match=r"wecom-audit nlp train"):
        load_model(tmp_path)


def test_throughput_is_measured_in_messages_per_cpu_second(model: SentimentModel) -> None:
    assert measure_throughput(model, ["您好，请问明天几点发货？"] * 300, batch_size=100) > 0
