"""What the admin and review pages (alerts, groups, rules, access log, users, settings)
share: reading a posted form, going back after a change, the corps to show.

A page's unsafe request is an ``async`` handler that reads the form here (Litestar caches
it: the console's CSRF guard already parsed it) and does its database work in a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import msgspec
from anyio import to_thread
from litestar import Request
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from sqlalchemy.orm import Session

from api.auth.guards import context_of
from api.console.errors import safe_next
from archive import repository
from audit.errors import InvalidInput

T = TypeVar("T")

# For a handler that declares its form as a typed struct: ``data: Annotated[MyForm, FORM_BODY]``.
FORM_BODY = Body(media_type=RequestEncodingType.URL_ENCODED)


class CsrfForm(msgspec.Struct):
    """A form that carries nothing but its CSRF token (the guard checks it)."""

    csrf_token: str = ""


@dataclass(frozen=True)
class Form:
    """A posted form: text fields (one or many values per name) and uploaded files."""

    values: dict[str, list[str]]
    files: dict[str, UploadFile]

    def text(self, name: str, default: str = "") -> str:
        found = self.values.get(name)
        return found[0].strip() if found else default

    def texts(self, name: str) -> list[str]:
        return [value.strip() for value in self.values.get(name, []) if value.strip()]

    def number(self, name: str, what: str) -> int | None:
        value = self.text(name)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(f"{what} must be a whole number, not {value!r}") from None

    def numbers(self, name: str, what: str) -> list[int]:
        try:
            return [int(value) for value in self.texts(name)]
        except ValueError:
            raise InvalidInput(f"{what} must be whole numbers") from None

    def checked(self, name: str) -> bool:
        return self.text(name) in ("1", "on", "true", "yes")

    def lines(self, name: str) -> list[str]:
        """A textarea of one item per line (blank lines and repeats dropped)."""
        return list(dict.fromkeys(line.strip() for line in self.text(name).splitlines() if line.strip()))

    def items(self, name: str) -> list[str]:
        """A list typed in one field: items separated by commas, semicolons or lines."""
        text = self.text(name)
        for separator in ("；", ";", "，", ",", "、"):
            text = text.replace(separator, "\n")
        return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


async def read_form(request: Request[Any, Any, Any]) -> Form:
    form = await request.form()
    values: dict[str, list[str]] = {}
    files: dict[str, UploadFile] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            files[key] = value
        else:
            values.setdefault(key, []).append(str(value))
    return Form(values, files)


async def in_thread(work: Callable[[], T]) -> T:
    return await to_thread.run_sync(work)


def back(target: str | None, **notice: str | int) -> Redirect:
    """After a change: back to a console page (never elsewhere), with a notice for it."""
    where = safe_next(target)
    if notice:
        where += ("&" if "?" in where else "?") + urlencode(notice)
    return Redirect(where, status_code=303)


def corp_ids(request: Request[Any, Any, Any], session: Session) -> list[str]:
    """Configured corps first, then any other corp the archive holds."""
    configured = [corp.corp_id for corp in context_of(request).settings.corps()]
    return configured + [c for c in repository.known_corp_ids(session) if c not in configured]


def query_string(**values: Any) -> str:
    """``?a=1&b=x`` of the values that are set (for links that keep a page's filters)."""
    kept = {key: value for key, value in values.items() if value not in (None, "", False)}
    return "?" + urlencode(kept) if kept else ""
