"""Ticket rules. Functions take the session first and flush, never commit."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.common.v1 import types_pb2
from kefu_common.clock import Clock
from kefu_common.errors import AlreadyExists, InvalidArgument, NotFound
from kefu_common.protoconv import enum_choices
from kefu_ticketing.models import IdempotencyRecord, OutboxEvent, StatusChange, Ticket

CATEGORIES = ("product", "quality", "logistics", "refund", "billing", "service_attitude", "other")
TIERS = tuple(enum_choices(types_pb2.CustomerTier))
SEVERITIES = tuple(enum_choices(types_pb2.Severity))
CHANNELS = tuple(enum_choices(types_pb2.Channel))

MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_BACKDATE = timedelta(days=365)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")
_PHONE = re.compile(r"^\+?[0-9 ()\-]{3,32}$")

CREATE_COMMAND = "create_ticket"


@dataclass(frozen=True)
class NewTicket:
    request_id: str
    customer_id: str
    customer_name: str
    tier: str | None
    sensitive: bool
    phone: str
    email: str
    channel: str | None
    severity: str | None
    category: str
    subject: str
    description: str
    tags: tuple[str, ...] = field(default_factory=tuple)
    first_contact_at: datetime | None = None

    def fingerprint(self) -> str:
        """Stable hash of the request body: a reused request id must carry the same body."""
        data = asdict(self)
        data.pop("request_id")
        data["first_contact_at"] = self.first_contact_at.isoformat() if self.first_contact_at else None
        blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


class SlaResolver(Protocol):
    def __call__(
        self, *, tier: str, sensitive: bool, severity: str, channel: str, first_contact_at: datetime
    ) -> Awaitable[dict[str, Any]]: ...


def _require_length(name: str, value: str, *, lo: int, hi: int) -> None:
    if not lo <= len(value) <= hi:
        if lo > 0 and not value:
            raise InvalidArgument(f"{name} is required", code=f"invalid_{name.split('.')[-1]}")
        raise InvalidArgument(
            f"{name} must be {lo}..{hi} characters (got {len(value)})",
            code=f"invalid_{name.split('.')[-1]}",
        )


def validate_new_ticket(cmd: NewTicket, now: datetime) -> None:
    """Reject bad input with a message naming the field; nothing is written before this."""
    _require_length("request_id", cmd.request_id.strip(), lo=1, hi=128)
    _require_length("customer.id", cmd.customer_id.strip(), lo=1, hi=128)
    _require_length("customer.name", cmd.customer_name, lo=0, hi=200)
    if cmd.tier not in TIERS:
        raise InvalidArgument(f"customer.tier must be one of {', '.join(TIERS)}", code="invalid_tier")
    if cmd.phone and not _PHONE.match(cmd.phone):
        raise InvalidArgument("customer.phone is not a phone number", code="invalid_phone")
    if cmd.email and not _EMAIL.match(cmd.email):
        raise InvalidArgument("customer.email is not an e-mail address", code="invalid_email")
    if cmd.channel not in CHANNELS:
        raise InvalidArgument(f"channel must be one of {', '.join(CHANNELS)}", code="invalid_channel")
    if cmd.severity not in SEVERITIES:
        raise InvalidArgument(
            f"severity must be one of {', '.join(SEVERITIES)}", code="invalid_severity"
        )
    if cmd.category not in CATEGORIES:
        raise InvalidArgument(
            f"category must be one of {', '.join(CATEGORIES)}", code="invalid_category"
        )
    _require_length("subject", cmd.subject.strip(), lo=1, hi=300)
    _require_length("description", cmd.description, lo=0, hi=20_000)
    if len(cmd.tags) > 20:
        raise InvalidArgument("at most 20 tags", code="invalid_tags")
    for i, tag in enumerate(cmd.tags):
        _require_length(f"tags[{i}]", tag.strip(), lo=1, hi=50)
    if cmd.first_contact_at is not None:
        if cmd.first_contact_at > now + MAX_FUTURE_SKEW:
            raise InvalidArgument(
                "first_contact_at lies in the future", code="invalid_first_contact_at"
            )
        if cmd.first_contact_at < now - MAX_BACKDATE:
            raise InvalidArgument(
                "first_contact_at is more than a year ago", code="invalid_first_contact_at"
            )


async def find_replayed_ticket(session: AsyncSession, cmd: NewTicket) -> Ticket | None:
    """The ticket an earlier call with the same request id created, if any."""
    record = await session.get(IdempotencyRecord, (cmd.request_id, CREATE_COMMAND))
    if record is None:
        return None
    if record.request_hash != cmd.fingerprint():
        raise AlreadyExists(
            f"request_id {cmd.request_id!r} was already used with a different request",
            code="idempotency_key_reused",
        )
    ticket = await session.get(Ticket, record.ticket_id)
    assert ticket is not None, "idempotency record points at a missing ticket"
    return ticket


async def create_ticket(
    session: AsyncSession,
    cmd: NewTicket,
    *,
    resolve_sla: SlaResolver,
    clock: Clock,
    actor: str = "system",
) -> tuple[Ticket, bool]:
    """Create a ticket, or return the one an earlier call with the same request id created.

    Returns (ticket, created). The ticket row, its first status change, the `ticket.created`
    outbox event and the idempotency record are written in the caller's one transaction.
    """
    now = clock.now()
    validate_new_ticket(cmd, now)
    existing = await find_replayed_ticket(session, cmd)
    if existing is not None:
        return existing, False

    assert cmd.tier and cmd.severity and cmd.channel  # checked by validate_new_ticket
    first_contact_at = cmd.first_contact_at or now
    sla = await resolve_sla(
        tier=cmd.tier,
        sensitive=cmd.sensitive,
        severity=cmd.severity,
        channel=cmd.channel,
        first_contact_at=first_contact_at,
    )
    ticket = Ticket(
        id=uuid.uuid4(),
        status="new",
        customer_id=cmd.customer_id.strip(),
        customer_name=cmd.customer_name.strip(),
        customer_tier=cmd.tier,
        customer_sensitive=cmd.sensitive or cmd.channel == "regulator",
        customer_phone=cmd.phone,
        customer_email=cmd.email,
        channel=cmd.channel,
        severity=cmd.severity,
        category=cmd.category,
        subject=cmd.subject.strip(),
        description=cmd.description,
        tags=sorted({t.strip() for t in cmd.tags}),
        sla=sla,
        first_contact_at=first_contact_at,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    await session.flush()  # the ticket row must exist before rows that reference it
    session.add(
        StatusChange(
            ticket_id=ticket.id, from_status=None, to_status="new", actor=actor,
            reason="created", at=now,
        )
    )
    session.add(
        IdempotencyRecord(
            request_id=cmd.request_id, command=CREATE_COMMAND,
            request_hash=cmd.fingerprint(), ticket_id=ticket.id, created_at=now,
        )
    )
    session.add(
        OutboxEvent(
            event_type="ticket.created",
            ticket_id=ticket.id,
            payload={
                "ticket_id": str(ticket.id),
                "number": ticket.number,
                "customer_id": ticket.customer_id,
                "customer_tier": ticket.customer_tier,
                "customer_sensitive": ticket.customer_sensitive,
                "channel": ticket.channel,
                "severity": ticket.severity,
                "category": ticket.category,
                "first_contact_at": first_contact_at.isoformat(),
                "sla": sla,
            },
            occurred_at=now,
        )
    )
    await session.flush()
    return ticket, True


async def get_ticket(session: AsyncSession, ticket_id: str) -> Ticket:
    try:
        key = uuid.UUID(ticket_id)
    except ValueError:
        raise NotFound(f"ticket {ticket_id!r} not found", code="ticket_not_found") from None
    ticket = await session.get(Ticket, key)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found", code="ticket_not_found")
    return ticket
