"""Routes of the console: the page, its static assets, and the dev-only sign-in.

* `GET /` redirects to `/console`; `GET /console` is the page (one HTML file, no inline
  script or style, so the Content-Security-Policy can say `script-src 'self'`).
* `/console/static/...` its ES modules and stylesheet; `/static/vendor/...` the vendored
  libraries (ECharts; Swagger UI and ReDoc for `/docs` and `/redoc`, see `docs_pages.py`).
* `POST /console/dev-sign-in`: only when `KEFU_ENV=dev`, mints a staff token with the
  gateway's own token machinery (`auth.issue_token`, the HS256 dev secret) so a supervisor
  can try the console without an identity provider. In `test` and `prod` the route answers
  404 and the page offers only "paste a token" (tokens of the real identity provider).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import Field

from kefu_common.errors import NotFound
from kefu_gateway.auth import issue_token
from kefu_gateway.problems import problem_responses
from kefu_gateway.schemas import Strict
from kefu_gateway.settings import GatewaySettings

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = Path(__file__).resolve().parent.parent / "vendor"
CONSOLE_ROLES = ("lead", "qa", "admin")  # DOMAIN.md §5: the console is for these roles
DEV_TOKEN_TTL = timedelta(hours=12)

# Scripts and styles only from this origin. 'unsafe-inline' for styles alone: ECharts writes
# its tooltips as HTML with style attributes; no script can be inlined or loaded from elsewhere.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
_DEV_MARKER = 'data-dev-sign-in="false"'

router = APIRouter(include_in_schema=False)


class DevSignIn(Strict):
    role: Literal["lead", "qa", "admin"] = "lead"
    subject: str = Field(default="demo-lead", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/console", status_code=307)


@router.get("/console", response_class=HTMLResponse)
async def console_page(request: Request) -> HTMLResponse:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    if _settings(request).env == "dev":
        html = html.replace(_DEV_MARKER, 'data-dev-sign-in="true"', 1)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": CONSOLE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


@router.post("/console/dev-sign-in", responses=problem_responses(404, 422))
async def dev_sign_in(body: DevSignIn, request: Request) -> dict[str, str]:
    settings = _settings(request)
    if settings.env != "dev":
        raise NotFound("the dev sign-in exists only when KEFU_ENV=dev", code="not_found")
    token = issue_token(
        settings.jwt_secret.get_secret_value(), subject=body.subject, role=body.role, issuer=settings.jwt_issuer,
        ttl=DEV_TOKEN_TTL,
    )
    return {"token": token, "role": body.role, "subject": body.subject}


def install(app: FastAPI) -> None:
    """The console's routes and the static files of the console and of the vendored libraries."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.mount("/static/vendor", StaticFiles(directory=VENDOR_DIR), name="vendor")
