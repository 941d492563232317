"""``wecom-audit detect`` (try detectors on text lines) and ``wecom-audit lexicon`` (rule tables:
list, import, export, seed). Translates and delegates only.

``api.cli`` registers :func:`detect` and adds :data:`lexicon_app` as ``lexicon``."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import typer
from rich.table import Table

from api.cli.support import console, err_console, open_context, transaction
from api.context import AppContext
from audit.detect.context import MessageContext
from audit.detect.engine import DetectionEngine, compile_engine
from audit.detect.hits import Hit
from audit.detect.rules import io as rules_io
from audit.detect.rules import repository as rules_repository
from audit.detect.rules.service import ensure_starter_rules, import_groups, rules_or_starter
from audit.detect.rules.spec import RuleError, RuleSet
from audit.detect.rules.starter import starter_rules

DETECT_CHUNK_LINES = 512
SENTIMENT_HINT = "sentiment model not found: run `wecom-audit nlp train` (or pass --no-sentiment)"

lexicon_app = typer.Typer(help="Lexicon rule tables: list, import and export (CSV/Excel).", no_args_is_help=True)


class _SentimentResult(Protocol):
    label: str
    score: float
    intent: str | None
    model_version: str


class _SentimentModel(Protocol):
    def predict(self, texts: Sequence[str]) -> Sequence[_SentimentResult]: ...


def detect(
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="A draft lexicon (.csv or .xlsx) instead of the database's rules.", exists=True),
    ] = None,
    no_sentiment: Annotated[bool, typer.Option("--no-sentiment", help="Skip the sentiment model.")] = False,
    model: Annotated[
        Path | None, typer.Option("--model", help="Sentiment model directory (default: the trained one).")
    ] = None,
    sender: Annotated[
        Literal["staff", "customer"], typer.Option("--sender", help="Judge lines as sent by staff or by a customer.")
    ] = "staff",
    chat: Annotated[
        Literal["single", "group", "internal"], typer.Option("--chat", help="Judge lines as sent in this kind of chat.")
    ] = "single",
) -> None:
    """Read text lines on stdin; print one JSON object per line: its hits and its sentiment.

    Example: echo 加 V 信 聊 | wecom-audit detect --no-sentiment"""
    context = open_context()
    try:
        engine = _engine(context, rules)
    finally:
        context.close()
    sentiment = None if no_sentiment else _sentiment_model(model)
    template = MessageContext(
        message_id=None,
        corp_id="",
        msgid="",
        msgtype="text",
        action="send",
        text=None,
        body={},
        sender="cli" if sender == "staff" else "wmcli",
        sender_is_staff=sender == "staff",
        recipients=(),
        roomid="cli-room" if chat == "group" else None,
        chat_kind=chat,
        has_external=chat != "internal",
        msgtime=datetime.now(UTC),
    )
    interactive = sys.stdin.isatty()
    for chunk in _chunks(sys.stdin, 1 if interactive else DETECT_CHUNK_LINES):
        hits = engine.scan_texts(chunk, template)
        verdicts: Sequence[_SentimentResult | None] = sentiment.predict(chunk) if sentiment else [None] * len(chunk)
        for text, text_hits, verdict in zip(chunk, hits, verdicts, strict=True):
            record = {
                "text": text,
                "hits": [_hit_json(hit) for hit in text_hits],
                "sentiment": _sentiment_json(verdict),
            }
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()


def _chunks(lines: Any, size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for line in lines:
        chunk.append(line.rstrip("\r\n"))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _engine(context: AppContext, rules_file: Path | None) -> DetectionEngine:
    try:
        rules = rules_io.read_rules(rules_file) if rules_file else _default_rules(context)
    except RuleError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(code=1) from None
    return compile_engine(rules, context.settings.detection)


def _default_rules(context: AppContext) -> RuleSet:
    """The database's rules when a database is configured and migrated, else the starter lexicons."""
    settings = context.settings
    data_dir = settings.detection.lexicon_data_dir
    default_file = settings.data_dir / "wecom-audit.db"
    if not settings.database.url and not default_file.exists():
        return starter_rules(data_dir)
    try:
        with transaction(context) as session:
            return rules_or_starter(session, data_dir=data_dir)
    except Exception as exc:
        err_console.print(
            f"[yellow]Note:[/] database rules unavailable ({type(exc).__name__}); using the starter lexicons"
        )
        return starter_rules(data_dir)


def _sentiment_model(path: Path | None) -> _SentimentModel | None:
    # spaCy is loaded only when a sentiment is asked for (and may not be installed).
    try:
        module = importlib.import_module("audit.nlp.sentiment")
    except ImportError:
        err_console.print(f"[yellow]Hint:[/] {SENTIMENT_HINT}", soft_wrap=True)
        return None
    try:
        model: _SentimentModel = module.load_model(path)
    except module.ModelMissingError:
        err_console.print(f"[yellow]Hint:[/] {SENTIMENT_HINT}", soft_wrap=True)
        return None
    return model


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "detector": hit.detector,
        "version": hit.detector_version,
        "category": hit.category,
        "rule": hit.rule,
        "severity": hit.severity.value,
        "span": [hit.start, hit.end] if hit.start is not None else None,
        "matched": hit.matched,
        "normalised": hit.normalised,
        "detail": hit.detail,
    }


def _sentiment_json(verdict: _SentimentResult | None) -> dict[str, Any] | None:
    if verdict is None:
        return None
    return {
        "label": verdict.label,
        "score": round(float(verdict.score), 4),
        "intent": verdict.intent,
        "model_version": verdict.model_version,
    }


# --- lexicon ------------------------------------------------------------------------------


@contextmanager
def _migrated() -> Iterator[AppContext]:
    """The app context with its database schema up to date (the lexicon commands write rules)."""
    context = open_context()
    try:
        context.migrate()
        yield context
    finally:
        context.close()


@lexicon_app.command("list")
def lexicon_list() -> None:
    """Lexicon groups in the database with their scope and number of terms."""
    with _migrated() as context, transaction(context) as session:
        groups = rules_repository.list_groups(session)
    if not groups:
        console.print("No lexicon groups yet. Seed the starter lexicons: `wecom-audit lexicon seed`.")
        return
    table = Table(title="Lexicon groups")
    for column in ("group", "category", "severity", "direction", "chat", "scope", "terms", "enabled"):
        table.add_column(column)
    for group in groups:
        scope = ", ".join(
            part
            for part in (
                f"{len(group.departments)} depts" if group.departments else "",
                f"{len(group.employees)} people" if group.employees else "",
                f"{len(group.rooms)} rooms" if group.rooms else "",
            )
            if part
        )
        table.add_row(
            group.name,
            group.category,
            group.severity.value,
            group.direction,
            group.chat_kind,
            scope or "everywhere",
            str(len(group.terms)),
            "yes" if group.enabled else "no",
        )
    console.print(table)


@lexicon_app.command("import")
def lexicon_import(
    file: Annotated[Path, typer.Argument(help="A .csv or .xlsx lexicon.", exists=True, dir_okay=False)],
    corp: Annotated[str, typer.Option("--corp", help="Only for this corp (default: every corp).")] = "",
) -> None:
    """Insert or replace the file's groups (by name); other groups stay. Running engines pick
    the change up on their next batch."""
    try:
        groups = rules_io.read_rules(file).groups
    except RuleError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}")
        raise typer.Exit(code=1) from None
    with _migrated() as context, transaction(context) as session:
        ensure_starter_rules(session, datetime.now(UTC), context.settings.detection.lexicon_data_dir)  # see the API
        count = import_groups(session, groups, datetime.now(UTC), corp)
    console.print(f"Imported {count} lexicon groups from {file}.")


@lexicon_app.command("export")
def lexicon_export(
    file: Annotated[Path, typer.Argument(help="Where to write (.csv or .xlsx).", dir_okay=False)],
) -> None:
    """Write every lexicon group (disabled ones included) to a CSV or Excel file."""
    with _migrated() as context, transaction(context) as session:
        groups = rules_repository.list_groups(session)
    rules_io.write_rules(groups, file)
    console.print(f"Exported {len(groups)} lexicon groups to {file}.")


@lexicon_app.command("seed")
def lexicon_seed() -> None:
    """Load the starter lexicons into empty rule tables (never overwrites existing rules)."""
    with _migrated() as context, transaction(context) as session:
        count = ensure_starter_rules(session, datetime.now(UTC), context.settings.detection.lexicon_data_dir)
    console.print(
        f"Seeded {count} starter lexicon groups." if count else "Rule tables already hold rules; nothing seeded."
    )
