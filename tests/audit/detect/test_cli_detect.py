"""`wecom-audit detect` as a plain pipe, and `wecom-audit lexicon` on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from audit.detect.hits import Severity
from audit.detect.rules import io as rules_io
from audit.detect.rules.spec import LexiconGroup
from tests.conftest import Database


def _run(args: list[str], stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "WECOM_AUDIT_DATA_DIR": str(tmp_path / "data"), "PYTHONIOENCODING": "utf-8", **extra}


def test_detect_reads_lines_and_prints_one_json_object_each(tmp_path: Path) -> None:
    result = _run(["detect", "--no-sentiment"], "加 V 信 聊\n你好\n电话 138-1234-5678\n", _env(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3
    first, hello, phone = lines
    assert first["text"] == "加 V 信 聊" and first["sentiment"] is None
    [hit] = first["hits"]
    assert hit["detector"] == "lexicon" and hit["category"] == "off_platform_contact" and hit["severity"] == "high"
    start, end = hit["span"]
    assert "加 V 信 聊"[start:end] == hit["matched"] == "加 V 信" and hit["normalised"] == "加微信"
    assert hit["version"] and hit["rule"]
    assert hello["hits"] == []
    assert [h["rule"] for h in phone["hits"]] == ["pii.mobile"]


def test_detect_without_a_sentiment_model_says_what_to_do(tmp_path: Path) -> None:
    env = _env(tmp_path, WECOM_AUDIT_NLP__MODEL_DIR=str(tmp_path / "no-model"))
    result = _run(["detect"], "你好\n", env)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    if record["sentiment"] is None:
        assert "wecom-audit nlp train" in result.stderr
    else:  # a trained model is installed here
        assert record["sentiment"]["label"] in {"positive", "negative", "neutral"}


def test_detect_tries_a_draft_lexicon_file(tmp_path: Path) -> None:
    draft = tmp_path / "draft.xlsx"
    rules_io.write_rules([LexiconGroup("草稿", "kickback", Severity.LOW, ("茶水费",))], draft)
    result = _run(["detect", "--no-sentiment", "--rules", str(draft)], "给点茶水费\n加微信\n", _env(tmp_path))
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert [h["rule"] for h in first["hits"]] == ["草稿"]
    assert [h for h in second["hits"] if h["detector"] == "lexicon"] == []  # only the draft's terms


def test_detect_uses_the_database_rules(tmp_path: Path, sqlite_database: Database) -> None:
    env = _env(tmp_path, WECOM_AUDIT_DATABASE__URL=sqlite_database.url)
    lexicon = tmp_path / "extra.csv"
    rules_io.write_rules([LexiconGroup("暗号", "private_dealing", Severity.HIGH, ("青龙计划",))], lexicon)
    assert _run(["lexicon", "seed"], "", env).returncode == 0
    imported = _run(["lexicon", "import", str(lexicon)], "", env)
    assert imported.returncode == 0, imported.stderr
    result = _run(["detect", "--no-sentiment"], "青龙计划\n加 微 信\n", env)
    assert result.returncode == 0, result.stderr
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert [h["rule"] for h in first["hits"]] == ["暗号"]
    assert [h["category"] for h in second["hits"]] == ["off_platform_contact"]
    exported = tmp_path / "all.csv"
    assert _run(["lexicon", "export", str(exported)], "", env).returncode == 0
    assert {group.name for group in rules_io.read_rules(exported).groups} >= {"暗号", "私下联系"}
