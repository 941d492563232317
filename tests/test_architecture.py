"""Imports go one way: config ← archive ← audit ← search ← api. Nothing imports api, and
the puller imports neither audit nor search (it hands batches to sinks)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

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


# Inside audit/, subpackages import one way too (ADR 0023): a unit may import only units
# below it in this order, or itself. ``audit/schema.py`` gathers every model for the
# metadata and stands above them all; the package's own ``__init__`` imports nothing.
AUDIT_ORDER = [
    "errors",
    "text",
    "nlp",
    "accesslog",
    "security",
    "detect",
    "access",
    "notify",
    "alerts",
    "review",
    "stage",
    "events",
    "monitor",
    "handover",
]
AUDIT_ABOVE_ALL = {"schema"}


def audit_unit(relative: Path) -> str:
    """The unit of a file under ``audit/``: its subpackage, or its module (``stage``)."""
    return relative.parts[0].removesuffix(".py")


def audit_imports(path: Path, package: str) -> list[tuple[int, str]]:
    """``(line, unit)`` for every ``audit.<unit>`` that ``path`` (in ``package``) imports,
    at module level or inside a function, under ``TYPE_CHECKING`` or not."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the file's own package
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            modules = [f"{base}.{alias.name}" for alias in node.names] if base == "audit" else [base]
        else:
            continue
        for parts in (module.split(".") for module in modules):
            if parts[0] == "audit" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return sorted(found)


def audit_order_violations(root: Path) -> list[str]:
    """Every import under ``root/audit`` that goes up the order (``file:line what``)."""
    rank = {unit: index for index, unit in enumerate(AUDIT_ORDER)}
    violations = []
    for path in sorted((root / "audit").rglob("*.py")):
        relative = path.relative_to(root / "audit")
        unit = audit_unit(relative)
        if unit in AUDIT_ABOVE_ALL:
            continue
        package = ".".join(("audit", *relative.parts[:-1]))
        where = path.relative_to(root)
        if unit == "__init__":
            violations += [f"{where}:{line} imports audit.{target}" for line, target in audit_imports(path, package)]
            continue
        if unit not in rank:
            violations.append(f"{where}: audit.{unit} has no place in AUDIT_ORDER")
            continue
        for line, target in audit_imports(path, package):
            if target not in rank:
                violations.append(f"{where}:{line} imports audit.{target}, which has no place in AUDIT_ORDER")
            elif rank[target] > rank[unit]:
                violations.append(f"{where}:{line} {unit} imports audit.{target}, above it")
    return violations


def test_audit_imports_go_down_the_order() -> None:
    violations = audit_order_violations(ROOT)
    assert not violations, "\n".join(violations)


def test_the_audit_order_check_can_fail(tmp_path: Path) -> None:
    notify = tmp_path / "audit" / "notify"
    notify.mkdir(parents=True)
    (notify / "service.py").write_text(
        "from audit.errors import AuditError\n"
        "from audit.notify import models\n"
        "import audit.alerts.models\n"
        "from audit import review\n"
        "def later():\n"
        "    from audit.stage import DetectionStage\n"
        "from ..security import service\n"
        "from ..monitor import jobs\n"
    )
    (tmp_path / "audit" / "schema.py").write_text("from audit.handover import models\n")
    (tmp_path / "audit" / "newpackage").mkdir()
    (tmp_path / "audit" / "newpackage" / "__init__.py").write_text("")
    assert audit_order_violations(tmp_path) == [
        "audit/newpackage/__init__.py: audit.newpackage has no place in AUDIT_ORDER",
        "audit/notify/service.py:3 notify imports audit.alerts, above it",
        "audit/notify/service.py:4 notify imports audit.review, above it",
        "audit/notify/service.py:6 notify imports audit.stage, above it",
        "audit/notify/service.py:8 notify imports audit.monitor, above it",
    ]


# One error family: every exception class defined in audit/ is an ``audit.errors.AuditError``
# (a builtin such as ``ValueError`` may stay as a second base for callers that catch it).
def foreign_errors(modules: list[ModuleType]) -> list[str]:
    from audit.errors import AuditError

    return sorted(
        f"{module.__name__}.{name}"
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and issubclass(value, BaseException)
        and not issubclass(value, AuditError)
    )


def test_every_audit_error_is_an_audit_error() -> None:
    import audit

    modules = [importlib.import_module(info.name) for info in pkgutil.walk_packages(audit.__path__, "audit.")]
    assert not foreign_errors(modules)


def test_the_error_family_check_can_fail() -> None:
    from audit.errors import NotFound

    module = ModuleType("audit.planted")
    exec(
        "from audit.errors import NotFound\nclass Lost(ValueError): pass\nclass Found(NotFound, LookupError): pass\n",
        vars(module),
    )
    vars(module)["Imported"] = NotFound  # another module's class: not judged here
    assert foreign_errors([module]) == ["audit.planted.Lost"]
