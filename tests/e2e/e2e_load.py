"""The client load and the database checks the fault tests share (test_faults.py,
test_replicas.py): a well-behaved client through one or several gateways, then "was every
acknowledged write stored once, and nothing twice?" asked of PostgreSQL itself.

Import it as `from e2e_load import ...` (tests/e2e is on the path through its conftest).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from kefu_common.db import to_libpq_url

MAX_OPERATIONS = 3000  # the load stops by itself even if the test never tells it to
RECOVERY_SECONDS = 30.0
RETRYABLE = (502, 503, 504)  # a gateway or a downstream replica went away: try again


class SteadyLoad(threading.Thread):
    """One client creating tickets, logging contacts and (with `resolve_every`) opening and
    resolving tickets through the gateways at `base_urls`, one request at a time, each request
    to the next gateway in turn (as a load balancer in front of the replicas would).

    Every write carries an Idempotency-Key and is retried with the same key, on the next
    gateway, until it gets an answer, as a well-behaved client does: it is acknowledged when
    its 2xx arrives. So whether or not it was answered, it must be stored at most once, and
    once when acknowledged. `create_headers` authenticate the creates (a partner's API key:
    its tickets' events go to its webhooks); the rest is done by the staff `token`.
    `backdate` sets each ticket's first contact that long ago, so its SLA deadlines are due at
    once and the timers fire during the load."""

    def __init__(
        self,
        base_urls: str | Sequence[str],
        token: str,
        *,
        create_headers: dict[str, str] | None = None,
        resolve_every: int = 0,
        evaluate_every: int = 0,
        backdate: timedelta | None = None,
        max_operations: int = MAX_OPERATIONS,
        pause: float = 0.02,
    ) -> None:
        super().__init__(daemon=True)
        self.base_urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.create_headers = create_headers or self.headers
        self.resolve_every = resolve_every
        self.evaluate_every = evaluate_every
        self.backdate = backdate
        self.max_operations = max_operations
        self.pause = pause
        self.stopping = threading.Event()
        self.run_id = uuid.uuid4().hex[:8]
        self.acked_tickets: dict[str, str] = {}  # customer id -> ticket id
        self.unanswered_creates: list[str] = []  # customer ids whose create never got a 201
        self.acked_contacts: dict[str, str] = {}  # summary -> ticket id
        self.sent_contacts: list[str] = []
        self.resolving: set[str] = set()  # ticket ids the load opens and resolves
        self.acked_resolves: list[str] = []  # ... of which both steps were answered
        self.acked_evaluations: dict[str, str] = {}  # evaluation id -> ticket id
        self.statuses: Counter[str] = Counter()
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self._turn = 0

    def acknowledged(self) -> int:
        with self.lock:
            return (len(self.acked_tickets) + len(self.acked_contacts) + len(self.acked_resolves)
                    + len(self.acked_evaluations))

    def run(self) -> None:
        try:
            clients = [httpx.Client(base_url=url, timeout=15) for url in self.base_urls]
            try:
                for i in range(self.max_operations):
                    if self.stopping.is_set():
                        return
                    ticket_id = self._create(clients, i)
                    self._contact(clients, i)
                    if ticket_id and self.resolve_every and i % self.resolve_every == 0:
                        self._resolve(clients, ticket_id)
                    elif ticket_id and self.evaluate_every and i % self.evaluate_every == 1:
                        self._evaluate(clients, ticket_id)
                    time.sleep(self.pause)
            finally:
                for client in clients:
                    client.close()
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def _send(self, clients: list[httpx.Client], path: str, body: dict[str, object] | None,
              headers: dict[str, str], key: str, ok: int) -> httpx.Response | None:
        """POST until a final answer (None if the load was stopped first); the next gateway
        after each failure."""
        while not self.stopping.is_set():
            self._turn += 1
            client = clients[self._turn % len(clients)]
            try:
                response = client.post(path, json=body, headers={**headers, "Idempotency-Key": key})
            except httpx.HTTPError as exc:
                self.statuses[type(exc).__name__] += 1
                time.sleep(0.05)
                continue
            self.statuses[str(response.status_code)] += 1
            if response.status_code == ok:
                return response
            if response.status_code not in RETRYABLE:
                raise AssertionError(f"POST {path} answered {response.status_code}: {response.text}")
            time.sleep(0.05)
        return None

    def _create(self, clients: list[httpx.Client], i: int) -> str | None:
        customer = f"F-{self.run_id}-{i}"
        body: dict[str, object] = {"customer": {"id": customer, "tier": "standard"}, "channel": "phone",
                                   "severity": "normal", "category": "quality", "subject": f"fault {i}"}
        if self.backdate is not None:
            body["first_contact_at"] = (datetime.now(UTC) - self.backdate).isoformat()
        response = self._send(clients, "/v1/tickets", body, self.create_headers, customer, 201)
        if response is None:
            self.unanswered_creates.append(customer)
            return None
        with self.lock:
            self.acked_tickets[customer] = response.json()["id"]
        return str(response.json()["id"])

    def _contact(self, clients: list[httpx.Client], i: int) -> None:
        with self.lock:  # resolved tickets refuse contacts (a reopen would be needed)
            tickets = [t for t in self.acked_tickets.values() if t not in self.resolving]
        if not tickets:
            return
        ticket_id = tickets[i % len(tickets)]
        summary = f"contact {self.run_id}-{i}"
        self.sent_contacts.append(summary)
        body = {"direction": "inbound", "channel": "phone", "summary": summary}
        if self._send(clients, f"/v1/tickets/{ticket_id}/contacts", body, self.headers, summary.replace(" ", "-"), 201):
            with self.lock:
                self.acked_contacts[summary] = ticket_id

    def _resolve(self, clients: list[httpx.Client], ticket_id: str) -> None:
        with self.lock:
            self.resolving.add(ticket_id)  # from now on, no more contacts
        for action in ("open", "resolve"):
            key = f"{action}-{ticket_id}"
            if self._send(clients, f"/v1/tickets/{ticket_id}/{action}", None, self.headers, key, 200) is None:
                return
        with self.lock:
            self.acked_resolves.append(ticket_id)

    def _evaluate(self, clients: list[httpx.Client], ticket_id: str) -> None:
        """A QA evaluation of a call in which the customer threatens the regulator: scoring
        raises a risk signal for the ticket through its outbox and relay to escalation."""
        body = {"ticket_id": ticket_id, "turns": [
            {"role": "agent", "text": "您好，请问有什么可以帮您？"},
            {"role": "customer", "text": "再不解决我就打12315投诉你们"}]}
        response = self._send(clients, "/v1/qa/evaluations", body, self.headers, f"qa-{ticket_id}", 201)
        if response is not None:
            with self.lock:
                self.acked_evaluations[str(response.json()["id"])] = ticket_id


def wait_for(condition: Callable[[], bool], what: str, seconds: float = RECOVERY_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


async def assert_nothing_lost_or_doubled(load: SteadyLoad, database_url: str) -> list[str]:
    """What the database holds agrees with what the client was told (see SteadyLoad);
    returns the ids of the tickets stored."""
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        customers = [*load.acked_tickets, *load.unanswered_creates]
        stored = {
            r["customer_id"]: r["ids"]
            for r in await conn.fetch(
                "SELECT customer_id, array_agg(id::text) AS ids FROM ticketing.ticket "
                "WHERE customer_id = ANY($1::text[]) GROUP BY customer_id",
                customers,
            )
        }
        # Every acknowledged ticket exists, once, with the id the client was given.
        for customer, ticket_id in load.acked_tickets.items():
            assert stored.get(customer) == [ticket_id], customer
        # A create that was never answered may or may not exist, but never twice.
        assert all(len(ids) == 1 for ids in stored.values())

        contacts = Counter(
            r["summary"]
            for r in await conn.fetch(
                "SELECT summary FROM ticketing.contact WHERE summary = ANY($1::text[])",
                load.sent_contacts,
            )
        )
        for summary in load.acked_contacts:
            assert contacts[summary] == 1, summary
        assert max(contacts.values(), default=1) == 1

        ticket_ids = [i for ids in stored.values() for i in ids]
        # Every acknowledged open and resolve happened once: one transition to each status.
        transitions = Counter(
            (str(r["ticket_id"]), r["to_status"])
            for r in await conn.fetch(
                "SELECT ticket_id, to_status FROM ticketing.status_change WHERE ticket_id = ANY($1::uuid[])",
                ticket_ids,
            )
        )
        for ticket_id in load.acked_resolves:
            assert transitions[(ticket_id, "open")] == 1, ticket_id
            assert transitions[(ticket_id, "resolved")] == 1, ticket_id
        assert max(transitions.values(), default=1) == 1

        # Escalation's inbox holds every outbox event of these tickets exactly once.
        outbox = await conn.fetch(
            "SELECT sequence FROM ticketing.outbox_event WHERE ticket_id = ANY($1::uuid[])", ticket_ids
        )
        expected = sorted(r["sequence"] for r in outbox)
        deadline = time.monotonic() + RECOVERY_SECONDS
        while True:
            inbox = await conn.fetch(
                "SELECT sequence FROM escalation.ticket_event WHERE ticket_id = ANY($1::uuid[])",
                ticket_ids,
            )
            if len(inbox) >= len(expected) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert sorted(r["sequence"] for r in inbox) == expected
        return ticket_ids
    finally:
        await conn.close()
