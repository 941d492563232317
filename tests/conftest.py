"""Shared fixtures: real databases (SQLite and a private PostgreSQL server), the fake
Finance SDK library, and the simulated company behind its HTTP server.

A component that is genuinely absent skips its tests locally, but fails them in CI
(``CI`` set), where every component must be present.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from api.context import AppContext
from archive.simulator.fakesdk import build_fake_sdk
from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import SimulatorServer
from config import migrate
from config.database import create_db_engine, make_session_factory
from config.settings import CorpSettings, DatabaseSettings, SdkSettings, Settings

POSTGRES_URL_ENV = "WECOM_AUDIT_TEST_POSTGRES_URL"


def require(component: str, reason: str) -> NoReturn:
    """Skip for an absent component — except in CI, where that is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{component} is required in CI but absent: {reason}")
    pytest.skip(f"{component} absent: {reason}")


# --- PostgreSQL -----------------------------------------------------------------------------


def _postgres_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    candidates = []
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        candidates.append(Path(out))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    admin_url: str
    _counter = count()

    def create_database(self) -> str:
        name = f"wecom_test_{os.getpid()}_{next(self._counter)}"
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    external = os.environ.get(POSTGRES_URL_ENV)
    if external:
        yield PostgresServer(external)
        return
    bindir = _postgres_bindir()
    if bindir is None:
        require("PostgreSQL", "initdb/pg_ctl not found (Debian package postgresql; run `make setup`)")
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="wecom-pg-"))
    datadir = base / "data"
    port = _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *as_user,
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(datadir), "-o", options, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield PostgresServer(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


# --- databases ------------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh database built by running the migrations, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wecom-audit.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    yield Database(url, engine, make_session_factory(engine))
    engine.dispose()


@pytest.fixture
def postgresql_database(postgres_server: PostgresServer) -> Iterator[Database]:
    """For behaviour only PostgreSQL can show (e.g. concurrent writers committing out of order)."""
    url = postgres_server.create_database()
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    yield Database(url, engine, make_session_factory(engine))
    engine.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'wecom-audit.db'}"
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    yield Database(url, engine, make_session_factory(engine))
    engine.dispose()


# --- the vendor edge: fake SDK and simulated company ------------------------------------------


@pytest.fixture(scope="session")
def fake_sdk_library() -> Path:
    try:
        return build_fake_sdk()
    except RuntimeError as exc:
        require("the fake Finance SDK toolchain", str(exc))


TENCENT_SDK_LIBRARY = Path(__file__).resolve().parents[1] / "build" / "tencent-sdk" / "libWeWorkFinanceSdk_C.so"


@pytest.fixture(scope="session")
def tencent_sdk_library() -> Path:
    """Tencent's own library (``scripts/tencent_sdk.py fetch``, run by ``make test``; spec §1.1a).

    Load it only in a fresh process that has loaded no C++ extension (ADR 0018): never in
    this one. Its GetChatData/GetMediaData must never reach the internet: give it a dead
    loopback proxy (``dead_proxy``) or a private network namespace.
    """
    if not TENCENT_SDK_LIBRARY.is_file():
        require("Tencent's Finance SDK library", "run `scripts/tencent_sdk.py fetch` (make test does)")
    return TENCENT_SDK_LIBRARY


@pytest.fixture
def dead_proxy() -> str:
    """A proxy on a loopback port nobody listens on: the SDK's network calls fail at once (10001)."""
    return f"http://127.0.0.1:{_free_port()}"


@dataclass
class Edge:
    """The simulated WeCom (company + server) and wecom-audit wired to it."""

    simulator: SimulatedWeCom
    server: SimulatorServer
    settings: Settings
    database: Database

    def context(self) -> AppContext:
        context = AppContext(self.settings)
        context.__dict__["engine"] = self.database.engine  # share the test's engine
        return context

    def register_keys(self, versions: list[int] | None = None) -> None:
        context = self.context()
        for pair in self.simulator.key_pairs():
            if versions is None or pair.version in versions:
                context.key_store.add(self.simulator.corp_id, pair.version, pair.private_pem(), replace=True)

    def env(self) -> dict[str, str]:
        """Environment for running the CLI in a subprocess against this edge."""
        return {
            **os.environ,
            "WECOM_FAKE_SDK_URL": self.server.url,
            "WECOM_AUDIT_DATA_DIR": str(self.settings.data_dir),
            "WECOM_AUDIT_DATABASE__URL": self.database.url,
            "WECOM_AUDIT_WECOM__CORP_ID": self.simulator.corp_id,
            "WECOM_AUDIT_WECOM__ARCHIVE_SECRET": self.simulator.archive_secret,
            "WECOM_AUDIT_SDK__LIBRARY_PATH": str(self.settings.sdk.library_path),
            "WECOM_AUDIT_LOGGING__JSON": "true",
        }


@pytest.fixture
def edge(database: Database, fake_sdk_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Edge]:
    simulator = SimulatedWeCom(tmp_path / "simulator", seed=11)
    server = SimulatorServer(simulator.store, corp_id=simulator.corp_id, secret=simulator.archive_secret).start()
    monkeypatch.setenv("WECOM_FAKE_SDK_URL", server.url)
    settings = Settings(
        data_dir=tmp_path / "data",
        database=DatabaseSettings(url=database.url),
        wecom=CorpSettings(corp_id=simulator.corp_id, archive_secret=SecretStr(simulator.archive_secret)),
        sdk=SdkSettings(library_path=fake_sdk_library, retry_backoff_s=0.01, timeout_s=5),
    )
    yield Edge(simulator, server, settings, database)
    server.stop()
    simulator.close()


def wait_for(predicate: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# --- Elasticsearch (a real node from Maven Central: scripts/elasticsearch.py) ----------------


def elasticsearch_script() -> ModuleType:
    """``scripts/elasticsearch.py`` as a module (it is a standalone script, not a package)."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "elasticsearch.py"
    spec = importlib.util.spec_from_file_location("wecom_audit_elasticsearch_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def elasticsearch_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real single-node Elasticsearch for the session (its ``Node`` handle: ``start()``,
    ``stop()``, ``url()``; the fault tests stop and restart it, data survives)."""
    script = elasticsearch_script()
    node = script.Node(tmp_path_factory.mktemp("elasticsearch"))
    try:
        node.start()
    except script.NodeError as error:
        require("Elasticsearch", f"{error} (run `scripts/elasticsearch.py fetch`)")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def elasticsearch_url(elasticsearch_node: Any) -> str:
    """The URL of the session's Elasticsearch node (started on first use)."""
    return str(elasticsearch_node.start())


# --- the handover world (issue 7): departed members, their customers, an archive of their chats ---


@pytest.fixture
def handover_edge(
    database: Database, fake_sdk_library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """``tests.audit.handover.edge.HandoverWorldEdge``: the simulated company with departed
    members on a real loopback server (customer-contact API + Finance SDK feed), their chats
    pulled into ``database``, their deletions before leaving stored as contact events."""
    from tests.audit.handover.edge import open_handover_edge

    with open_handover_edge(database, fake_sdk_library, tmp_path, monkeypatch) as handover:
        yield handover


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the main
    thread until the session ends, and later ``asyncio.run`` calls would refuse to start."""
    items.sort(key=lambda item: "tests/console/" in item.nodeid.replace("\\", "/"))
