"""The console in a real browser: headless Chromium (Debian's `chromium` package, installed by
`make test` through `make browser`) driven by Playwright for Python.

Playwright is only the driver here: it launches `/usr/bin/chromium` through
`executable_path`, and its own browser download (`playwright install`) is never used. The
platform under test is real: its own database on the test PostgreSQL server, the three gRPC
services in-process (escalation with its event consumer and SLA clock worker on, so
escalations and clocks happen as in production), and the gateway served by uvicorn on a real
loopback port, which the browser loads like any user would.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kefu_common.embedded import drop_database, ensure_database
from kefu_common.settings import PROJECT_ROOT
from support import free_port

CHROMIUM = os.environ.get("KEFU_CHROMIUM", "/usr/bin/chromium")
# Every run takes the screenshots; only `make screenshots` (KEFU_SCREENSHOTS_DIR=docs/console)
# writes them over the tracked copies in the docs, so an ordinary test run leaves the tree clean.
SCREENSHOTS = Path(os.environ.get("KEFU_SCREENSHOTS_DIR") or PROJECT_ROOT / ".kefu" / "screenshots")
if not SCREENSHOTS.is_absolute():
    SCREENSHOTS = PROJECT_ROOT / SCREENSHOTS
# Without the background-networking flags Chromium phones home at start, which a closed
# network refuses; --disable-quic likewise. A fresh profile comes from launch_persistent_context.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--lang=zh-CN",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("KEFU_SKIP_BROWSER"):
        pytest.skip(f"KEFU_SKIP_BROWSER is set and {CHROMIUM} is absent")
    pytest.fail(f"{CHROMIUM} not found: `make browser` installs Debian's chromium package "
                "(or set KEFU_SKIP_BROWSER=1 to skip the browser tests)")


@dataclass
class Stack:
    base_url: str
    settings: Any  # GatewaySettings of the gateway under test


async def _grpc(service: Any, settings: Any, url: str) -> Any:
    server = await service.create_server(settings, url)
    await server.start()
    return server


@pytest.fixture(scope="module")
async def platform(pg_server_url: str) -> AsyncIterator[Stack]:
    """Kefu on its own database: every service, the gateway on a real port."""
    import uvicorn

    from kefu_escalation.app import service as escalation
    from kefu_escalation.settings import EscalationSettings
    from kefu_gateway.__main__ import migrate as migrate_gateway
    from kefu_gateway.app import create_app
    from kefu_gateway.settings import GatewaySettings
    from kefu_scoring.app import service as scoring
    from kefu_scoring.settings import ScoringSettings
    from kefu_ticketing.app import service as ticketing
    from kefu_ticketing.settings import TicketingSettings

    name = f"kefu_console_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = await ensure_database(pg_server_url, name)
    for svc in (escalation, ticketing, scoring):
        await asyncio.to_thread(svc.migrate, url)
    await asyncio.to_thread(migrate_gateway, url)

    # Ports chosen first: escalation follows ticketing's event stream and ticketing asks
    # escalation for SLAs, so each needs the other's address before either starts.
    esc_port, tic_port = free_port(), free_port()
    esc_addr, tic_addr = f"127.0.0.1:{esc_port}", f"127.0.0.1:{tic_port}"
    servers = [
        await _grpc(escalation, EscalationSettings(
            grpc_port=esc_port, ticketing_addr=tic_addr, sla_clock_interval_seconds=0.2), url),
        await _grpc(ticketing, TicketingSettings(grpc_port=tic_port, escalation_addr=esc_addr), url),
    ]
    sco = await _grpc(scoring, ScoringSettings(grpc_port=0, escalation_addr=esc_addr), url)
    servers.append(sco)
    settings = GatewaySettings(
        database_url=url, webhooks_enabled=False,
        ticketing_addr=tic_addr, escalation_addr=esc_addr,
        scoring_addr=f"127.0.0.1:{sco.port}", http_port=free_port(),
    )
    app = create_app(settings, configure_logs=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.http_port,
                                           log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield Stack(base_url=f"http://127.0.0.1:{settings.http_port}", settings=settings)
    finally:
        server.should_exit = True
        await task
        for s in reversed(servers):
            await s.stop()
        await drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
async def browser_context(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(profile), executable_path=chromium_path, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 1000}, device_scale_factor=1,
            locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True,
        )
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
