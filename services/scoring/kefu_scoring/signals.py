"""Risk signals to the escalation service through a transactional outbox.

`enqueue` writes signals in the caller's transaction (the one that stores the evaluation or
handles the real-time turn), so a signal exists if and only if what raised it was committed.
`SignalRelay` (a BackgroundLoop, enabled by `SCORING_RELAY_SIGNALS`) delivers pending signals
with `EscalationService.RaiseSignal` and retries failures with capped exponential backoff.

Signal ids are deterministic: ``scoring-`` + sha256(conversation key, kind)[:40]. The same
risk in the same conversation -- raised in real time and again by the final scorecard, by a
retried request, or by two replicas -- is one outbox row (``ON CONFLICT DO NOTHING``) and
one signal id, which RaiseSignal treats as its idempotency key. So retries never double.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import grpc
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu.escalation.v1 import escalation_pb2, escalation_pb2_grpc
from kefu_common.clock import Clock
from kefu_common.db import Database
from kefu_common.logging import get_logger
from kefu_common.protoconv import str_to_enum, to_timestamp
from kefu_common.relay import relay_once
from kefu_common.tasks import PollingLoop
from kefu_scoring.models import SignalOutbox

log = get_logger("kefu.scoring.signals")

SOURCE = "scoring"
MAX_DETAIL_CHARS = 1000
# The escalation service refuses these: retrying cannot help.
PERMANENT_FAILURES = frozenset({grpc.StatusCode.INVALID_ARGUMENT})
CRISIS_KINDS = ("regulator", "media", "legal")


@dataclass(frozen=True)
class Signal:
    signal_id: str
    kind: str
    detail: str  # PII-masked by the caller
    turn_index: int

    @classmethod
    def of(cls, conversation_key: str, kind: str, detail: str, turn_index: int) -> Signal:
        return cls(signal_id(conversation_key, kind), kind, detail[:MAX_DETAIL_CHARS], turn_index)


def signal_id(conversation_key: str, kind: str) -> str:
    digest = hashlib.sha256(f"{conversation_key}\x1f{kind}".encode()).hexdigest()
    return f"{SOURCE}-{digest[:40]}"


async def enqueue(
    session: AsyncSession,
    raised: Sequence[Signal],
    *,
    ticket_id: str,
    conversation_id: str,
    now: datetime,
) -> list[str]:
    """Queue signals (idempotent by signal id); returns the ids, new or already queued."""
    if not raised:
        return []
    rows = [
        {
            "signal_id": s.signal_id,
            "ticket_id": ticket_id,
            "conversation_id": conversation_id,
            "kind": s.kind,
            "source": SOURCE,
            "detail": s.detail,
            "occurred_at": now,
            "next_attempt_at": now,
        }
        for s in raised
    ]
    stmt = insert(SignalOutbox).values(rows).on_conflict_do_nothing(index_elements=["signal_id"])
    await session.exec(stmt)  # type: ignore[call-overload]
    await session.flush()
    return [s.signal_id for s in raised]


def backoff(attempts: int, cap_seconds: float) -> timedelta:
    return timedelta(seconds=min(cap_seconds, 2.0 ** max(0, attempts - 1)))


class SignalRelay:
    """Delivers pending outbox rows to escalation. Rows are claimed with FOR UPDATE SKIP
    LOCKED, so replicas may run it side by side; a crash before commit leaves the row
    pending (delivered again, harmless: RaiseSignal is idempotent by signal id)."""

    def __init__(
        self,
        db: Database,
        stub: escalation_pb2_grpc.EscalationServiceStub,
        clock: Clock,
        *,
        interval: float = 1.0,
        batch: int = 50,
        timeout: float = 3.0,
        max_backoff_seconds: float = 300.0,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self.db = db
        self.stub = stub
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self.timeout = timeout
        self.max_backoff_seconds = max_backoff_seconds
        self.lease = lease  # a claimed row is not claimed again before this (a crash mid-send)
        self._loop = PollingLoop("signal-relay", self._pass, interval=interval, log=log)

    def wake(self) -> None:
        self._loop.wake()

    async def run_once(self) -> int:
        """One pass over the due rows; returns how many were delivered. The RaiseSignal calls
        happen with no transaction open (kefu_common.relay: leased, then recorded)."""
        sent = await relay_once(self.db, self, self.clock, lease=self.lease, limit=self.batch)
        return sum(1 for _, outcome in sent if isinstance(outcome, escalation_pb2.RaiseSignalResponse))

    # --- kefu_common.relay.Outbox ----------------------------------------------------------

    async def claim(self, session: AsyncSession, *, now: datetime, until: datetime,
                    limit: int) -> list[escalation_pb2.RaiseSignalRequest]:
        stmt = (
            select(SignalOutbox)
            .where(col(SignalOutbox.status) == "pending", col(SignalOutbox.next_attempt_at) <= now)
            # the strongest risk of a conversation first (sent one after the other): escalation
            # applies a later signal of the same conversation to the escalation it raised (issue #13)
            .order_by(col(SignalOutbox.next_attempt_at), col(SignalOutbox.kind).notin_(CRISIS_KINDS),
                      col(SignalOutbox.signal_id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = []
        for row in (await session.exec(stmt)).all():
            row.next_attempt_at = until  # leased: no other replica sends it meanwhile
            claimed.append(escalation_pb2.RaiseSignalRequest(
                signal_id=row.signal_id,
                ticket_id=row.ticket_id,
                kind=str_to_enum(escalation_pb2.SignalKind, row.kind),
                source=row.source,
                detail=row.detail,
                occurred_at=to_timestamp(row.occurred_at),
                conversation_id=row.conversation_id,
            ))
        await session.flush()
        return claimed

    async def send(self, item: escalation_pb2.RaiseSignalRequest) -> escalation_pb2.RaiseSignalResponse | grpc.aio.AioRpcError:
        try:
            return await self.stub.RaiseSignal(item, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            return exc

    async def record(self, session: AsyncSession,
                     sent: Sequence[tuple[escalation_pb2.RaiseSignalRequest, object]], *, now: datetime) -> None:
        for request, outcome in sent:
            row = await session.get(SignalOutbox, request.signal_id, with_for_update=True)
            if row is None:
                continue
            row.attempts += 1
            if isinstance(outcome, grpc.aio.AioRpcError):
                row.last_error = f"{outcome.code().name}: {outcome.details() or ''}"[:500]
                if outcome.code() in PERMANENT_FAILURES:
                    row.status = "rejected"
                    log.error("signal_rejected", signal_id=row.signal_id, error=row.last_error)
                else:
                    row.next_attempt_at = now + backoff(row.attempts, self.max_backoff_seconds)
                    log.warning(
                        "signal_delivery_failed", signal_id=row.signal_id, attempts=row.attempts,
                        error=row.last_error, retry_at=row.next_attempt_at.isoformat(),
                    )
                continue
            assert isinstance(outcome, escalation_pb2.RaiseSignalResponse)
            row.status = "delivered"
            row.delivered_at = now
            row.last_error = ""
            row.note = outcome.note[:500]
            log.info(
                "signal_delivered", signal_id=row.signal_id, kind=row.kind, ticket_id=row.ticket_id,
                accepted=outcome.accepted,
            )
        await session.flush()

    async def _pass(self) -> bool:
        return await self.run_once() >= self.batch  # a full batch: more may be waiting

    async def start(self) -> None:
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
