"""The console in a real browser: the real app served by uvicorn on a loopback port over a
pulled, indexed and scanned archive (``tests.api.world``), driven by Debian's headless
Chromium through Playwright (never ``playwright install``: the browser is the system's).

Every page a test opens is watched: a console error, a failed request or a response of
400 or more fails the test, unless the test says it expects that status."""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from api.app import ApiServer
from archive.integrity import jobs as integrity_jobs
from archive.simulator.runtime import SimulatedWeCom
from archive.simulator.server import SimulatorServer
from audit.monitor import jobs as monitor_jobs
from audit.stage import DetectionStage
from config import migrate
from config.database import create_db_engine, make_session_factory
from config.settings import CorpSettings, DatabaseSettings, SdkSettings, Settings
from tests.api.world import PASSWORD, World, build_world
from tests.conftest import Database, Edge, require

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, ViewportSize

CHROMIUM = Path(os.environ.get("WECOM_AUDIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The README's screenshots are refreshed on request (``make readme-images``); otherwise the
# tests still take every screenshot, into a scratch folder, so a clean run leaves the tree clean.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("WECOM_AUDIT_README_IMAGES")
    else Path(tempfile.gettempdir()) / "wecom-audit-screenshots"
)
VIEWPORT: ViewportSize = {"width": 1366, "height": 900}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Site:
    """The app served on a loopback port (a module may serve a world of its own)."""

    url: str

    def at(self, path: str) -> str:
        return f"{self.url}{path}"


@dataclass
class ConsoleSite(Site):
    world: World


@pytest.fixture(scope="session")
def console_site(fake_sdk_library: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleSite]:
    """One world for every browser test (built once: pulling and indexing take seconds)."""
    base = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{base / 'wecom-audit.db'}"
    engine = create_db_engine(url)
    migrate.upgrade(engine)
    database = Database(url, engine, make_session_factory(engine))
    simulator = SimulatedWeCom(base / "simulator", seed=11)
    server = SimulatorServer(simulator.store, corp_id=simulator.corp_id, secret=simulator.archive_secret).start()
    previous = os.environ.get("WECOM_FAKE_SDK_URL")
    os.environ["WECOM_FAKE_SDK_URL"] = server.url
    settings = Settings(
        data_dir=base / "data",
        database=DatabaseSettings(url=url),
        wecom=CorpSettings(corp_id=simulator.corp_id, archive_secret=SecretStr(simulator.archive_secret)),
        sdk=SdkSettings(library_path=fake_sdk_library, retry_backoff_s=0.01, timeout_s=5),
    )
    edge = Edge(simulator, server, settings, database)
    world = build_world(edge, messages=400, media=True)
    DetectionStage(settings.detection, settings.alerts).run(world.context.session_factory, max_claims=1000)
    monitor_jobs.run_all(world.context.session_factory, settings)  # group rollups for the overview
    integrity_jobs.checkpoint_all(world.context.session_factory, settings)
    api = ApiServer(world.context, "127.0.0.1", _free_port()).start()
    try:
        _wait_until_serving(api.url)
        yield ConsoleSite(api.url, world)
    finally:
        api.stop()
        world.context.close()
        server.stop()
        simulator.close()
        engine.dispose()
        if previous is None:
            os.environ.pop("WECOM_FAKE_SDK_URL", None)
        else:
            os.environ["WECOM_FAKE_SDK_URL"] = previous


def _wait_until_serving(url: str) -> None:
    import httpx

    from tests.conftest import wait_for

    def up() -> bool:
        try:
            return httpx.get(f"{url}/health/live", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout_s=20)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("Playwright", "the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        require("Chromium", f"{CHROMIUM} not found (Debian package chromium; scripts/install-system-deps.sh test)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A browser tab whose console errors, failed requests and error responses are kept."""

    page: Page
    site: Site
    problems: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    def goto(self, path: str) -> Response:
        """Open a page and let it finish (images, charts): leaving earlier would abort them."""
        response = self.page.goto(self.site.at(path))
        assert response is not None, path  # None only for a same-document (#fragment) move
        self.page.wait_for_load_state("networkidle")
        return response

    def login(self, username: str, password: str = PASSWORD) -> None:
        self.goto("/console/login")
        self.page.get_by_label("用户名").fill(username)
        self.page.get_by_label("密码").fill(password)
        self.page.get_by_role("button", name="登录").click()
        self.page.wait_for_load_state()

    def give_purpose(self, purpose: str) -> None:
        self.page.get_by_label("目的").fill(purpose)
        self.page.get_by_role("button", name="继续").click()
        self.page.wait_for_load_state()

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def assert_clean(self) -> None:
        assert not self.problems, "the page had problems:\n" + "\n".join(self.problems)


@pytest.fixture
def tab(console_site: Site, browser: Browser) -> Iterator[Watched]:
    """A fresh browser context (no cookies) and one watched page; clean at the end. (The site
    is built first: Playwright's sync API keeps an event loop running in this thread.)"""
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True)
    page = context.new_page()
    watched = Watched(page, console_site)

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        # Chromium also reports each error response here; those the test expects are fine.
        status = re.search(r"responded with a status of (\d+)", message.text)
        if status and int(status.group(1)) in watched.expected_statuses:
            return
        watched.problems.append(f"console error: {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.status not in watched.expected_statuses:
            watched.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def on_failed(request: Request) -> None:
        failure = request.failure
        # The browser aborts what a page still loads when the test moves on (favicon, lazy
        # images), and a media element aborts its first request once it has the metadata:
        # not faults of the page. Refusals (CSP, connection, DNS) and error statuses still count.
        if failure and "ERR_ABORTED" in failure:
            return
        watched.problems.append(f"request failed: {request.method} {request.url} ({failure})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.problems.append(f"page error: {error}"))
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    page.set_default_timeout(15_000)
    try:
        yield watched
        watched.assert_clean()
    finally:
        context.close()
