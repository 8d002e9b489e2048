"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from files the gateway serves itself.

FastAPI's default pages load both from a public CDN, which intranets and mainland-China
networks cannot reach (issue #12). The same FastAPI templates are used with the vendored
dist files under `/static/vendor/` (see `vendor/VENDORED.md`); ReDoc without Google Fonts.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

VENDOR = "/static/vendor"
router = APIRouter(include_in_schema=False)

# The pages may run FastAPI's inline start-up script, and nothing from another host: ReDoc's
# bundle shows a logo from its vendor's CDN in the menu footer, which this refuses (and hides).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
_HIDE_CDN_LOGO = "<style>img[src^='https://']{display:none}</style>"


def _local_only(page: HTMLResponse, *, extra_head: str = "") -> HTMLResponse:
    body = page.body.decode()
    if extra_head:
        body = body.replace("</head>", extra_head + "</head>", 1)
    return HTMLResponse(body, headers={"Content-Security-Policy": DOCS_CSP})


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return _local_only(get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
    ))


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return _local_only(get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    ), extra_head=_HIDE_CDN_LOGO)
