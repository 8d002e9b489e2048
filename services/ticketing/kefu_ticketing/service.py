"""Ticket rules. Functions take the session first and flush, never commit."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from google.protobuf.message import Message

from kefu.common.v1 import types_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.clock import Clock
from kefu_common.db import driver_connection
from kefu_common.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from kefu_common.protoconv import enum_choices, str_to_enum, to_timestamp
from kefu_common.ticket_events import sla_snapshot
from kefu_ticketing import search
from kefu_ticketing.events import append_event, append_event_raw
from kefu_ticketing.models import (
    Agent,
    Assignment,
    Contact,
    Note,
    OutboxEvent,
    ProgressEntry,
    ProgressView,
    StatusChange,
    Ticket,
)

CATEGORIES = ("product", "quality", "logistics", "refund", "billing", "service_attitude", "other")
TIERS = tuple(enum_choices(types_pb2.CustomerTier))
SEVERITIES = tuple(enum_choices(types_pb2.Severity))
CHANNELS = tuple(enum_choices(types_pb2.Channel))

MAX_FUTURE_SKEW = timedelta(minutes=5)
MAX_BACKDATE = timedelta(days=365)
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,63}$")
_PHONE = re.compile(r"^\+?[0-9 ()\-]{3,32}$")

@dataclass(frozen=True)
class NewTicket:
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


class SlaResolver(Protocol):
    def __call__(
        self, *, tier: str, sensitive: bool, severity: str, channel: str, first_contact_at: datetime
    ) -> Awaitable[dict[str, Any]]: ...


def _require_length(name: str, value: str, *, lo: int, hi: int) -> None:
    code = "invalid_" + re.sub(r"\[\d+\]$", "", name.split(".")[-1])  # tags[3] -> invalid_tags
    if not lo <= len(value) <= hi:
        if lo > 0 and not value:
            raise InvalidArgument(f"{name} is required", code=code)
        raise InvalidArgument(f"{name} must be {lo}..{hi} characters (got {len(value)})", code=code)


def validate_new_ticket(cmd: NewTicket, now: datetime) -> None:
    """Reject bad input with a message naming the field; nothing is written before this."""
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


# --- states ---------------------------------------------------------------------------------

STATUSES = ("new", "open", "pending_customer", "resolved", "closed", "reopened")
WORKING = frozenset({"open", "reopened"})  # reopened behaves as open
DONE = frozenset({"resolved", "closed"})

# action -> (states it may start from, state it leads to, event action name)
TRANSITIONS: dict[str, tuple[frozenset[str], str, str]] = {
    "open": (frozenset({"new"}), "open", "opened"),
    "pend": (WORKING, "pending_customer", "pending"),
    "resume": (frozenset({"pending_customer"}), "open", "resumed"),
    "resolve": (WORKING, "resolved", "resolved"),
    "close": (frozenset({"resolved"}), "closed", "closed"),
}

HIGH_RISK_SEVERITIES = frozenset({"high", "critical"})
SPECIALIST_MIN_SKILL = 4
DEFAULT_REOPEN_WINDOW = timedelta(days=30)
MAX_PAGE_SIZE = 200


def is_high_risk(ticket: Ticket) -> bool:
    return (
        ticket.customer_sensitive
        or ticket.channel == "regulator"
        or ticket.severity in HIGH_RISK_SEVERITIES
    )


# --- small helpers --------------------------------------------------------------------------


def _uuid(value: str, what: str = "ticket") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what} {value!r} not found", code=f"{what}_not_found") from None


def _text(name: str, value: str, *, hi: int, required: bool = False) -> str:
    _require_length(name, value.strip() if required else value, lo=1 if required else 0, hi=hi)
    return value.strip() if required else value


def _actor(actor: str) -> str:
    return _text("actor", actor or "system", hi=128)


def _not_future(name: str, at: datetime, now: datetime) -> None:
    if at > now + MAX_FUTURE_SKEW:
        raise InvalidArgument(f"{name} lies in the future", code=f"invalid_{name}")


async def _event(session: AsyncSession, ticket: Ticket, now: datetime, **change: Message) -> OutboxEvent:
    """The outbox event of one change (`created=TicketCreated(...)`, ...: a case of `Event.change`)
    with the ticket as it is now."""
    body = ticketing_pb2.Event(
        number=ticket.number or 0, version=ticket.version,
        status=str_to_enum(ticketing_pb2.TicketStatus, ticket.status), **change,
    )
    return await append_event(session, ticket_id=ticket.id, occurred_at=now, body=body)


def _enum(enum_type: object, value: str | None) -> int:
    return str_to_enum(enum_type, value) if value else 0


# The event envelope for the concept modules beside this one (ratings.py).
append_ticket_event = _event


def _changes_message(changed: dict[str, Any]) -> ticketing_pb2.TicketChanges:
    """`ticket.updated`'s changes: the fields update_ticket changed, at their new values."""
    out = ticketing_pb2.TicketChanges()
    for name, value in changed.items():
        if name == "tags":
            out.tags.values.extend(value)
            out.tags.SetInParent()
        elif name == "severity":
            out.severity = _enum(types_pb2.Severity, value)
        elif name == "customer_tier":
            out.customer_tier = _enum(types_pb2.CustomerTier, value)
        else:
            setattr(out, name, value)
    return out


def _touch(ticket: Ticket, now: datetime) -> None:
    ticket.version += 1
    ticket.updated_at = now


async def get_ticket(session: AsyncSession, ticket_id: str) -> Ticket:
    ticket = await session.get(Ticket, _uuid(ticket_id))
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found", code="ticket_not_found")
    return ticket


_READ_TICKET = f"SELECT {', '.join(Ticket.model_fields)} FROM ticketing.ticket WHERE id = $1"


async def read_ticket(conn: Any, ticket_id: str) -> Any:
    """The ticket as `get_ticket` finds it, in one statement on an asyncpg connection
    (`Database.reader`): a read-only row with the ticket's attributes, not an ORM object."""
    row = await conn.fetchrow(_READ_TICKET, _uuid(ticket_id))
    if row is None:
        raise NotFound(f"ticket {ticket_id} not found", code="ticket_not_found")
    return SimpleNamespace(**dict(row.items()))


async def lock_ticket(session: AsyncSession, ticket_id: str, expected_version: int) -> Ticket:
    """The ticket row, locked for this transaction, at the version the caller last saw."""
    stmt = select(Ticket).where(col(Ticket.id) == _uuid(ticket_id)).with_for_update()
    ticket = (await session.exec(stmt)).first()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found", code="ticket_not_found")
    if expected_version and expected_version != ticket.version:
        raise Aborted(
            f"ticket {ticket_id} is at version {ticket.version}, not {expected_version}; "
            "re-read it and retry",
            code="version_conflict",
        )
    return ticket


async def _record_status(
    session: AsyncSession, ticket: Ticket, to_status: str, *, actor: str, reason: str, now: datetime
) -> None:
    session.add(
        StatusChange(
            ticket_id=ticket.id, from_status=ticket.status, to_status=to_status,
            actor=actor, reason=reason, at=now,
        )
    )
    ticket.status = to_status


# --- create ---------------------------------------------------------------------------------


async def pick_specialist(session: AsyncSession, team: str) -> Agent | None:
    """The active specialist (skill >= 4) with the fewest unfinished tickets; team first."""
    open_load = (
        select(func.count())
        .where(col(Ticket.assignee_id) == col(Agent.id), col(Ticket.status).not_in(DONE))
        .scalar_subquery()
    )
    stmt = (
        select(Agent)
        .where(
            col(Agent.active).is_(True),
            col(Agent.specialist).is_(True),
            col(Agent.skill_level) >= SPECIALIST_MIN_SKILL,
        )
        .order_by((col(Agent.team) != team), open_load, col(Agent.skill_level).desc(), col(Agent.id))
        .limit(1)
    )
    return (await session.exec(stmt)).first()


_INSERT_TICKET = """
INSERT INTO ticketing.ticket (id, status, customer_id, customer_name, customer_tier,
    customer_sensitive, customer_phone, customer_email, channel, severity, category, subject,
    description, tags, reopen_count, version, sla, assignee_id, assignee_name,
    assignee_skill_level, team, created_by, first_contact_at, created_at, updated_at)
VALUES ($1, 'new', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, 1, $14, $15, $16, $17,
    $18, $19, $20, $21, $21)
RETURNING number"""
_INSERT_FIRST_CONTACT = """
INSERT INTO ticketing.contact (id, ticket_id, direction, channel, occurred_at, summary, actor,
    initial)
VALUES ($1, $2, 'inbound', $3, $4, $5, $6, true)"""
# A CTE of append_event_raw's statement: $1 is the ticket id, $2 the time, $6 the actor.
_FIRST_STATUS_CHANGE = """status_change AS (
    INSERT INTO ticketing.status_change (ticket_id, from_status, to_status, actor, reason, at)
    VALUES ($1, NULL, 'new', $6, 'created', $2))"""


async def create_ticket(
    session: AsyncSession,
    cmd: NewTicket,
    *,
    resolve_sla: SlaResolver,
    clock: Clock,
    actor: str = "system",
    team: str = "",
) -> Ticket:
    """Open a ticket: its creating contact, first status, routing and `ticket.created` event
    are written in the caller's one transaction."""
    now = clock.now()
    validate_new_ticket(cmd, now)
    actor = _actor(actor)
    team = _text("team", team, hi=64)
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
        team=team,
        created_by=actor,
        first_contact_at=first_contact_at,
        created_at=now,
        updated_at=now,
    )
    routed = await pick_specialist(session, team) if is_high_risk(ticket) else None
    if routed is not None:
        ticket.assignee_id = routed.id
        ticket.assignee_name = routed.name
        ticket.assignee_skill_level = routed.skill_level
        ticket.team = team or routed.team
    # The rows go in on the driver connection (three statements, no ORM unit of work: ~0.1 ms
    # of CPU per ORM statement is more than a round trip). The order is the ORM's: ticket,
    # then its contact, then its first status change with the event, because the report
    # triggers (migration 0007) count a ticket's inbound contacts when its fact rows appear.
    conn = await driver_connection(session)
    ticket.number = await conn.fetchval(
        _INSERT_TICKET, ticket.id, ticket.customer_id, ticket.customer_name, ticket.customer_tier,
        ticket.customer_sensitive, ticket.customer_phone, ticket.customer_email, ticket.channel,
        ticket.severity, ticket.category, ticket.subject, ticket.description, ticket.tags,
        json.dumps(sla), ticket.assignee_id, ticket.assignee_name, ticket.assignee_skill_level,
        ticket.team, actor, first_contact_at, now,
    )
    await conn.execute(_INSERT_FIRST_CONTACT, uuid.uuid4(), ticket.id, cmd.channel,
                       first_contact_at, ticket.subject[:2000], actor)
    if routed is not None:
        session.add(
            Assignment(
                ticket_id=ticket.id, assignee_id=routed.id, team=ticket.team, actor="routing",
                reason="high-risk ticket routed to a senior specialist", at=now,
            )
        )
        await session.flush()
    body = ticketing_pb2.Event(
        number=ticket.number, version=ticket.version, status=ticketing_pb2.TICKET_STATUS_NEW,
        created=ticketing_pb2.TicketCreated(
            customer_id=ticket.customer_id,
            customer_tier=_enum(types_pb2.CustomerTier, ticket.customer_tier),
            customer_sensitive=ticket.customer_sensitive,
            channel=_enum(types_pb2.Channel, ticket.channel),
            severity=_enum(types_pb2.Severity, ticket.severity),
            category=ticket.category,
            team=ticket.team,
            assignee_id=ticket.assignee_id or "",
            first_contact_at=to_timestamp(first_contact_at),
            sla=sla_snapshot(sla),
            created_by=actor,
        ),
    )
    await append_event_raw(
        conn, ticket_id=ticket.id, occurred_at=now, body=body,
        with_statement=_FIRST_STATUS_CHANGE, params=(actor,),
    )
    return ticket


# --- change ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketChanges:
    subject: str | None = None
    description: str | None = None
    severity: str | None = None
    category: str | None = None
    tags: tuple[str, ...] | None = None
    customer_tier: str | None = None
    customer_sensitive: bool | None = None


# What the escalation matrix reads (DOMAIN.md §2): a change of any of these re-resolves the SLA.
CLASSIFICATION = ("severity", "customer_tier", "customer_sensitive")


async def update_ticket(
    session: AsyncSession,
    ticket_id: str,
    changes: TicketChanges,
    *,
    expected_version: int,
    actor: str,
    clock: Clock,
) -> Ticket:
    actor = _actor(actor)
    if changes.subject is not None:
        _require_length("subject", changes.subject.strip(), lo=1, hi=300)
    if changes.description is not None:
        _require_length("description", changes.description, lo=0, hi=20_000)
    if changes.severity is not None and changes.severity not in SEVERITIES:
        raise InvalidArgument(
            f"severity must be one of {', '.join(SEVERITIES)}", code="invalid_severity"
        )
    if changes.category is not None and changes.category not in CATEGORIES:
        raise InvalidArgument(
            f"category must be one of {', '.join(CATEGORIES)}", code="invalid_category"
        )
    if changes.tags is not None:
        if len(changes.tags) > 20:
            raise InvalidArgument("at most 20 tags", code="invalid_tags")
        for i, tag in enumerate(changes.tags):
            _require_length(f"tags[{i}]", tag.strip(), lo=1, hi=50)
    if changes.customer_tier is not None and changes.customer_tier not in TIERS:
        raise InvalidArgument(f"customer_tier must be one of {', '.join(TIERS)}", code="invalid_tier")
    ticket = await lock_ticket(session, ticket_id, expected_version)
    now = clock.now()
    changed: dict[str, Any] = {}
    if changes.customer_sensitive is not None and ticket.channel == "regulator" and not changes.customer_sensitive:
        raise InvalidArgument("a complaint forwarded by a regulator is always high risk",
                              code="invalid_customer_sensitive")
    for name in ("subject", "description", "severity", "category", "customer_tier", "customer_sensitive"):
        value = getattr(changes, name)
        if value is not None:
            value = value.strip() if name == "subject" else value
            if value != getattr(ticket, name):
                changed[name] = value
                setattr(ticket, name, value)
    if changes.tags is not None:
        tags = sorted({t.strip() for t in changes.tags})
        if tags != ticket.tags:
            changed["tags"] = tags
            ticket.tags = tags
    if not changed:
        return ticket  # nothing to do: no new version, no event
    _touch(ticket, now)
    await session.flush()
    classification = None
    if any(name in changed for name in CLASSIFICATION):  # escalation re-resolves the matrix from it
        classification = ticketing_pb2.TicketClassification(
            severity=_enum(types_pb2.Severity, ticket.severity),
            customer_tier=_enum(types_pb2.CustomerTier, ticket.customer_tier),
            customer_sensitive=ticket.customer_sensitive, channel=_enum(types_pb2.Channel, ticket.channel))
    await _event(session, ticket, now, updated=ticketing_pb2.TicketUpdated(
        actor=actor, changes=_changes_message(changed), classification=classification))
    return ticket


async def assign_ticket(
    session: AsyncSession,
    ticket_id: str,
    *,
    assignee_id: str,
    team: str,
    reason: str,
    expected_version: int,
    actor: str,
    clock: Clock,
) -> Ticket:
    actor = _actor(actor)
    reason = _text("reason", reason, hi=1000)
    team = _text("team", team, hi=64)
    agent = None
    if assignee_id:
        agent = await session.get(Agent, assignee_id)
        if agent is None or not agent.active:
            raise FailedPrecondition(
                f"agent {assignee_id!r} is not a known active agent", code="unknown_assignee"
            )
    ticket = await lock_ticket(session, ticket_id, expected_version)
    if ticket.status in DONE:
        raise FailedPrecondition(
            f"ticket is {ticket.status}; reopen it before assigning", code="invalid_transition"
        )
    now = clock.now()
    ticket.assignee_id = agent.id if agent else None
    ticket.assignee_name = agent.name if agent else ""
    ticket.assignee_skill_level = agent.skill_level if agent else 0
    ticket.team = team or (agent.team if agent else ticket.team)
    _touch(ticket, now)
    session.add(
        Assignment(
            ticket_id=ticket.id, assignee_id=ticket.assignee_id, team=ticket.team,
            actor=actor, reason=reason, at=now,
        )
    )
    await session.flush()
    await _event(session, ticket, now, assigned=ticketing_pb2.TicketAssigned(
        actor=actor, assignee_id=ticket.assignee_id or "", team=ticket.team, reason=reason,
    ))
    return ticket


async def transition_ticket(
    session: AsyncSession,
    ticket_id: str,
    action: str | None,
    *,
    reason: str,
    expected_version: int,
    actor: str,
    clock: Clock,
) -> Ticket:
    if action not in TRANSITIONS:
        raise InvalidArgument(
            f"action must be one of {', '.join(TRANSITIONS)}", code="invalid_action"
        )
    actor = _actor(actor)
    reason = _text("reason", reason, hi=1000)
    allowed_from, to_status, event_action = TRANSITIONS[action]
    ticket = await lock_ticket(session, ticket_id, expected_version)
    if ticket.status not in allowed_from:
        raise FailedPrecondition(
            f"cannot {action} a ticket that is {ticket.status} "
            f"(allowed from: {', '.join(sorted(allowed_from))})",
            code="invalid_transition",
        )
    now = clock.now()
    from_status = ticket.status
    await _record_status(session, ticket, to_status, actor=actor, reason=reason, now=now)
    if to_status == "resolved":
        ticket.resolved_at = now
    elif to_status == "closed":
        ticket.closed_at = now
    _touch(ticket, now)
    await session.flush()
    await _event(session, ticket, now, status_changed=ticketing_pb2.StatusChanged(
        action=str_to_enum(ticketing_pb2.StatusAction, event_action),
        from_status=str_to_enum(ticketing_pb2.TicketStatus, from_status),
        to_status=str_to_enum(ticketing_pb2.TicketStatus, to_status), actor=actor, reason=reason,
    ))
    return ticket


async def reopen_ticket(
    session: AsyncSession,
    ticket_id: str,
    *,
    reason: str,
    contact_channel: str | None,
    contact_summary: str,
    expected_version: int,
    actor: str,
    clock: Clock,
) -> Ticket:
    """Reactivate a resolved or closed ticket: the same ticket, reopen_count + 1, history kept.

    With a contact channel, the customer's contact that brought the problem back is logged too.
    """
    actor = _actor(actor)
    reason = _text("reason", reason, hi=1000)
    contact_summary = _text("contact_summary", contact_summary, hi=2000)
    if contact_channel is not None and contact_channel not in CHANNELS:
        raise InvalidArgument(
            f"contact_channel must be one of {', '.join(CHANNELS)}", code="invalid_channel"
        )
    ticket = await lock_ticket(session, ticket_id, expected_version)
    if ticket.status not in DONE:
        raise FailedPrecondition(
            f"only a resolved or closed ticket can be reopened; this one is {ticket.status}",
            code="invalid_transition",
        )
    now = clock.now()
    from_status = ticket.status
    await _record_status(session, ticket, "reopened", actor=actor, reason=reason, now=now)
    ticket.reopen_count += 1
    ticket.resolved_at = None
    ticket.closed_at = None
    _touch(ticket, now)
    contact = None
    if contact_channel is not None:
        contact = Contact(
            ticket_id=ticket.id, direction="inbound", channel=contact_channel,
            occurred_at=now, summary=contact_summary, actor=actor,
        )
        session.add(contact)
    await session.flush()
    await _event(session, ticket, now, status_changed=ticketing_pb2.StatusChanged(
        action=ticketing_pb2.STATUS_ACTION_REOPENED,
        from_status=str_to_enum(ticketing_pb2.TicketStatus, from_status),
        to_status=ticketing_pb2.TICKET_STATUS_REOPENED, actor=actor, reason=reason,
        reopen_count=ticket.reopen_count,
    ))
    if contact is not None:  # after the reopen: the contact belongs to the new cycle
        await _contact_event(session, ticket, contact, now)
    return ticket


async def find_reopen_candidates(
    conn: Any,
    *,
    customer_id: str,
    category: str,
    window: timedelta,
    clock: Clock,
    limit: int = 5,
) -> list[Any]:
    """Resolved or closed tickets of this customer (and category) finished within `window`,
    most recent first: what the agent should reopen instead of opening a duplicate. One
    statement on an asyncpg connection (`Database.reader`; every create asks this); the
    tickets are read-only rows as `read_ticket` gives them."""
    customer_id = _text("customer_id", customer_id, hi=128, required=True)
    if category and category not in CATEGORIES:
        raise InvalidArgument(
            f"category must be one of {', '.join(CATEGORIES)}", code="invalid_category"
        )
    if not timedelta(0) < window <= timedelta(days=365):
        raise InvalidArgument("window_days must be 1..365", code="invalid_window")
    rows = await conn.fetch(_REOPEN_CANDIDATES, customer_id, list(DONE), clock.now() - window,
                            category, limit)
    return [SimpleNamespace(**dict(row.items())) for row in rows]


_REOPEN_CANDIDATES = f"""SELECT {', '.join(Ticket.model_fields)} FROM ticketing.ticket
WHERE customer_id = $1 AND status = ANY($2::text[]) AND coalesce(closed_at, resolved_at) >= $3
  AND ($4 = '' OR category = $4)
ORDER BY coalesce(closed_at, resolved_at) DESC, number DESC LIMIT $5"""


# --- contacts, progress, notes, views -------------------------------------------------------


async def _ticket_for_child(session: AsyncSession, ticket_id: str) -> Ticket:
    # Children (contacts, progress, notes, views) do not change the ticket's version, but they
    # take a share lock so the ticket cannot vanish under them.
    stmt = select(Ticket).where(col(Ticket.id) == _uuid(ticket_id)).with_for_update(key_share=True)
    ticket = (await session.exec(stmt)).first()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} not found", code="ticket_not_found")
    return ticket


def _mark_first_response(ticket: Ticket, at: datetime) -> None:
    """An agent's first customer-visible answer (progress entry or outbound contact).

    A derived timestamp, like the children it comes from: it does not bump the version, so an
    agent's first progress entry never makes their next conditional edit fail."""
    if ticket.first_response_at is None:
        ticket.first_response_at = at


async def log_contact(
    session: AsyncSession,
    ticket_id: str,
    *,
    direction: str | None,
    channel: str | None,
    occurred_at: datetime | None,
    summary: str,
    actor: str,
    clock: Clock,
) -> Contact:
    """Log a touch. Contacts never start, restart or extend an SLA clock."""
    if direction not in ("inbound", "outbound"):
        raise InvalidArgument("direction must be inbound or outbound", code="invalid_direction")
    if channel not in CHANNELS:
        raise InvalidArgument(f"channel must be one of {', '.join(CHANNELS)}", code="invalid_channel")
    actor = _actor(actor)
    summary = _text("summary", summary, hi=2000)
    now = clock.now()
    at = occurred_at or now
    _not_future("occurred_at", at, now)
    ticket = await _ticket_for_child(session, ticket_id)
    contact = Contact(
        ticket_id=ticket.id, direction=direction, channel=channel, occurred_at=at,
        summary=summary, actor=actor,
    )
    session.add(contact)
    if direction == "outbound":
        _mark_first_response(ticket, now)
    await session.flush()
    await _contact_event(session, ticket, contact, now)
    return contact


async def _contact_event(session: AsyncSession, ticket: Ticket, contact: Contact, now: datetime) -> None:
    """`ticket.contact_logged` for a logged contact (LogContact, or the contact of a reopen)."""
    await _event(session, ticket, now, contact_logged=ticketing_pb2.ContactLogged(
        contact_id=str(contact.id), direction=str_to_enum(ticketing_pb2.ContactDirection, contact.direction),
        channel=_enum(types_pb2.Channel, contact.channel), occurred_at=to_timestamp(contact.occurred_at),
        proactive=contact.direction == "inbound",
    ))


@dataclass(frozen=True)
class NewProgress:
    text: str
    next_step: str = ""
    promised_at: datetime | None = None
    owner_name: str = ""
    owner_direct_line: str = ""


async def add_progress(
    session: AsyncSession, ticket_id: str, entry: NewProgress, *, actor: str, clock: Clock
) -> ProgressEntry:
    """A customer-visible progress entry (what is done, next step, promise, owner)."""
    actor = _actor(actor)
    _text("text", entry.text, hi=4000, required=True)
    _text("next_step", entry.next_step, hi=1000)
    _text("owner_name", entry.owner_name, hi=200)
    if entry.owner_direct_line and not _PHONE.match(entry.owner_direct_line):
        raise InvalidArgument("owner_direct_line is not a phone number", code="invalid_direct_line")
    now = clock.now()
    ticket = await _ticket_for_child(session, ticket_id)
    progress = ProgressEntry(
        ticket_id=ticket.id,
        text=entry.text.strip(),
        next_step=entry.next_step,
        promised_at=entry.promised_at,
        owner_name=entry.owner_name or ticket.assignee_name,
        owner_direct_line=entry.owner_direct_line,
        actor=actor,
        created_at=now,
    )
    session.add(progress)
    _mark_first_response(ticket, now)
    await session.flush()
    await _event(session, ticket, now, progress_added=ticketing_pb2.ProgressAdded(
        progress_id=str(progress.id),
        promised_at=to_timestamp(entry.promised_at) if entry.promised_at else None,
        actor=actor,
    ))
    return progress


async def add_note(
    session: AsyncSession, ticket_id: str, text_: str, *, actor: str, clock: Clock
) -> Note:
    """An internal note: never part of a customer-visible read, and no event leaves with it."""
    actor = _actor(actor)
    body = _text("text", text_, hi=10_000, required=True)
    ticket = await _ticket_for_child(session, ticket_id)
    note = Note(ticket_id=ticket.id, text=body, actor=actor, created_at=clock.now())
    session.add(note)
    await session.flush()
    return note


def _check_owner(ticket_id: str, owner: str, customer_id: str) -> None:
    """When a customer is named, another customer's ticket is reported exactly like a missing
    one, so ids are never confirmed."""
    if customer_id and owner != customer_id:
        raise NotFound(f"ticket {ticket_id} not found", code="ticket_not_found")


@dataclass(frozen=True)
class ProgressStamp:
    """Changes whenever the customer's view may have: the row's version or its progress count."""

    ticket_version: int
    progress_count: int


async def _progress_count(session: AsyncSession, ticket_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(ProgressEntry).where(col(ProgressEntry.ticket_id) == ticket_id)
    return int((await session.exec(stmt)).one())


async def progress_stamp(session: AsyncSession, ticket_id: str, *, customer_id: str = "") -> ProgressStamp:
    """The cheap "has it changed?" read behind conditional progress reads: the ticket's version
    and owner (one indexed row, three columns) and the count of its progress entries."""
    stmt = select(Ticket.version, Ticket.customer_id).where(col(Ticket.id) == _uuid(ticket_id))
    row = (await session.exec(stmt)).first()
    if row is None:
        raise NotFound(f"ticket {ticket_id} not found", code="ticket_not_found")
    _check_owner(ticket_id, row[1], customer_id)
    return ProgressStamp(int(row[0]), await _progress_count(session, _uuid(ticket_id)))


@dataclass(frozen=True)
class ViewRecorded:
    view_count: int
    views_last_hour: int
    stamp: ProgressStamp
    sequence: int


MAX_VIEWS_PER_CALL = 10_000


async def record_progress_view(
    session: AsyncSession,
    ticket_id: str,
    *,
    viewer: str,
    clock: Clock,
    customer_id: str = "",
    count: int = 1,
) -> ViewRecorded:
    """Count `count` fetches of the progress by the customer's app (totals, the
    customer-visible stamp at this view, and the sequence of the event it wrote)."""
    viewer = _text("viewer", viewer, hi=128)
    if not 1 <= count <= MAX_VIEWS_PER_CALL:
        raise InvalidArgument(f"count must be 1..{MAX_VIEWS_PER_CALL}", code="invalid_count")
    now = clock.now()
    ticket = await _ticket_for_child(session, ticket_id)
    _check_owner(ticket_id, ticket.customer_id, customer_id)
    session.add_all([ProgressView(ticket_id=ticket.id, viewer=viewer, viewed_at=now) for _ in range(count)])
    await session.flush()
    counts = select(
        func.count(),
        func.count().filter(col(ProgressView.viewed_at) > now - timedelta(hours=1)),
    ).where(col(ProgressView.ticket_id) == ticket.id)
    total, last_hour = (await session.exec(counts)).one()
    event = await _event(session, ticket, now, progress_viewed=ticketing_pb2.ProgressViewed(
        viewer=viewer, view_count=total, views_last_hour=last_hour,
    ))
    stamp = ProgressStamp(ticket.version, await _progress_count(session, ticket.id))
    return ViewRecorded(int(total), int(last_hour), stamp, int(event.sequence or 0))


# --- reads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFilter:
    statuses: tuple[str, ...] = ()
    customer_id: str = ""
    assignee_id: str = ""
    team: str = ""
    category: str = ""
    channel: str | None = None
    severity: str | None = None
    updated_since: datetime | None = None
    created_by: str = ""
    text: str = ""  # search.py


def _decode_cursor(token: str) -> int | None:
    if not token:
        return None
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("page_token is not valid", code="invalid_page_token") from None


def _encode_cursor(number: int) -> str:
    return base64.urlsafe_b64encode(str(number).encode()).decode()


def cursor_after(ticket: Ticket) -> str:
    """The page token of the page that follows `ticket` in `list_tickets`' order."""
    return _encode_cursor(ticket.number or 0)


async def list_tickets(
    session: AsyncSession, filters: TicketFilter, *, page_size: int, page_token: str
) -> tuple[list[Ticket], str]:
    """Newest first (by ticket number), keyset-paginated: stable under concurrent inserts."""
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be 1..{MAX_PAGE_SIZE}", code="invalid_page_size")
    size = page_size or 50
    for status in filters.statuses:
        if status not in STATUSES:
            raise InvalidArgument(f"unknown status {status!r}", code="invalid_status")
    stmt = select(Ticket)
    if filters.statuses:
        stmt = stmt.where(col(Ticket.status).in_(filters.statuses))
    for name in ("customer_id", "assignee_id", "team", "category", "created_by"):
        value = getattr(filters, name)
        if value:
            stmt = stmt.where(getattr(Ticket, name) == value)
    if filters.channel:
        stmt = stmt.where(col(Ticket.channel) == filters.channel)
    if filters.severity:
        stmt = stmt.where(col(Ticket.severity) == filters.severity)
    if filters.updated_since is not None:
        stmt = stmt.where(col(Ticket.updated_at) >= filters.updated_since)
    if filters.text and (condition := search.matching(filters.text)) is not None:
        stmt = stmt.where(condition)
    after = _decode_cursor(page_token)
    if after is not None:
        stmt = stmt.where(col(Ticket.number) < after)
    stmt = stmt.order_by(col(Ticket.number).desc()).limit(size + 1)
    rows = list((await session.exec(stmt)).all())
    more = len(rows) > size
    rows = rows[:size]
    return rows, _encode_cursor(rows[-1].number or 0) if more else ""


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # status_changed | assigned | contact | progress | note
    actor: str
    item: StatusChange | Assignment | Contact | ProgressEntry | Note


async def timeline(
    session: AsyncSession, ticket_id: str, *, include_internal: bool
) -> tuple[Ticket, list[TimelineItem]]:
    """Everything that happened to a ticket, oldest first. Without include_internal only
    what the customer may see: status changes and progress entries (never notes, contacts
    or assignments)."""
    ticket = await get_ticket(session, ticket_id)

    async def rows(model: Any) -> list[Any]:
        stmt = select(model).where(model.ticket_id == ticket.id)
        return list((await session.exec(stmt)).all())

    if not include_internal:
        # The customer sees what happened and who owns it (progress carries the owner's name
        # and direct line), not staff ids or internal reasons.
        items = [
            TimelineItem(s.at, "status_changed", "", StatusChange(
                ticket_id=s.ticket_id, from_status=s.from_status, to_status=s.to_status, at=s.at,
                actor="", reason="",
            ))
            for s in await rows(StatusChange)
        ]
        items += [
            TimelineItem(p.created_at, "progress", "", ProgressEntry(**{**p.model_dump(), "actor": ""}))
            for p in await rows(ProgressEntry)
        ]
    else:
        items = [TimelineItem(s.at, "status_changed", s.actor, s) for s in await rows(StatusChange)]
        items += [TimelineItem(p.created_at, "progress", p.actor, p) for p in await rows(ProgressEntry)]
        items += [TimelineItem(c.occurred_at, "contact", c.actor, c) for c in await rows(Contact)]
        items += [TimelineItem(n.created_at, "note", n.actor, n) for n in await rows(Note)]
        items += [TimelineItem(a.at, "assigned", a.actor, a) for a in await rows(Assignment)]
    items.sort(key=lambda i: i.at)
    return ticket, items


# --- roster ---------------------------------------------------------------------------------


async def upsert_agent(session: AsyncSession, agent: Agent, *, clock: Clock) -> Agent:
    _text("agent.id", agent.id, hi=64, required=True)
    _text("agent.name", agent.name, hi=200, required=True)
    _text("agent.team", agent.team, hi=64)
    if not 1 <= agent.skill_level <= 5:
        raise InvalidArgument("agent.skill_level must be 1..5", code="invalid_skill_level")
    if agent.direct_line and not _PHONE.match(agent.direct_line):
        raise InvalidArgument("agent.direct_line is not a phone number", code="invalid_direct_line")
    agent.updated_at = clock.now()
    merged = await session.merge(agent)
    await session.flush()
    return merged


async def list_agents(session: AsyncSession, *, team: str) -> list[Agent]:
    stmt = select(Agent).order_by(col(Agent.id))
    if team:
        stmt = stmt.where(col(Agent.team) == team)
    return list((await session.exec(stmt)).all())
