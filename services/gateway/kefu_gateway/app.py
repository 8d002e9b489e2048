"""The FastAPI application. `create_app()` builds it; nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from kefu_common.clock import Clock, SystemClock
from kefu_common.db import Database
from kefu_common.embedded import resolve_database_url
from kefu_common.logging import configure_logging, get_logger
from kefu_common.runner import EMBEDDED_DATA_DIR
from kefu_common.idempotency import purge_loop
from kefu_common.tasks import BackgroundLoop
from kefu_common.tracing import configure_tracing
from kefu_gateway.auth import TokenVerifier
from kefu_gateway.clients import Clients
from kefu_gateway.http_contract import API_LICENSE, API_SERVERS, declare_headers, install_browser_middleware
from kefu_gateway.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from kefu_gateway.models import SCHEMA
from kefu_gateway.problems import install_problem_handlers, problems_as_problem_json
from kefu_gateway.ratelimit import AuthThrottle, RateLimiter, SharedWindows
from kefu_gateway import console
from kefu_gateway.routes import (
    agents,
    csat,
    customer,
    docs,
    escalation,
    health,
    qa,
    realtime,
    reports,
    review_queue,
    sla,
    tickets,
    voc,
    webhooks,
)
from kefu_gateway.routes import metrics as metrics_routes
from kefu_gateway.webhooks import RetryPolicy, WebhookDeliverer, WebhookFanout
from kefu_gateway.settings import GatewaySettings

log = get_logger("kefu.gateway")

DESCRIPTION = """
Kefu (客服): complaint handling and service quality for customer-service centres.

Errors are RFC 9457 `application/problem+json` with a stable machine-readable `code`.
Every response carries `X-Request-ID`; send your own to correlate logs across services.
"""


def _webhook_loops(
    settings: GatewaySettings, db: Database, clients: Clients, clock: Clock
) -> tuple[WebhookFanout | None, list[BackgroundLoop]]:
    """Partner webhooks run inside every gateway process (see webhooks.py)."""
    if not settings.webhooks_enabled:
        return None, []
    fanout = WebhookFanout(db, clients.ticketing, clock, timeout=clients.timeout)
    loops = [fanout.loop]
    if settings.webhook_delivery_interval_seconds > 0:
        policy = RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            base=timedelta(seconds=settings.webhook_backoff_base_seconds),
            timeout_seconds=settings.webhook_timeout_seconds,
            lease=timedelta(seconds=max(settings.webhook_lease_seconds, settings.webhook_timeout_seconds)),
            allow_private_hosts=settings.webhook_private_hosts_allowed,
        )
        deliverer = WebhookDeliverer(db, clock, policy, interval=settings.webhook_delivery_interval_seconds)
        loops.append(deliverer.loop)
    return fanout, loops


def create_app(
    settings: GatewaySettings | None = None, *, configure_logs: bool = True, clock: Clock | None = None
) -> FastAPI:
    settings = settings or GatewaySettings()
    clock = clock or SystemClock()
    if configure_logs:  # process-wide set-up, when create_app is the process's entry point
        configure_logging("gateway", level=settings.log_level, fmt=settings.effective_log_format)
        configure_tracing("gateway", enabled=settings.tracing_enabled)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.clients = Clients.connect(settings)
        app.state.db = Database(
            resolve_database_url(settings.database_url, EMBEDDED_DATA_DIR),
            schema=SCHEMA,
            pool_size=settings.db_pool_size,
            direct_url=settings.direct_url,
        )
        app.state.webhook_fanout, loops = _webhook_loops(settings, app.state.db, app.state.clients, clock)
        loops.append(purge_loop(app.state.db, f"{SCHEMA}.idempotency_record", clock,
                                settings.idempotency_retention, log=log))
        windows.db = app.state.db
        longest = max(settings.rate_limit_window_seconds, settings.auth_failure_window_seconds)
        loops.append(windows.purge_loop(keep=timedelta(seconds=2 * longest), log=log))
        for loop in loops:
            await loop.start()
        log.info("gateway_started", ticketing=settings.ticketing_addr, scoring=settings.scoring_addr)
        try:
            yield
        finally:
            for loop in loops:
                await loop.stop()
            await app.state.clients.close()
            await app.state.db.dispose()

    app = FastAPI(
        title="Kefu API",
        version="1.0.0",
        description=DESCRIPTION,
        license_info=API_LICENSE,
        servers=API_SERVERS,
        lifespan=lifespan,
        docs_url=None,  # served from local files by routes/docs.py (no CDN)
        redoc_url=None,
        openapi_tags=[
            {"name": "tickets", "description": "Customer problems from first contact to closure"},
            {"name": "reports", "description": "Service metrics over a period"},
            {"name": "agents", "description": "The agent roster (admin and lead roles)"},
            {
                "name": "escalation",
                "description": "Business-hours calendars, SLA policies and the escalation matrix "
                "(versioned; writes for admin and lead roles)",
            },
            {"name": "quality", "description": "AI quality inspection of conversations"},
            {
                "name": "webhooks",
                "description": "Partners: signed event deliveries, their log and redelivery",
            },
            {
                "name": "customer",
                "description": "The customer app: my cases and their progress (customer tokens)",
            },
            {"name": "health", "description": "Liveness and readiness"},
        ],
    )
    app.state.settings = settings
    _openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_headers(problems_as_problem_json(_openapi()))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.clock = clock
    windows = SharedWindows(clock)  # its database is set in the lifespan
    app.state.rate_limiter = RateLimiter(
        limit=settings.rate_limit_requests, window_seconds=settings.rate_limit_window_seconds, windows=windows
    )
    app.state.auth_throttle = AuthThrottle(
        per_address=settings.auth_failures_per_address, per_prefix=settings.auth_failures_per_key_prefix,
        window_seconds=settings.auth_failure_window_seconds, windows=windows,
    )
    app.state.token_verifier = TokenVerifier(
        settings.jwt_secret.get_secret_value(), issuer=settings.jwt_issuer, public_keys=settings.jwt_public_keys
    )
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(customer.router)  # early: the most frequent requests match first
    app.include_router(tickets.router)
    app.include_router(csat.customer_router)
    app.include_router(csat.tickets_router)
    app.include_router(csat.reports_router)
    app.include_router(csat.ratings_router)
    app.include_router(reports.router)
    app.include_router(agents.router)
    app.include_router(escalation.router)
    app.include_router(sla.router)
    app.include_router(review_queue.router)  # before qa: /evaluations (list) beside /evaluations/{id}
    app.include_router(qa.router)
    app.include_router(realtime.router)
    app.include_router(metrics_routes.router)
    app.include_router(voc.router)
    app.include_router(webhooks.router)
    app.include_router(docs.router)
    console.install(app)  # /, /console and the static files (the console and vendored libraries)
    # Outermost last: the request id is bound before the size limit can reject anything.
    app.add_middleware(customer.RememberedProgressMiddleware)  # innermost: polls' hot path
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_browser_middleware(app, cors_allow_origins=settings.cors_allow_origins)
    app.add_middleware(RequestContextMiddleware)
    return app
