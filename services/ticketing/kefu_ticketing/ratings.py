"""Customer satisfaction (DOMAIN.md §4 CSAT / NPS): ratings of a resolved ticket's cycle, and
the CSAT report. The only module that writes `ticketing.rating`. Session first, flush only.

Rules (each is a test in tests/integration/test_ticketing_ratings.py):

* **Only a resolved (or closed) ticket** is rated; anything else is FAILED_PRECONDITION
  `ticket_not_resolved`. The rating belongs to the ticket's current cycle
  (`reopen_count + 1`): a reopened and again resolved ticket is rated afresh.
* **Once per cycle, latest counts**: the first rating of a cycle is revision 1; a different
  rating of the same cycle within the change window (`change_window`, counted from the
  cycle's first rating) is the next revision, and the highest revision is the cycle's
  rating (flagged `latest`, which the reports read). After the window: FAILED_PRECONDITION
  `rating_window_closed`.
* **Idempotent**: sending the cycle's latest rating again (same score, NPS, comment, source,
  rater) returns it and writes nothing, so a retry without a request id is safe too.
* **Who**: a customer rates only their own case, a partner only a ticket it created (the
  caller names them: `customer_id` / `created_by`); another's ticket is NOT_FOUND like a
  missing one.
* **Dissatisfied** (score at or below `dissatisfied_max_score`, default 2): the rating's
  `ticket.rated` event says so; the escalation service proposes a reopen and records the
  signal (docs/events.md). Every rating, satisfied or not, is a `ticket.rated` event.

CSAT report (`csat_report`): per span of a report plan (kefu_common.periods) and group, the
ticket cycles whose *latest* rating was given in that span: `ratings`, `satisfied` (score 4
or 5), `nps_responses`, `promoters` (9-10), `detractors` (0-6), `score_sum`. CSAT =
satisfied ÷ ratings; NPS = (promoters − detractors) ÷ nps_responses × 100. Grouped by the
ticket's team / assignee / category / channel at the time of the rating.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common import keyset
from kefu_common.clock import Clock
from kefu_common.errors import FailedPrecondition, InvalidArgument, NotFound
from kefu_common.periods import Plan
from kefu_common.logging import get_logger
from kefu_common.timestamps import rfc3339
from kefu_ticketing import service
from kefu_ticketing.models import Rating, Ticket

log = get_logger("kefu.ticketing.ratings")

SOURCES = ("customer", "partner")
SATISFIED_MIN_SCORE = 4  # CSAT counts 4 and 5
PROMOTER_MIN, DETRACTOR_MAX = 9, 6
MAX_COMMENT_CHARS = 1000
# As in metrics.py: an empty team or assignee is grouped as "unassigned".
GROUP_COLUMNS = {"none": "''", "team": "coalesce(nullif(l.team, ''), 'unassigned')",
                 "agent": "coalesce(nullif(l.agent_id, ''), 'unassigned')", "category": "l.category",
                 "channel": "l.channel"}


@dataclass(frozen=True)
class RatingPolicy:
    change_window: timedelta = timedelta(days=7)
    dissatisfied_max_score: int = 2


@dataclass(frozen=True)
class NewRating:
    score: int
    nps: int | None
    comment: str
    source: str
    rater: str


def validate(new: NewRating) -> None:
    if not 1 <= new.score <= 5:
        raise InvalidArgument("score must be 1..5", code="invalid_score")
    if new.nps is not None and not 0 <= new.nps <= 10:
        raise InvalidArgument("nps must be 0..10", code="invalid_nps")
    if len(new.comment) > MAX_COMMENT_CHARS:
        raise InvalidArgument(f"comment is longer than {MAX_COMMENT_CHARS} characters", code="invalid_comment")
    if new.source not in SOURCES:
        raise InvalidArgument(f"source must be one of {', '.join(SOURCES)}", code="invalid_source")
    if not new.rater.strip() or len(new.rater) > 128:
        raise InvalidArgument("rater is required (1..128 characters)", code="invalid_rater")


def _check_caller(ticket_id: str, ticket: Ticket, *, customer_id: str, created_by: str) -> None:
    """Another customer's or creator's ticket is reported exactly like a missing one."""
    if (customer_id and ticket.customer_id != customer_id) or (created_by and ticket.created_by != created_by):
        raise NotFound(f"ticket {ticket_id} not found", code="ticket_not_found")


def changeable_until(ratings: list[Rating], policy: RatingPolicy) -> datetime | None:
    """Until when a cycle with these ratings (oldest first) may be rated again."""
    return ratings[0].created_at + policy.change_window if ratings else None


async def _cycle_ratings(session: AsyncSession, ticket: Ticket, cycle: int) -> list[Rating]:
    stmt = (
        select(Rating)
        .where(col(Rating.ticket_id) == ticket.id, col(Rating.cycle) == cycle)
        .order_by(col(Rating.revision))
    )
    return list((await session.exec(stmt)).all())


def _same(rating: Rating, new: NewRating) -> bool:
    return (rating.score, rating.nps, rating.comment, rating.source, rating.rater) == (
        new.score, new.nps, new.comment, new.source, new.rater)


async def rate_ticket(
    session: AsyncSession,
    ticket_id: str,
    new: NewRating,
    *,
    policy: RatingPolicy,
    clock: Clock,
    customer_id: str = "",
    created_by: str = "",
) -> tuple[Rating, datetime]:
    """Rate the ticket's current cycle; returns the rating that counts and until when the
    cycle's rating may still change."""
    validate(new)
    # Locked like a transition: the cycle cannot be reopened under a rating, and two ratings
    # of one cycle take their revision numbers in turn.
    ticket = await service.lock_ticket(session, ticket_id, 0)
    _check_caller(ticket_id, ticket, customer_id=customer_id, created_by=created_by)
    if ticket.status not in service.DONE:
        raise FailedPrecondition(
            f"only a resolved or closed ticket can be rated; this one is {ticket.status}",
            code="ticket_not_resolved",
        )
    cycle = ticket.reopen_count + 1
    earlier = await _cycle_ratings(session, ticket, cycle)
    now = clock.now()
    if earlier:
        until = changeable_until(earlier, policy)
        assert until is not None
        if _same(earlier[-1], new):
            return earlier[-1], until  # a retry: nothing new
        if now > until:
            raise FailedPrecondition(
                f"this cycle was rated on {rfc3339(earlier[0].created_at)}; a rating may be changed "
                f"for {policy.change_window.days} days, until {rfc3339(until)}",
                code="rating_window_closed",
            )
    if earlier:  # one latest per cycle (a partial unique index): clear it before the insert
        earlier[-1].latest = False
        await session.flush()
    rating = Rating(
        ticket_id=ticket.id, cycle=cycle, revision=len(earlier) + 1, score=new.score, nps=new.nps,
        comment=new.comment, source=new.source, rater=new.rater,
        dissatisfied=new.score <= policy.dissatisfied_max_score, team=ticket.team or "",
        agent_id=ticket.assignee_id or "", category=ticket.category, channel=ticket.channel, created_at=now,
    )
    session.add(rating)
    await session.flush()
    await service.append_ticket_event(session, ticket, now, rated=ticketing_pb2.TicketRated(
        rating_id=str(rating.id), cycle=cycle, revision=rating.revision, score=rating.score, nps=rating.nps,
        source=rating.source, dissatisfied=rating.dissatisfied,
    ))
    log.info("ticket_rated", ticket_id=str(ticket.id), cycle=cycle, revision=rating.revision,
             score=rating.score, source=rating.source, dissatisfied=rating.dissatisfied)
    return rating, changeable_until(earlier or [rating], policy) or now


async def list_ratings(
    session: AsyncSession, ticket_id: str, *, customer_id: str = "", created_by: str = ""
) -> list[Rating]:
    """Every revision of every cycle of the ticket, oldest first."""
    ticket = await service.get_ticket(session, ticket_id)
    _check_caller(ticket_id, ticket, customer_id=customer_id, created_by=created_by)
    stmt = (
        select(Rating)
        .where(col(Rating.ticket_id) == ticket.id)
        .order_by(col(Rating.cycle), col(Rating.revision))
    )
    return list((await session.exec(stmt)).all())


@dataclass(frozen=True)
class RatingFilter:
    team: str = ""
    agent_id: str = ""
    category: str = ""
    channel: str = ""
    min_score: int = 0
    max_score: int = 0
    start: datetime | None = None
    end: datetime | None = None


DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 500


async def list_latest(
    session: AsyncSession, f: RatingFilter, *, policy: RatingPolicy, page_size: int = 0, page_token: str = ""
) -> tuple[list[tuple[Rating, datetime]], str]:
    """The ratings that count (each cycle's latest), newest first (created_at, id), with until
    when each may still change; keyset-paginated."""
    size = page_size or DEFAULT_PAGE_SIZE
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be 1..{MAX_PAGE_SIZE}", code="invalid_page_size")
    if f.min_score and f.max_score and f.min_score > f.max_score:
        raise InvalidArgument("min_score is above max_score", code="invalid_score_range")
    stmt = select(Rating).where(col(Rating.latest))
    for name in ("team", "agent_id", "category", "channel"):
        if getattr(f, name):
            stmt = stmt.where(getattr(Rating, name) == getattr(f, name))
    if f.min_score:
        stmt = stmt.where(col(Rating.score) >= f.min_score)
    if f.max_score:
        stmt = stmt.where(col(Rating.score) <= f.max_score)
    if f.start is not None:
        stmt = stmt.where(col(Rating.created_at) >= f.start)
    if f.end is not None:
        stmt = stmt.where(col(Rating.created_at) < f.end)
    after = keyset.decode(page_token, datetime, uuid.UUID)
    if after is not None:
        stmt = stmt.where(tuple_(col(Rating.created_at), col(Rating.id)) < tuple_(*after))
    stmt = stmt.order_by(col(Rating.created_at).desc(), col(Rating.id).desc()).limit(size + 1)
    rows = list((await session.exec(stmt)).all())
    page, more = rows[:size], len(rows) > size
    # A cycle's window counts from its first revision.
    firsts: dict[tuple[uuid.UUID, int], datetime] = {}
    changed = [r for r in page if r.revision > 1]
    if changed:
        found = (await session.exec(text(  # type: ignore[call-overload]
            "SELECT ticket_id, cycle, created_at FROM ticketing.rating WHERE revision = 1 "
            "AND ticket_id = ANY(:ids)"), params={"ids": [r.ticket_id for r in changed]})).all()
        firsts = {(x.ticket_id, x.cycle): x.created_at for x in found}
    out = [(r, firsts.get((r.ticket_id, r.cycle), r.created_at) + policy.change_window) for r in page]
    return out, keyset.encode(page[-1].created_at, page[-1].id) if more else ""


async def reopen_proposed(conn: Any, tickets: list[Any]) -> set[uuid.UUID]:
    """Those of `tickets` whose current cycle's rating (its latest revision) is dissatisfied
    (on an asyncpg connection, as `service.find_reopen_candidates` reads them)."""
    if not tickets:
        return set()
    rows = await conn.fetch(
        "SELECT r.ticket_id, r.cycle, r.dissatisfied FROM ticketing.rating r "
        "WHERE r.latest AND r.ticket_id = ANY($1::uuid[])", [t.id for t in tickets])
    current = {t.id: t.reopen_count + 1 for t in tickets}
    return {r["ticket_id"] for r in rows if r["dissatisfied"] and current.get(r["ticket_id"]) == r["cycle"]}


@dataclass(frozen=True)
class CsatRow:
    group: str
    bucket: int
    previous: bool
    ratings: int
    satisfied: int
    nps_responses: int
    promoters: int
    detractors: int
    score_sum: int


async def csat_report(session: AsyncSession, plan: Plan, *, group_by: str = "none") -> list[CsatRow]:
    """The figures of every span of `plan` that holds ratings (see the module doc).

    Every span of a plan is a run of whole local days of its zone, so one GROUP BY over (group,
    local day) — the cost of a bare `date_trunc` count over the same rows — gives figures that
    are summed into each bucket and its previous span here, exactly."""
    if group_by not in GROUP_COLUMNS:
        raise InvalidArgument(f"group_by must be one of {', '.join(GROUP_COLUMNS)}", code="invalid_group_by")
    lo, hi = plan.utc_bounds()
    sql = f"""
        SELECT {GROUP_COLUMNS[group_by]} AS grp, (l.created_at AT TIME ZONE :tz)::date AS day,
               count(*) AS ratings,
               count(*) FILTER (WHERE l.score >= {SATISFIED_MIN_SCORE}) AS satisfied,
               count(l.nps) AS nps_responses,
               count(*) FILTER (WHERE l.nps >= {PROMOTER_MIN}) AS promoters,
               count(*) FILTER (WHERE l.nps <= {DETRACTOR_MAX}) AS detractors,
               coalesce(sum(l.score), 0) AS score_sum
        FROM ticketing.rating l
        WHERE l.latest AND l.created_at >= :lo AND l.created_at < :hi
        GROUP BY 1, 2
    """
    rows = (await session.exec(text(sql), params={"lo": lo, "hi": hi, "tz": plan.tz_name})).all()  # type: ignore[call-overload]
    days: dict[str, dict[date, tuple[int, ...]]] = {}
    for r in rows:
        days.setdefault(r.grp or "", {})[r.day] = (
            int(r.ratings), int(r.satisfied), int(r.nps_responses), int(r.promoters), int(r.detractors),
            int(r.score_sum))
    out: list[CsatRow] = []
    for group in sorted(days):
        by_day = days[group]
        for index, previous, span in plan.spans():
            inside = [f for f in (by_day.get(span.start + timedelta(days=k)) for k in range(span.days)) if f]
            if inside:
                out.append(CsatRow(group, index, previous, *(sum(col) for col in zip(*inside, strict=True))))
    return out
