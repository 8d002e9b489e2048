"""`make run`: the whole platform on one machine, and the process harness of the e2e tests.

1. database: DATABASE_URL, or the embedded PostgreSQL under .kefu/pgdata
2. migrations of every service (`python -m kefu_<svc> migrate`)
3. the three gRPC services and the gateway as child processes, each waited for
4. demo data through the public API, demo credentials printed
Ctrl-C (or SIGTERM) stops the children gracefully, then the embedded database.

This is tooling, not a service: it starts services as processes and never imports them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kefu_common.embedded import resolve_database_url
from kefu_common.settings import PROJECT_ROOT, BaseServiceSettings

GRPC_SERVICES = ("escalation", "ticketing", "scoring")
ALL_SERVICES = (*GRPC_SERVICES, "gateway")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class StackSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="KEFU_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    ticketing_port: int = Field(default=50051, ge=1, le=65535)
    escalation_port: int = Field(default=50052, ge=1, le=65535)
    scoring_port: int = Field(default=50053, ge=1, le=65535)
    seed_demo: bool = True


@dataclass
class Stack:
    """The four services as child processes on loopback."""

    database_url: str
    ports: Mapping[str, int]
    host: str = "127.0.0.1"
    extra_env: Mapping[str, str] = field(default_factory=dict)
    log_dir: Path | None = None
    python: str = sys.executable
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # What this stack's services call each gRPC service at (default: this stack's own port);
    # `replica_set` gives every replica the multi-address target of all of them.
    targets: Mapping[str, str] = field(default_factory=dict)

    def addr(self, name: str) -> str:
        return f"{self.host}:{self.ports[name]}"

    def target(self, name: str) -> str:
        return self.targets.get(name) or self.addr(name)

    @property
    def gateway_url(self) -> str:
        return f"http://{self.addr('gateway')}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "PYTHONUNBUFFERED": "1",
                "TICKETING_GRPC_HOST": self.host,
                "TICKETING_GRPC_PORT": str(self.ports["ticketing"]),
                "TICKETING_ESCALATION_ADDR": self.target("escalation"),
                "ESCALATION_GRPC_HOST": self.host,
                "ESCALATION_GRPC_PORT": str(self.ports["escalation"]),
                "ESCALATION_TICKETING_ADDR": self.target("ticketing"),
                "SCORING_GRPC_HOST": self.host,
                "SCORING_GRPC_PORT": str(self.ports["scoring"]),
                "SCORING_ESCALATION_ADDR": self.target("escalation"),
                "GATEWAY_HTTP_HOST": self.host,
                "GATEWAY_HTTP_PORT": str(self.ports["gateway"]),
                "GATEWAY_TICKETING_ADDR": self.target("ticketing"),
                "GATEWAY_ESCALATION_ADDR": self.target("escalation"),
                "GATEWAY_SCORING_ADDR": self.target("scoring"),
            }
        )
        env.update(self.extra_env)
        return env

    def migrate(self) -> None:
        """Every service's migrations side by side (each schema under its own advisory lock, as
        the Kubernetes Job runs them); the gateway has a schema too (partners, API keys)."""
        running = {}
        for name in ALL_SERVICES:
            out = self._log(f"{name}-migrate")
            running[name] = subprocess.Popen(
                [self.python, "-m", f"kefu_{name}", "migrate"],
                env=self.env(), stdout=out, stderr=subprocess.STDOUT,
            )
            if out is not None:
                os.close(out)
        failed = {name: proc.wait() for name, proc in running.items()}
        failed = {name: code for name, code in failed.items() if code != 0}
        if failed:
            raise RuntimeError(f"migrations failed: {failed}")

    def _log(self, name: str) -> int | None:
        if self.log_dir is None:
            return None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return os.open(self.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def start(self, name: str, timeout: float = 30.0) -> None:
        self.spawn(name)
        self.wait_ready(name, timeout)

    def spawn(self, name: str) -> None:
        out = self._log(name)
        self.procs[name] = subprocess.Popen(
            [self.python, "-m", f"kefu_{name}", "serve"],
            env=self.env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop children in order
        )
        if out is not None:
            os.close(out)

    def start_all(self, timeout: float = 60.0) -> None:
        """Start every service at once (each retries its dependencies), then wait for all."""
        for name in ALL_SERVICES:
            self.spawn(name)
        for name in ALL_SERVICES:
            self.wait_ready(name, timeout)

    def wait_ready(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode} during start-up")
            if self.is_ready(name):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{name} was not ready within {timeout:.0f}s")

    def is_ready(self, name: str) -> bool:
        if name == "gateway":
            try:
                return httpx.get(f"{self.gateway_url}/healthz", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False
        with grpc.insecure_channel(self.addr(name)) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=0.5
                )
            except grpc.RpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return proc.returncode if proc else None
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def kill(self, name: str) -> None:
        self.stop(name, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in reversed(ALL_SERVICES):
            self.stop(name)

    def gateway_cli(self, *args: str, check: bool = True) -> str:
        """`python -m kefu_gateway <args>` against this stack; its standard output."""
        out = subprocess.run(
            [self.python, "-m", "kefu_gateway", *args],
            env=self.env(), check=check, capture_output=True, text=True,
        )
        return out.stdout.strip()

    def token(self, role: str, subject: str) -> str:
        return self.gateway_cli("token", "--role", role, "--subject", subject)

    def demo_credentials(self, key_file: Path) -> dict[str, str]:
        """Every demo token and the demo partner's API key, from one gateway process (each
        process start costs seconds of imports); the key is kept in `key_file` and reused."""
        return dict(json.loads(self.gateway_cli("demo-credentials", "--key-file", str(key_file))))


def replica_set(
    database_url: str,
    count: int,
    *,
    extra_env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    host: str = "127.0.0.1",
) -> list[Stack]:
    """`count` copies of the whole platform on one database, each service on ports of its own,
    as N pods per Deployment are. Every service calls the others at a multi-address target of
    all their replicas (`ipv4:h:p1,h:p2`), spread round-robin by the gRPC channel
    (kefu_common.grpc_client), as a headless Service's DNS name would be on Kubernetes."""
    ports = [{name: free_port() for name in ALL_SERVICES} for _ in range(count)]
    targets = {
        name: "ipv4:" + ",".join(f"{host}:{p[name]}" for p in ports) for name in GRPC_SERVICES
    }
    return [
        Stack(database_url=database_url, ports=p, host=host, extra_env=dict(extra_env or {}),
              log_dir=None if log_dir is None else log_dir / f"replica-{i}", targets=targets)
        for i, p in enumerate(ports)
    ]


@dataclass
class Supervisor:
    """Restarts a crashed service as a process supervisor would: at once the first time, then
    after a back-off that doubles per crash up to `max_backoff`, back to none once the service
    has stayed up `stable_after` seconds. Says so in the log each time."""

    stack: Stack
    max_backoff: float = 30.0
    stable_after: float = 60.0
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    _crashes: dict[str, int] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)

    def backoff(self, crashes: int) -> float:
        return 0.0 if crashes <= 1 else min(self.max_backoff, 2.0 ** (crashes - 2))

    def check(self) -> None:
        """One pass: note the services that exited, restart those whose back-off is over."""
        now = self.clock()
        for name, proc in list(self.stack.procs.items()):
            if name in self._due or proc.poll() is None:
                if proc.poll() is None and now - self._started.get(name, now) >= self.stable_after:
                    self._crashes.pop(name, None)  # stayed up: the next crash restarts at once
                continue
            crashes = self._crashes.get(name, 0) + 1
            self._crashes[name] = crashes
            delay = self.backoff(crashes)
            self._due[name] = now + delay
            self.say(f"kefu: {name} exited with code {proc.returncode}; restarting "
                     f"{'now' if delay == 0 else f'in {delay:.0f}s'} (crash {crashes})")
        for name, due in list(self._due.items()):
            if now >= due:
                del self._due[name]
                self.stack.spawn(name)
                self._started[name] = now
                self.say(f"kefu: {name} restarted (pid {self.stack.procs[name].pid})")


DEMO_TICKETS = [
    {
        "key": "demo-v2-ticket-1",
        "body": {
            "customer": {"id": "C-10086", "name": "王女士", "tier": "vip"},
            "channel": "phone",
            "severity": "high",
            "category": "quality",
            "subject": "电视开机黑屏，第三次来电",
            "team": "east",
            "description": "Customer says the TV shows a black screen after power-on.",
        },
    },
    {
        "key": "demo-v2-ticket-2",
        "body": {
            "customer": {"id": "C-12315", "name": "李先生", "tier": "standard"},
            "channel": "regulator",
            "severity": "normal",
            "category": "refund",
            "subject": "12315 转来的退款投诉",
        },
    },
]


DEMO_AGENTS = [
    {"id": "A-001", "name": "张工", "team": "east", "skill_level": 5, "specialist": True,
     "direct_line": "+86 10 8888 0001"},
    {"id": "A-002", "name": "李专员", "team": "east", "skill_level": 4, "specialist": True,
     "direct_line": "+86 10 8888 0002"},
    {"id": "A-003", "name": "王小二", "team": "east", "skill_level": 2},
]


def seed_demo(stack: Stack, token: str, admin_token: str) -> list[dict[str, object]]:
    """Idempotent: agents are upserts and fixed Idempotency-Keys return the same tickets."""
    created = []
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        for agent in DEMO_AGENTS:
            client.post(
                "/v1/agents", json=agent, headers={"Authorization": f"Bearer {admin_token}"}
            ).raise_for_status()
        for demo in DEMO_TICKETS:
            response = client.post(
                "/v1/tickets",
                json=demo["body"],
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": demo["key"]},
            )
            response.raise_for_status()
            created.append(response.json())
    return created


def main() -> None:
    settings = StackSettings()
    print("kefu: preparing the database ...", flush=True)
    url = resolve_database_url(settings.database_url, PROJECT_ROOT / ".kefu" / "pgdata")
    stack = Stack(
        database_url=url,
        host=settings.host,
        ports={
            "gateway": settings.gateway_port,
            "ticketing": settings.ticketing_port,
            "escalation": settings.escalation_port,
            "scoring": settings.scoring_port,
        },
    )
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        print("kefu: applying migrations ...", flush=True)
        stack.migrate()
        print("kefu: starting services ...", flush=True)
        stack.start_all()
        creds = stack.demo_credentials(PROJECT_ROOT / ".kefu" / "demo-partner-key")
        tickets: list[dict[str, object]] = []
        if settings.seed_demo:
            try:
                tickets = seed_demo(stack, creds["agent"], creds["admin"])
            except httpx.HTTPError as exc:  # demo data is a convenience, never a reason to stop
                print(f"kefu: demo data not created ({exc})", flush=True)
        print(_banner(stack, settings.database_url is None, creds, tickets), flush=True)
        supervisor = Supervisor(stack)
        while not stopping:
            supervisor.check()
            time.sleep(0.3)
    finally:
        print("kefu: stopping services ...", flush=True)
        stack.stop_all()
        print("kefu: stopped", flush=True)


def _banner(
    stack: Stack,
    embedded: bool,
    creds: Mapping[str, str],
    tickets: list[dict[str, object]],
) -> str:
    db = "embedded PostgreSQL (.kefu/pgdata)" if embedded else "DATABASE_URL"
    lines = [
        "",
        "=" * 72,
        "Kefu is running",
        f"  Gateway      {stack.gateway_url}",
        f"  Console      {stack.gateway_url}/console   (dev sign-in, or paste a lead token)",
        f"  OpenAPI docs {stack.gateway_url}/docs   (spec: {stack.gateway_url}/openapi.json)",
        f"  gRPC         ticketing {stack.addr('ticketing')}, escalation "
        f"{stack.addr('escalation')}, scoring {stack.addr('scoring')}",
        f"  Database     {db}",
        "",
        "Demo credentials (bearer tokens, valid 30 days; `make token ROLE=lead` for more):",
        f"  agent  {creds['agent']}",
        f"  lead   {creds['lead']}",
        f"  qa     {creds['qa']}",
        f"  admin  {creds['admin']}",
        f"  customer C-10086  {creds['customer']}   (GET /v1/customer/cases)",
        f"  partner API key   {creds['partner_key']}   (header X-API-Key; kept in .kefu/demo-partner-key)",
        "",
        "Try:",
        f"  export TOKEN={creds['agent']}",
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" {stack.gateway_url}/v1/tickets/<id>",
    ]
    if tickets:
        lines.append("Demo tickets:")
        lines.extend(f"  #{t['number']} {t['id']}  {t['subject']}" for t in tickets)
    lines += ["", "A crashed service is restarted (with back-off). Press Ctrl-C to stop.", "=" * 72]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
    sys.exit(0)

