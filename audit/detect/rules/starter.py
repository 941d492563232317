"""The starter lexicons and the variant map shipped as editable CSV files in
``audit/detect/data/`` (or a directory named by ``detection.lexicon_data_dir``)."""

from __future__ import annotations

import csv
from pathlib import Path

from audit.detect.rules.io import read_csv
from audit.detect.rules.spec import LexiconGroup, RuleError, RuleSet

PACKAGED_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
VARIANTS_FILE = "variants.csv"
LEXICONS_DIR = "lexicons"


def load_variants(data_dir: Path | None = None) -> dict[str, str]:
    """``variant → canonical`` spellings of contact channels (V信 → 微信, 扣扣 → QQ)."""
    path = (data_dir or PACKAGED_DATA_DIR) / VARIANTS_FILE
    if not path.exists():
        if data_dir is not None:
            path = PACKAGED_DATA_DIR / VARIANTS_FILE
        else:
            raise RuleError(f"{path} is missing: reinstall wecom-audit or set detection.lexicon_data_dir")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.DictReader(handle)
        return {row["variant"].strip(): row["canonical"].strip() for row in rows if row.get("variant")}


def starter_groups(data_dir: Path | None = None) -> list[LexiconGroup]:
    directory = (data_dir or PACKAGED_DATA_DIR) / LEXICONS_DIR
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise RuleError(f"no lexicon files (*.csv) in {directory}")
    groups: list[LexiconGroup] = []
    for path in files:
        groups.extend(read_csv(path))
    return groups


def starter_rules(data_dir: Path | None = None) -> RuleSet:
    return RuleSet(tuple(starter_groups(data_dir)))
