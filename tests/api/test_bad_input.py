"""Bad input is refused with a 4xx, never a 500 (issue 15, items 11 and 12).

Each input named in the issue used to escape as a 500; hypothesis then varies every date
parameter of the API (monitoring days, the access log's and exports' time range, the search
language's after:/before:) and checks the answer is never a server error. Attachments whose
sender chose a hostile extension still download from a real server, with a header that
names one file."""

from __future__ import annotations

import io
import re
import socket
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from openpyxl import Workbook
from sqlalchemy import update

from api.app import ApiServer, create_app
from archive.clock import utcnow
from archive.media.models import MediaTask
from audit.detect.rules import io as rules_io
from audit.security import service as security
from config.database import session_scope
from search.query import MAX_QUERY_DEPTH
from tests.api.world import PASSWORD, PURPOSE, World, build_world, officer_token
from tests.conftest import Edge, wait_for

DATE_EXAMPLES = 40
DATE_PROPERTY = settings(
    max_examples=DATE_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
OFFICER_PERMISSIONS = ["content:read", "monitor:read", "archive:status"]
BAD_QUERIES = [
    "after:0001-01-01",
    "before:0001-01-01",
    "after:9999-12-31",
    "(" * 300 + "a" + ")" * 300,
    "-" * 1999,
    "NOT " * 499 + "a",
]


@pytest.fixture
def world(edge: Edge) -> World:
    return build_world(edge, messages=150)


@pytest.fixture
def client(world: World) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(world.context)) as http:
        token = officer_token(world, OFFICER_PERMISSIONS)
        http.headers.update({"Authorization": f"Bearer {token}", "X-Access-Purpose": PURPOSE})
        yield http


def auditor_token(world: World) -> str:
    with session_scope(world.context.session_factory) as session:
        _, secret = security.create_token(
            session,
            security.cli_principal("cli:test"),
            username="auditor",
            name="dates",
            permissions=["access_log:read"],
            ttl=timedelta(days=1),
            now=utcnow(),
        )
    return secret


def assert_problem(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


# --- the inputs named in the issue ---------------------------------------------------------------


@pytest.mark.parametrize("query", BAD_QUERIES, ids=["after-min", "before-min", "after-max", "parens", "minus", "not"])
def test_the_queries_that_answered_500_are_positioned_syntax_errors(client: TestClient[Any], query: str) -> None:
    problem = assert_problem(client.get("/api/v1/search", params={"q": query}))
    assert problem["type"].endswith(":query_syntax")
    assert 0 <= problem["position"] <= len(query)
    if "(" in query or "NOT" in query or query.startswith("-"):
        assert "nested too deeply" in problem["detail"] and str(MAX_QUERY_DEPTH) in problem["detail"]
    else:
        assert "takes a date from 1900-01-01 to 2199-12-31" in problem["detail"]
    exported = assert_problem(client.post("/api/v1/exports", json={"query": query}))
    assert exported["type"].endswith(":query_syntax")


def monitor_routes(world: World) -> list[str]:
    series = f"/api/v1/monitor/groups/{world.in_conversation}/series"
    return ["/api/v1/monitor/groups", "/api/v1/monitor/employees", series]


@pytest.mark.parametrize("param", ["last", "first"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_monitor_dates_out_of_range_are_refused(world: World, client: TestClient[Any], param: str, day: str) -> None:
    for route in monitor_routes(world):
        problem = assert_problem(client.get(route, params={param: day}))
        assert f"{param} must lie between 1900-01-01 and 2199-12-31" in problem["detail"]


def doctype_workbook() -> bytes:
    """A rules workbook whose sheet declares a DOCTYPE with an entity (and uses it)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(rules_io.COLUMNS))
    sheet.append(["xxe", "test", "high", "", "", "", "", "", "true", "term", "ENTITY_HERE"])
    plain = io.BytesIO()
    workbook.save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    hostile = io.BytesIO()
    with zipfile.ZipFile(hostile, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name.startswith("xl/worksheets/"):
                doctype = b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                data = doctype + re.sub(rb"^<\?xml[^>]*\?>", b"", data).replace(b"ENTITY_HERE", b"&e;")
            target.writestr(name, data)
    return hostile.getvalue()


def test_an_xlsx_rule_import_with_a_doctype_entity_is_refused(world: World) -> None:
    with TestClient(app=create_app(world.context)) as console:
        login = console.post("/api/v1/auth/login", json={"username": "compliance_officer", "password": PASSWORD})
        response = console.post(
            "/console/rules/import",
            files={"file": ("rules.xlsx", doctype_workbook(), "application/octet-stream")},
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
            follow_redirects=False,
        )
    assert response.status_code == 400, response.status_code
    assert "not a readable Excel workbook" in response.text


# --- every date parameter, varied --------------------------------------------------------------

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-59))])
AWARE = st.one_of(
    st.datetimes(timezones=OFFSETS),
    st.tuples(st.sampled_from([datetime.min, datetime.max]), OFFSETS).map(lambda pair: pair[0].replace(tzinfo=pair[1])),
)
DAYS = st.one_of(st.dates(), st.sampled_from([date.min, date.max, date(1900, 1, 1), date(2199, 12, 31)]))


def assert_not_a_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, str(response.request.url), response.text[:300])


@DATE_PROPERTY
@given(first=st.none() | DAYS, last=st.none() | DAYS, day=DAYS)
def test_monitor_days_never_fail_the_server(
    world: World, client: TestClient[Any], first: date | None, last: date | None, day: date
) -> None:
    params = {name: value.isoformat() for name, value in (("first", first), ("last", last)) if value}
    for route in monitor_routes(world):
        assert_not_a_server_error(client.get(route, params=params))
    words = f"/api/v1/monitor/groups/{world.in_conversation}/words"
    assert_not_a_server_error(client.get(words, params={"day": day.isoformat()}))


@pytest.fixture
def auditor(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {auditor_token(world)}"}


@DATE_PROPERTY
@given(since=st.none() | AWARE | st.datetimes(), until=st.none() | AWARE | st.datetimes())
def test_access_log_times_never_fail_the_server(
    client: TestClient[Any], auditor: dict[str, str], since: datetime | None, until: datetime | None
) -> None:
    params = {name: value.isoformat() for name, value in (("since", since), ("until", until)) if value}
    response = client.get("/api/v1/access-log", params=params, headers=auditor)
    assert response.status_code != 403, response.text
    assert_not_a_server_error(response)


@DATE_PROPERTY
@given(since=st.none() | AWARE, until=st.none() | AWARE, query=st.booleans())
def test_export_times_never_fail_the_server(
    world: World, client: TestClient[Any], since: datetime | None, until: datetime | None, query: bool
) -> None:
    body: dict[str, Any] = {"query": "a"} if query else {"conversation_id": world.in_conversation}
    body |= {name: value.isoformat() for name, value in (("since", since), ("until", until)) if value}
    body["max_messages"] = 500
    assert_not_a_server_error(client.post("/api/v1/exports", json=body))


@DATE_PROPERTY
@given(after=DAYS, before=DAYS)
def test_search_dates_never_fail_the_server(client: TestClient[Any], after: date, before: date) -> None:
    query = f"after:{after.isoformat()} before:{before.isoformat()}"
    assert_not_a_server_error(client.get("/api/v1/search", params={"q": query, "limit": "5"}))


# --- attachments with hostile extensions (item 12), over a real server ---------------------------

HOSTILE_EXTENSIONS = [
    'pdf"; filename="evil.exe',
    "pdf\r\nSet-Cookie: a=b",
    "pdf\nX-Injected: 1",
    "pdf;inline",
    "../../etc/passwd",
    "a\\b/c",
    "x" * 32,
    "文档",
    "pdf\u202egpj",
    "",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serving(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/live", timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def test_hostile_attachment_extensions_download_with_one_safe_file_name(world: World) -> None:
    assert world.in_media is not None, "the simulated media job downloaded nothing"
    message_id, task_id = world.in_media
    server = ApiServer(world.context, "127.0.0.1", _free_port()).start()
    try:
        wait_for(lambda: _serving(server.url))
        token = officer_token(world, ["content:read"])
        headers = {"Authorization": f"Bearer {token}", "X-Access-Purpose": PURPOSE}
        url = f"{server.url}/api/v1/messages/{message_id}/media/{task_id}"
        with httpx.Client(headers=headers, timeout=30) as http:
            expected = http.get(url).content
            assert expected
            for extension in HOSTILE_EXTENSIONS:
                with session_scope(world.context.session_factory) as session:
                    session.execute(update(MediaTask).where(MediaTask.id == task_id).values(extension=extension))
                response = http.get(url)
                assert response.status_code == 200, (extension, response.status_code)
                assert response.content == expected, extension
                disposition = response.headers["content-disposition"]
                assert "set-cookie" not in response.headers and "x-injected" not in response.headers
                fallback = re.fullmatch(
                    r"attachment; filename=\"([A-Za-z0-9.-]+)\"; filename\*=UTF-8''([A-Za-z0-9%!#$&+\-.^_`|~]+)",
                    disposition,
                )
                assert fallback is not None, (extension, disposition)
                ascii_name, utf8_name = fallback.group(1), unquote(fallback.group(2))
                stem = f"{message_id}-{task_id}."
                assert ascii_name.startswith(stem) and utf8_name.startswith(stem), disposition
                suffix = utf8_name.removeprefix(stem)
                assert suffix.isalnum() and len(suffix) <= 16, disposition
                if extension == "文档":
                    assert (ascii_name, utf8_name) == (f"{stem}bin", f"{stem}文档")
    finally:
        server.stop()
