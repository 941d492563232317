"""Imports go one way: config ← archive ← audit ← search ← api. Nothing imports api, and
the puller imports neither audit nor search (it hands batches to sinks)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["config", "archive", "audit", "search", "api"]


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_imports_follow_the_layers() -> None:
    violations = []
    for rank, package in enumerate(LAYERS):
        allowed = set(LAYERS[: rank + 1])
        for path in (ROOT / package).rglob("*.py"):
            forbidden = (imported_packages(path) & set(LAYERS)) - allowed
            if forbidden:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(forbidden)}")
    assert not violations, "\n".join(violations)


def test_the_puller_knows_nothing_of_audit_or_search() -> None:
    for name in ("puller.py", "quarantine.py", "repository.py"):
        assert not imported_packages(ROOT / "archive" / name) & {"audit", "search", "api"}


# api/ opens no session by hand and runs no query: requests get theirs from the boundary
# (``api/unit_of_work.py``, ADR 0022), and every query lives in a repository below api/.
API_BOUNDARY = {"api/unit_of_work.py"}
SESSION_METHODS = {"get", "add", "add_all", "delete", "merge", "execute", "scalars", "scalar", "query", "flush"}
SESSION_NAMES = {"session", "db"}
ALLOWED_SQLALCHEMY = {("sqlalchemy", "Engine"), ("sqlalchemy.orm", "Session"), ("sqlalchemy.orm", "sessionmaker")}


def session_violations(path: Path) -> list[str]:
    """Where ``path`` opens a session by hand or runs a query (``file:line what``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sqlalchemy":
            for alias in node.names:
                if (node.module, alias.name) not in ALLOWED_SQLALCHEMY:
                    found.append(f"{line} imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "sqlalchemy" for a in node.names):
            found.append(f"{line} imports sqlalchemy")
        elif isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Name) and function.id == "session_scope":
                found.append(f"{line} opens a session (session_scope)")
            elif isinstance(function, ast.Attribute):
                if function.attr == "session_factory":
                    found.append(f"{line} opens a session (session_factory())")
                elif (
                    function.attr in SESSION_METHODS
                    and isinstance(function.value, ast.Name)
                    and function.value.id in SESSION_NAMES
                ):
                    found.append(f"{line} queries ({function.value.id}.{function.attr})")
    return found


def test_api_opens_no_session_and_runs_no_query() -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{where}"
        for path in sorted((ROOT / "api").rglob("*.py"))
        if str(path.relative_to(ROOT)) not in API_BOUNDARY
        for where in session_violations(path)
    ]
    assert not violations, "\n".join(violations)


def test_the_session_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from sqlalchemy import select\n"
        "from sqlalchemy.orm import Session\n"
        "with session_scope(context.session_factory) as session:\n"
        "    session.scalars(select(X))\n"
        "db.add(x)\n"
        "context.session_factory()\n"
    )
    assert sorted(session_violations(bad), key=lambda where: int(where.split(" ")[0])) == [
        "1 imports sqlalchemy.select",
        "3 opens a session (session_scope)",
        "4 queries (session.scalars)",
        "5 queries (db.add)",
        "6 opens a session (session_factory())",
    ]


def test_the_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from api.cli import app\nimport search.x\n")
    assert imported_packages(bad) == {"api", "search"}
