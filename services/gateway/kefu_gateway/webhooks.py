"""Partner webhooks: subscriptions, a delivery outbox fed by the ticketing event stream,
signed deliveries with retries and exponential backoff, a delivery log, manual redelivery.

    ticketing WatchEvents ──▶ WebhookFanout ──▶ gateway.webhook_delivery (pending, due now)
                                                   │ claim (SKIP LOCKED, lease)
                                                   ▼
                                   deliver_due ──▶ POST partner URL, signed
                                                   │ 2xx: delivered · else: attempt n+1 after
                                                   ▼ base·2^(n-1) (capped) · failed after max

* Exactly once into the outbox: one delivery row per (subscription, event) under a unique
  constraint, and the stream cursor advances in the same transaction.
* At least once out of it: a receiver may see a delivery twice (a crash after its 2xx and
  before we recorded it); `Kefu-Delivery-Id` / the event `id` let it de-duplicate.
* Signature: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature:
  v1,<base64>`; kefu_common.signing), plus the deprecated `Kefu-Signature` headers until
  2027-06-30; receivers refuse timestamps older than a few minutes (replays).
* Which tickets are a partner's: the creator recorded by ticketing (`partner:<id>`), learned
  from each `ticket.created` (one GetTicket per created ticket) into `partner_ticket`.
* Time comes from the injected clock; the HTTP client is injected (tests use a real server).
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import grpc
import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from kefu_common.signing import new_secret, signed_headers
from kefu_common.ticket_events import to_json
from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.errors import FailedPrecondition, InvalidArgument, NotFound
from kefu_common.leader import leadership, lock_key
from kefu_common.logging import get_logger
from kefu_common.relay import relay_once
from kefu_common.tasks import BackgroundLoop
from kefu_common.timestamps import instants_in_one_format, rfc3339
from kefu_gateway.models import (
    Partner,
    PartnerTicket,
    StreamCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from kefu_gateway.scope import partner_event_data

log = get_logger("kefu.gateway.webhooks")

# What partners may subscribe to (docs/events.md); views and contacts stay inside.
EVENT_TYPES = (
    "ticket.created",
    "ticket.updated",
    "ticket.assigned",
    "ticket.status_changed",
    "ticket.progress_added",
)
CURSOR = "webhook_fanout"
FANOUT_LOCK_KEY = lock_key("kefu-gateway-webhook-fanout")
PARTNER_ACTOR = "partner:"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=10)
    cap: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(seconds=60)  # a claimed delivery is not re-claimed before this
    timeout_seconds: float = 10.0
    allow_private_hosts: bool = True  # False in production: see public_host

    def delay(self, attempts: int) -> timedelta:
        """Wait after the n-th failed attempt: base, 2·base, 4·base, … capped."""
        return min(self.cap, self.base * (2 ** (attempts - 1)))


# --- subscriptions, log, redelivery (session first, flush only) -----------------------------


def _check_url(url: str, *, https_only: bool) -> str:
    parts = urlsplit(url)
    schemes = ("https",) if https_only else ("https", "http")
    if parts.scheme not in schemes or not parts.hostname or len(url) > 2048:
        raise InvalidArgument(
            f"url must be an absolute {' or '.join(schemes)} URL of at most 2048 characters",
            code="invalid_webhook_url",
        )
    return url


async def public_host(url: str) -> bool:
    """True when every address the URL's host resolves to is a public one: partners must not
    make the gateway call into our own network (SSRF). Checked at subscription and again at
    each delivery (DNS may change)."""
    parts = urlsplit(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        )
    except (OSError, UnicodeError):
        return False
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    return bool(addresses) and all(a.is_global and not a.is_multicast for a in addresses)


async def create_subscription(
    session: AsyncSession,
    *,
    partner_id: str,
    url: str,
    event_types: list[str],
    https_only: bool,
    allow_private_hosts: bool,
    clock: Clock,
) -> WebhookSubscription:
    partner = await session.get(Partner, partner_id)
    if partner is None or not partner.active:  # e.g. a dev token for an unregistered partner
        raise FailedPrecondition(
            f"partner {partner_id} is not registered (python -m kefu_gateway partner create)",
            code="partner_not_registered",
        )
    unknown = set(event_types) - set(EVENT_TYPES)
    if unknown or not event_types:
        raise InvalidArgument(
            f"event_types must be a non-empty subset of {', '.join(EVENT_TYPES)}",
            code="invalid_event_types",
        )
    _check_url(url, https_only=https_only)
    if not allow_private_hosts and not await public_host(url):
        raise InvalidArgument(
            "url must name a host with public addresses only", code="invalid_webhook_url"
        )
    subscription = WebhookSubscription(
        partner_id=partner_id,
        url=url,
        secret=new_secret(),
        event_types=sorted(set(event_types)),
        created_at=clock.now(),
    )
    session.add(subscription)
    await session.flush()
    return subscription


def _uuid_or_404(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} {value} not found", code=f"{what}_not_found") from None


async def list_subscriptions(session: AsyncSession, *, partner_id: str) -> list[WebhookSubscription]:
    stmt = (
        select(WebhookSubscription)
        .where(col(WebhookSubscription.partner_id) == partner_id, col(WebhookSubscription.active))
        .order_by(col(WebhookSubscription.created_at))
    )
    return list((await session.exec(stmt)).all())


async def deactivate_subscription(session: AsyncSession, *, partner_id: str, subscription_id: str) -> None:
    row = await session.get(WebhookSubscription, _uuid_or_404(subscription_id, "subscription"))
    if row is None or row.partner_id != partner_id or not row.active:
        raise NotFound(f"subscription {subscription_id} not found", code="subscription_not_found")
    row.active = False
    # deleting stops delivery: pending retries are cancelled in the same transaction (a
    # delivery already leased to a worker may still go out once, within its lease)
    await session.exec(  # type: ignore[call-overload]
        update(WebhookDelivery)
        .where(col(WebhookDelivery.subscription_id) == row.id, col(WebhookDelivery.status) == "pending")
        .values(status="cancelled", next_attempt_at=None)
    )
    await session.flush()


async def list_deliveries(
    session: AsyncSession, *, partner_id: str, status: str | None, limit: int
) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    """The delivery log, newest first, each with its attempts (oldest first)."""
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.partner_id) == partner_id)
    if status:
        stmt = stmt.where(col(WebhookDelivery.status) == status)
    deliveries = list(
        (await session.exec(stmt.order_by(col(WebhookDelivery.created_at).desc()).limit(limit))).all()
    )
    attempts = await attempts_of(session, [d.id for d in deliveries])
    return [(d, attempts[d.id]) for d in deliveries]


async def attempts_of(
    session: AsyncSession, delivery_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[WebhookAttempt]]:
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    if delivery_ids:
        rows = await session.exec(
            select(WebhookAttempt)
            .where(col(WebhookAttempt.delivery_id).in_(delivery_ids))
            .order_by(col(WebhookAttempt.id))
        )
        for attempt in rows.all():
            attempts[attempt.delivery_id].append(attempt)
    return attempts


async def redeliver(
    session: AsyncSession, *, partner_id: str, delivery_id: str, clock: Clock
) -> WebhookDelivery:
    """Send a delivery again now (after it failed, or because the partner lost it)."""
    row = await session.get(WebhookDelivery, _uuid_or_404(delivery_id, "delivery"), with_for_update=True)
    if row is None or row.partner_id != partner_id:
        raise NotFound(f"delivery {delivery_id} not found", code="delivery_not_found")
    subscription = await session.get(WebhookSubscription, row.subscription_id)
    if subscription is None or not subscription.active:
        raise FailedPrecondition("the delivery's subscription was deleted", code="subscription_deleted")
    row.status = "pending"
    row.next_attempt_at = clock.now()
    await session.flush()
    return row


# --- fan-out: the event stream into the outbox ----------------------------------------------


async def read_cursor(session: AsyncSession) -> int:
    row = await session.get(StreamCursor, CURSOR)
    return row.last_sequence if row else 0


async def enqueue_event(
    session: AsyncSession, event: ticketing_pb2.Event, *, creator: str | None, clock: Clock
) -> int:
    """Outbox rows for one event (one per matching subscription) and the cursor, in the
    caller's transaction. `creator` is the ticket's creator for ticket.created."""
    ticket_id = uuid.UUID(event.ticket_id)
    if creator is not None and creator.startswith(PARTNER_ACTOR):
        await session.exec(  # type: ignore[call-overload]
            insert(PartnerTicket)
            .values(ticket_id=ticket_id, partner_id=creator.removeprefix(PARTNER_ACTOR))
            .on_conflict_do_nothing()
        )
    count = 0
    if event.type in EVENT_TYPES:
        owner = await session.get(PartnerTicket, ticket_id)
        if owner is not None:
            subscriptions = await session.exec(
                select(WebhookSubscription).where(
                    col(WebhookSubscription.partner_id) == owner.partner_id,
                    col(WebhookSubscription.active),
                    col(WebhookSubscription.event_types).contains([event.type]),
                )
            )
            envelope = {
                "id": event.event_id,
                "type": event.type,
                "occurred_at": rfc3339(event.occurred_at.ToDatetime(tzinfo=UTC)),
                "ticket_id": event.ticket_id,
                "data": instants_in_one_format(partner_event_data(event.type, to_json(event))),
            }
            for subscription in subscriptions.all():
                result = await session.exec(  # type: ignore[call-overload]
                    insert(WebhookDelivery)
                    .values(
                        id=uuid.uuid4(), subscription_id=subscription.id, partner_id=owner.partner_id,
                        event_id=uuid.UUID(event.event_id), event_type=event.type, ticket_id=ticket_id,
                        payload=envelope, status="pending", attempts=0, next_attempt_at=clock.now(),
                        created_at=clock.now(),
                    )
                    .on_conflict_do_nothing()
                )
                count += result.rowcount
    await session.exec(  # type: ignore[call-overload]
        insert(StreamCursor)
        .values(name=CURSOR, last_sequence=event.sequence)
        .on_conflict_do_update(
            index_elements=["name"],
            set_={"last_sequence": text("GREATEST(stream_cursor.last_sequence, excluded.last_sequence)")},
        )
    )
    return count


class WebhookFanout:
    """Follows the ticketing event stream from the stored cursor into the outbox.

    Every gateway worker runs one, but only the holder of a PostgreSQL advisory lock (on a
    connection kept for as long as it leads) follows the stream; the others stand by and
    retry every few seconds, so N workers do not do the fan-out N times. Should two ever run
    at once (a lock connection lost unnoticed), the result is still right: outbox rows are
    unique and the cursor only moves forward.
    """

    RETRY_MAX_SECONDS = 5.0
    STANDBY_SECONDS = 5.0

    def __init__(self, db: Database, stub: ticketing_pb2_grpc.TicketingServiceStub, clock: Clock,
                 *, timeout: float) -> None:
        self.db = db
        self.stub = stub
        self.clock = clock
        self.timeout = timeout
        self.leading = False
        self.standing_by = asyncio.Event()  # set when another process holds the lead
        self.loop = BackgroundLoop("gateway-webhook-fanout", self._run)

    async def _creator(self, event: ticketing_pb2.Event) -> str | None:
        if event.type != "ticket.created":
            return None
        if event.created.created_by:  # events stored before the field existed lack it
            return event.created.created_by
        ticket = await self.stub.GetTicket(
            ticketing_pb2.GetTicketRequest(id=event.ticket_id), timeout=self.timeout
        )
        return ticket.created_by

    async def _follow(self) -> None:
        async with self.db.session() as session:
            after = await read_cursor(session)
        async for event in self.stub.WatchEvents(ticketing_pb2.WatchEventsRequest(after_sequence=after)):
            creator = await self._creator(event)
            async with self.db.session() as session:
                await enqueue_event(session, event, creator=creator, clock=self.clock)

    async def _lead(self) -> bool:
        """Follow the stream while holding the fan-out lock; False if another process has it."""
        async with leadership(self.db, FANOUT_LOCK_KEY) as leading:
            if not leading:
                return False
            self.leading = True
            try:
                await self._follow()
            finally:
                self.leading = False
        return True

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                if not await self._lead():
                    self.standing_by.set()
                    await asyncio.sleep(self.STANDBY_SECONDS)
                    continue
            except (grpc.aio.AioRpcError, OSError) as err:
                log.info("webhook_fanout_reconnect", error=type(err).__name__)
            except Exception:  # e.g. the gateway database down: resume from the stored cursor
                log.exception("webhook_fanout_failed")
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.RETRY_MAX_SECONDS)


# --- delivery: the outbox to partners -------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    url: str
    secret: str
    event_type: str
    body: bytes


class _Deliveries:
    """The webhook outbox for kefu_common.relay: leased, sent with no transaction open, recorded."""

    def __init__(self, http: httpx.AsyncClient, clock: Clock, policy: RetryPolicy) -> None:
        self.http, self.clock, self.policy = http, clock, policy

    async def claim(self, session: AsyncSession, *, now: datetime, until: datetime, limit: int) -> list[_Claimed]:
        rows = await session.exec(
            select(WebhookDelivery, WebhookSubscription.url, WebhookSubscription.secret)
            .join(WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id))
            .where(col(WebhookDelivery.status) == "pending", col(WebhookDelivery.next_attempt_at) <= now,
                   col(WebhookSubscription.active))
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)  # type: ignore[arg-type]
        )
        claimed = []
        for delivery, url, secret in rows.all():
            delivery.next_attempt_at = until  # leased: no other worker takes it
            claimed.append(_Claimed(delivery.id, url, secret, delivery.event_type, orjson.dumps(delivery.payload)))
        await session.flush()
        return claimed

    async def send(self, item: _Claimed) -> tuple[int | None, str]:
        """(status code, error) of one attempt."""
        if not self.policy.allow_private_hosts and not await public_host(item.url):
            return None, "refused: the host resolves to a non-public address"
        timestamp = int(self.clock.now().timestamp())
        headers = signed_headers(item.secret, item.body, timestamp=timestamp, delivery_id=str(item.id),
                                 event_type=item.event_type)
        try:
            response = await self.http.post(item.url, content=item.body, headers=headers,
                                            timeout=self.policy.timeout_seconds)
        except httpx.HTTPError as err:
            return None, f"{type(err).__name__}: {err}"
        return response.status_code, ""

    async def record(self, session: AsyncSession, sent: Sequence[tuple[_Claimed, tuple[int | None, str]]],
                     *, now: datetime) -> None:
        policy = self.policy
        for claimed, (status_code, error) in sent:
            delivery = await session.get(WebhookDelivery, claimed.id, with_for_update=True)
            if delivery is None:
                continue
            delivery.attempts += 1
            session.add(WebhookAttempt(delivery_id=delivery.id, attempted_at=now, status_code=status_code,
                                       error=error[:500]))
            if status_code is not None and 200 <= status_code < 300:
                delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
            elif delivery.attempts >= policy.max_attempts:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = now + policy.delay(delivery.attempts)
        await session.flush()


async def deliver_due(
    db: Database, http: httpx.AsyncClient, clock: Clock, policy: RetryPolicy, *, limit: int = 50
) -> int:
    """One pass: send every delivery that is due now; returns how many were attempted."""
    sent = await relay_once(db, _Deliveries(http, clock, policy), clock, lease=policy.lease, limit=limit,
                            concurrent=True)
    return len(sent)


class WebhookDeliverer:
    """Runs `deliver_due` every `interval` seconds in the gateway process."""

    def __init__(self, db: Database, clock: Clock, policy: RetryPolicy, *, interval: float) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.interval = interval
        self.loop = BackgroundLoop("gateway-webhook-delivery", self._run)

    async def _run(self) -> None:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            while True:
                try:
                    await deliver_due(self.db, http, self.clock, self.policy)
                except Exception:  # keep delivering; the next pass retries what is due
                    log.exception("webhook_delivery_pass_failed")
                await asyncio.sleep(self.interval)
