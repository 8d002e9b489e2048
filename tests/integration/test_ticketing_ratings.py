"""Customer satisfaction (DOMAIN.md §4 CSAT / NPS) in the ticketing service: the rules of
ratings (kefu_ticketing/ratings.py) over real PostgreSQL, with an injected clock, and the
RateTicket RPC's idempotency over a real gRPC stub."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from sqlalchemy import text

from kefu.escalation.v1 import escalation_pb2_grpc
from kefu.ticketing.v1 import ticketing_pb2 as pb
from kefu.ticketing.v1 import ticketing_pb2_grpc
from kefu_common import periods
from kefu_common.clock import ManualClock
from kefu_common.db import Database
from kefu_common.errors import FailedPrecondition, InvalidArgument, NotFound
from kefu_ticketing import ratings, service
from kefu_ticketing.servicer import EscalationSlaResolver
from support import error_code, outbox_json

POLICY = ratings.RatingPolicy(change_window=timedelta(days=7), dissatisfied_max_score=2)


@pytest.fixture(scope="module")
async def db(database_url: str):
    database = Database(database_url, schema="ticketing", pool_size=4)
    yield database
    await database.dispose()


@pytest.fixture(scope="module")
async def resolver(escalation_addr: str):
    async with grpc.aio.insecure_channel(escalation_addr) as channel:
        yield EscalationSlaResolver(escalation_pb2_grpc.EscalationServiceStub(channel), 5)


@pytest.fixture(scope="module")
async def stub(ticketing_addr: str):
    async with grpc.aio.insecure_channel(ticketing_addr) as channel:
        yield ticketing_pb2_grpc.TicketingServiceStub(channel)


class Desk:
    """Tickets made and moved through the service functions at the clock's instants."""

    def __init__(self, db: Database, resolver, clock: ManualClock) -> None:
        self.db, self.resolver, self.clock = db, resolver, clock

    async def ticket(self, *, customer: str | None = None, team: str = "", resolved: bool = True,
                     actor: str = "agent-1", channel: str = "app", category: str = "billing"):
        async with self.db.session() as session:
            ticket = await service.create_ticket(
                session,
                service.NewTicket(
                    customer_id=customer or f"C-{uuid.uuid4().hex[:10]}", customer_name="", tier="standard",
                    sensitive=False, phone="", email="", channel=channel, severity="low", category=category,
                    subject="扣费两次", description="",
                ),
                resolve_sla=self.resolver, clock=self.clock, actor=actor, team=team,
            )
        if resolved:
            for action in ("open", "resolve"):
                await self.move(ticket, action)
        return ticket

    async def move(self, ticket, action: str) -> None:
        async with self.db.session() as session:
            await service.transition_ticket(session, str(ticket.id), action, reason="", expected_version=0,
                                            actor="agent-1", clock=self.clock)

    async def reopen(self, ticket) -> None:
        async with self.db.session() as session:
            await service.reopen_ticket(session, str(ticket.id), reason="back again", contact_channel=None,
                                        contact_summary="", expected_version=0, actor="agent-1", clock=self.clock)

    async def rate(self, ticket, score: int, *, nps: int | None = None, comment: str = "", source: str = "customer",
                   customer_id: str = "", created_by: str = ""):
        rater = f"customer:{ticket.customer_id}" if source == "customer" else created_by or "partner:p"
        async with self.db.session() as session:
            rating, until = await ratings.rate_ticket(
                session, str(ticket.id), ratings.NewRating(score, nps, comment, source, rater),
                policy=POLICY, clock=self.clock, customer_id=customer_id, created_by=created_by,
            )
        return rating, until

    async def ratings(self, ticket):
        async with self.db.session() as session:
            return await ratings.list_ratings(session, str(ticket.id))


@pytest.fixture
def desk(db, resolver) -> Desk:
    return Desk(db, resolver, ManualClock(datetime.now(UTC) - timedelta(days=30)))


async def test_a_resolved_ticket_is_rated_once_per_cycle_and_a_change_is_its_next_revision(desk: Desk) -> None:
    ticket = await desk.ticket()
    first, until = await desk.rate(ticket, 3, comment="一般")
    assert (first.cycle, first.revision, first.score, first.dissatisfied) == (1, 1, 3, False)
    assert until == first.created_at + timedelta(days=7)
    desk.clock.advance(timedelta(days=2))
    changed, until_after = await desk.rate(ticket, 5, nps=10)
    assert (changed.cycle, changed.revision, changed.score, changed.nps) == (1, 2, 5, 10)
    assert until_after == until  # the window counts from the cycle's first rating
    assert [(r.revision, r.score) for r in await desk.ratings(ticket)] == [(1, 3), (2, 5)]


async def test_the_same_rating_sent_again_writes_nothing(desk: Desk) -> None:
    ticket = await desk.ticket()
    first, _ = await desk.rate(ticket, 4, comment="还行")
    again, _ = await desk.rate(ticket, 4, comment="还行")
    assert again.id == first.id
    assert len(await desk.ratings(ticket)) == 1


async def test_a_rating_can_be_changed_within_the_window_and_not_after(desk: Desk) -> None:
    ticket = await desk.ticket()
    await desk.rate(ticket, 2)
    desk.clock.advance(timedelta(days=7))
    await desk.rate(ticket, 3)  # the last instant of the window
    desk.clock.advance(timedelta(seconds=1))
    with pytest.raises(FailedPrecondition) as err:
        await desk.rate(ticket, 4)
    assert err.value.code == "rating_window_closed"
    assert [r.score for r in await desk.ratings(ticket)] == [2, 3]


async def test_an_unresolved_ticket_cannot_be_rated(desk: Desk) -> None:
    ticket = await desk.ticket(resolved=False)
    with pytest.raises(FailedPrecondition) as err:
        await desk.rate(ticket, 5)
    assert err.value.code == "ticket_not_resolved"
    resolved = await desk.ticket()
    await desk.reopen(resolved)
    with pytest.raises(FailedPrecondition):
        await desk.rate(resolved, 5)


async def test_a_reopened_and_again_resolved_ticket_is_rated_afresh_in_its_new_cycle(desk: Desk) -> None:
    ticket = await desk.ticket()
    await desk.rate(ticket, 1)
    desk.clock.advance(timedelta(days=10))  # the first cycle's window is long closed
    await desk.reopen(ticket)
    await desk.move(ticket, "resolve")
    second, _ = await desk.rate(ticket, 5)
    assert (second.cycle, second.revision) == (2, 1)
    assert [(r.cycle, r.score) for r in await desk.ratings(ticket)] == [(1, 1), (2, 5)]


async def test_a_customer_rates_only_their_own_case(desk: Desk) -> None:
    ticket = await desk.ticket(customer="C-owner-" + uuid.uuid4().hex[:6])
    with pytest.raises(NotFound) as err:
        await desk.rate(ticket, 5, customer_id="C-someone-else")
    assert err.value.code == "ticket_not_found"
    rating, _ = await desk.rate(ticket, 5, customer_id=ticket.customer_id)
    assert rating.rater == f"customer:{ticket.customer_id}"


async def test_a_partner_rates_only_tickets_it_created(desk: Desk) -> None:
    ticket = await desk.ticket(actor="partner:shop-a")
    with pytest.raises(NotFound):
        await desk.rate(ticket, 4, source="partner", created_by="partner:shop-b")
    rating, _ = await desk.rate(ticket, 4, source="partner", created_by="partner:shop-a")
    assert (rating.source, rating.rater) == ("partner", "partner:shop-a")


@pytest.mark.parametrize(
    ("score", "nps", "comment", "code"),
    [(0, None, "", "invalid_score"), (6, None, "", "invalid_score"), (3, 11, "", "invalid_nps"),
     (3, -1, "", "invalid_nps"), (3, None, "x" * 1001, "invalid_comment")],
)
async def test_bad_ratings_are_refused_naming_the_field(desk: Desk, score, nps, comment, code) -> None:
    ticket = await desk.ticket()
    with pytest.raises(InvalidArgument) as err:
        await desk.rate(ticket, score, nps=nps, comment=comment)
    assert err.value.code == code
    assert await desk.ratings(ticket) == []


async def test_every_rating_is_an_outbox_event_and_a_low_one_says_dissatisfied(desk: Desk, db) -> None:
    ticket = await desk.ticket()
    low, _ = await desk.rate(ticket, 2, nps=3)
    high, _ = await desk.rate(ticket, 4)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT body FROM ticketing.outbox_event WHERE ticket_id = :t AND event_type = 'ticket.rated' "
            "ORDER BY sequence"), {"t": ticket.id})).all()
    payloads = [outbox_json(r.body) for r in rows]
    assert [(p["score"], p["dissatisfied"], p["cycle"], p["revision"]) for p in payloads] == [
        (2, True, 1, 1), (4, False, 1, 2)]
    assert payloads[0]["rating_id"] == str(low.id) and payloads[0]["nps"] == 3
    assert "comment" not in payloads[0]  # the customer's words stay in ticketing


async def test_reopen_candidates_propose_the_dissatisfied_cycles(desk: Desk) -> None:
    customer = f"C-{uuid.uuid4().hex[:10]}"
    unhappy = await desk.ticket(customer=customer)
    happy = await desk.ticket(customer=customer)
    await desk.rate(unhappy, 1)
    await desk.rate(happy, 5)
    async with desk.db.reader() as conn:
        found = await service.find_reopen_candidates(
            conn, customer_id=customer, category="billing", window=timedelta(days=30), clock=desk.clock)
        proposed = await ratings.reopen_proposed(conn, found)
    assert {t.id for t in found} == {unhappy.id, happy.id}
    assert proposed == {unhappy.id}


# --- the CSAT report, hand-computed ---------------------------------------------------------


async def test_csat_report_counts_the_latest_rating_per_cycle_per_week_with_previous(db, resolver) -> None:
    """Asia/Shanghai, weekly buckets over [2026-11-23, 2026-12-07): the week of Mon 11-23 and
    the week of Mon 11-30 (it crosses into December and stays one bucket).

    Week 1 (11-23..11-30): A 5 (nps 10), B 4 (nps 9), C 2 then changed to 1 two days later
    (nps 0; counts once, as 1), D 3 (no nps)  -> CSAT 2/4 = 0.5; NPS (2 promoters - 1
    detractor) / 3 answers = +33.3.
    Week 2 (11-30..12-07): E 5 rated 2026-11-30 00:30 Shanghai (= 11-29 16:30 UTC, still week 2
    locally), F 2 (nps 6) -> CSAT 1/2 = 0.5, NPS (0 - 1) / 1 = -100.
    Previous of week 1 (11-16..11-23): G 4 -> 1 rating, CSAT 1.0.
    """
    team = f"csat-{uuid.uuid4().hex[:8]}"
    shanghai = periods.zone("Asia/Shanghai")

    def at(day: str, hh: int = 10, mm: int = 0) -> datetime:
        return datetime.fromisoformat(f"{day}T{hh:02d}:{mm:02d}:00").replace(tzinfo=shanghai).astimezone(UTC)

    async def rated(when: datetime, *scores: tuple[int, int | None], gap: timedelta = timedelta(days=2)) -> None:
        desk = Desk(db, resolver, ManualClock(when - timedelta(hours=1)))
        ticket = await desk.ticket(team=team)
        desk.clock.set(when)
        for score, nps in scores:
            await desk.rate(ticket, score, nps=nps)
            desk.clock.advance(gap)

    await rated(at("2026-11-24"), (5, 10))
    await rated(at("2026-11-25"), (4, 9))
    await rated(at("2026-11-23", 9), (2, None), (1, 0))  # changed on 11-25: latest counts
    await rated(at("2026-11-27"), (3, None))
    await rated(at("2026-11-30", 0, 30), (5, None))
    await rated(at("2026-12-06", 23, 0), (2, 6))
    await rated(at("2026-11-20"), (4, None))

    plan = periods.plan(date(2026, 11, 23), date(2026, 12, 7), tz="Asia/Shanghai", unit="week")
    async with db.session() as session:
        rows = await ratings.csat_report(session, plan, group_by="team")
    mine = {(r.bucket, r.previous): r for r in rows if r.group == team}
    week1, week2, before1 = mine[(0, False)], mine[(1, False)], mine[(0, True)]
    assert (week1.ratings, week1.satisfied, week1.nps_responses, week1.promoters, week1.detractors) == (4, 2, 3, 2, 1)
    assert week1.score_sum == 5 + 4 + 1 + 3
    assert (week2.ratings, week2.satisfied, week2.nps_responses, week2.promoters, week2.detractors) == (2, 1, 1, 0, 1)
    assert (before1.ratings, before1.satisfied) == (1, 1)
    assert mine[(1, True)] == week1.__class__(team, 1, True, 4, 2, 3, 2, 1, 13)  # week 2's previous = week 1


async def test_rate_ticket_rpc_replays_a_retry_with_the_same_request_id(stub) -> None:
    from kefu.common.v1 import types_pb2

    ticket = await stub.CreateTicket(pb.CreateTicketRequest(
        request_id=uuid.uuid4().hex, customer=pb.Customer(id=f"C-{uuid.uuid4().hex[:8]}",
                                                          tier=types_pb2.CUSTOMER_TIER_STANDARD),
        channel=types_pb2.CHANNEL_APP, severity=types_pb2.SEVERITY_LOW, category="refund", subject="退款"))
    for action in (pb.TRANSITION_ACTION_OPEN, pb.TRANSITION_ACTION_RESOLVE):
        ticket = await stub.TransitionTicket(pb.TransitionTicketRequest(
            request_id=uuid.uuid4().hex, id=ticket.id, action=action, actor="a"))
    request = pb.RateTicketRequest(request_id="rate-1-" + ticket.id, ticket_id=ticket.id, score=2, nps=4,
                                   comment="慢", source="customer", rater="customer:x")
    first = await stub.RateTicket(request)
    again = await stub.RateTicket(request)
    assert again == first and first.dissatisfied and first.nps == 4
    listed = await stub.ListRatings(pb.ListRatingsRequest(ticket_id=ticket.id))
    assert [r.id for r in listed.ratings] == [first.id]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RateTicket(pb.RateTicketRequest(request_id="rate-2-" + ticket.id, ticket_id=ticket.id,
                                                   score=9, source="customer", rater="customer:x"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and error_code(err.value) == "invalid_score"


async def test_csat_report_days_follow_local_midnight_across_a_dst_change(db, resolver) -> None:
    """Europe/Berlin leaves summer time on 2026-10-25 (a 25-hour day). Ratings at 00:30 and
    23:30 local of that day are in its bucket; 00:10 local on 10-26 (still 10-25 in UTC) is in
    the next one."""
    team = f"dst-{uuid.uuid4().hex[:8]}"
    berlin = periods.zone("Europe/Berlin")
    for local, score in (("2026-10-25T00:30", 5), ("2026-10-25T23:30", 1), ("2026-10-26T00:10", 4)):
        when = datetime.fromisoformat(local).replace(tzinfo=berlin).astimezone(UTC)
        desk = Desk(db, resolver, ManualClock(when - timedelta(hours=1)))
        ticket = await desk.ticket(team=team)
        desk.clock.set(when)
        await desk.rate(ticket, score)
    plan = periods.plan(date(2026, 10, 25), date(2026, 10, 27), tz="Europe/Berlin", unit="day", compare="none")
    async with db.session() as session:
        rows = [r for r in await ratings.csat_report(session, plan, group_by="team") if r.group == team]
    assert [(r.bucket, r.ratings, r.satisfied) for r in rows] == [(0, 2, 1), (1, 1, 1)]
