"""The web console: server-rendered pages (Jinja2 + htmx) under ``/console``.

Every asset is served by the app itself (``/console/static``); the vendored front-end
packages are built into ``static/vendor/`` by ``make console-assets``
(``api/console/assets/build.sh``). See ``api/console/README.md`` for adding a page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from api.console import i18n
from api.console.errors import console_exception_handlers, error_page
from api.console.nav import CONSOLE_PATH, NAV
from api.console.pages import PAGE_MODULES
from api.console.pages.placeholders import placeholder
from api.console.render import STATIC_PATH
from config.settings import ConfigError

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
STATIC_MAX_AGE_S = 3600
VENDOR_FILES = ("htmx.min.js", "echarts.min.js", "echarts-wordcloud.min.js")


def check_assets(vendor_dir: Path = VENDOR_DIR) -> None:
    missing = [name for name in VENDOR_FILES if not (vendor_dir / name).is_file()]
    if missing:
        raise ConfigError(
            f"The web console's front-end assets are not built ({', '.join(missing)} missing in {vendor_dir}). "
            "Run `make console-assets` (it needs npm), or `make install`."
        )


@get("/", include_in_schema=False, sync_to_thread=False)
def to_console() -> Redirect:
    return Redirect(f"{CONSOLE_PATH}/", status_code=302)


@get("/{rest:path}", include_in_schema=False, sync_to_thread=False, name="console-not-found")
def not_found(request: Request[Any, Any, Any], rest: FromPath[str]) -> Response[Any]:
    return error_page(request, 404)


def routes() -> list[ControllerRouterHandler]:
    """The console's routes (raises ``ConfigError`` when the assets were not built)."""
    check_assets()
    handlers: list[Any] = []
    for module in PAGE_MODULES:
        i18n.merge(getattr(module, "MESSAGES", {}))
        handlers.extend(module.HANDLERS)
    served = {path for handler in handlers for path in handler.paths}
    handlers.extend(placeholder(item) for item in NAV if item.path not in served)
    handlers.append(not_found)
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        include_in_schema=False,
        name="console-static",
        cache_control=CacheControlHeader(max_age=STATIC_MAX_AGE_S),  # ECharts is 1 MB: fetch it once
    )
    console = Router(
        path=CONSOLE_PATH,
        route_handlers=handlers,
        exception_handlers=console_exception_handlers(),
        include_in_schema=False,
    )
    return [to_console, static, console]
