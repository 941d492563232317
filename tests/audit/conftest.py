"""Fixtures shared by the audit tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sentiment_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentiment/intent model trained once per session by the real recipe (offline, ~1–2 min):
    the version directory, loadable with ``audit.nlp.sentiment.load_model(path)``."""
    from audit.nlp.sentiment import train_model

    return train_model(tmp_path_factory.mktemp("sentiment-models"), seed=0).model_path
