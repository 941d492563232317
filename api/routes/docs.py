"""The API documentation, served without internet access: Swagger UI's assets come from
the ``swagger-ui-bundle`` package and our own start-up script (no inline script, so the
Content-Security-Policy holds), the schema from ``/api/docs/openapi.json``. Signed-in users
only, unless ``api.public_docs``: the document maps every route an attacker could try."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from api.auth.guards import requires

DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"
OWN_STATIC = Path(__file__).resolve().parent.parent / "static"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wecom-audit API</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body data-schema-url="{schema}">
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""


class LocalSwaggerRenderPlugin(OpenAPIRenderPlugin):
    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return _PAGE.format(assets=ASSETS_PATH, schema=f"{DOCS_PATH}/openapi.json").encode()


def openapi_config(version: str, *, public: bool) -> OpenAPIConfig:
    return OpenAPIConfig(
        openapi_router=None if public else Router(path=DOCS_PATH, route_handlers=[], guards=[requires()]),
        title="wecom-audit",
        version=version,
        description=(
            "Audit API of the WeCom chat archive. Sign in (POST /api/v1/auth/login) or send an API token as "
            "'Authorization: Bearer …'. Reading chat content needs a purpose: the X-Access-Purpose header "
            "(percent-encoded UTF-8) or PUT /api/v1/auth/purpose. Errors are RFC 9457 problem details."
        ),
        path=DOCS_PATH,
        render_plugins=[JsonRenderPlugin(path="/openapi.json"), LocalSwaggerRenderPlugin()],
        use_handler_docstrings=True,
    )


def assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH, directories=[Path(swagger_ui_path), OWN_STATIC], include_in_schema=False, name="docs-assets"
    )
