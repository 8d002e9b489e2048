"""The review queue (复核 / 申诉): stored evaluations as summaries, filtered and keyset
paginated; open appeals; and the sampling policy that says what inspectors review first.

Read-only: the tables are written by service.py (evaluations) and review.py (reviews,
appeals). Every list is ordered on a unique key and paginated by it (the cursor is the last
row's key), so a page never repeats or skips a row while evaluations keep arriving.

Sampling policy (docs/decisions.md, "Review queue"): every evaluation with a fatal hit, every
one with a risk flag, and a share of the rest chosen by `sample_point(seed, id) < share`, a
hash of the seed and the evaluation id in [0, 1). The same seed over the same data gives the
same sample, on any replica and in any order of reading; another seed gives another sample.
The queue is ordered fatal, then risk, then sampled; oldest first within each.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common import keyset
from kefu_common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
GRADES = ("A", "B", "C", "D")
APPEAL_STATUSES = ("open", "upheld", "rejected")
# The column the period filter reads: when the conversation happened. Evaluations carry only
# the time they were scored for now; switch this to `e.started_at` once conversations carry
# theirs (branch voc), and every period filter follows.
PERIOD_COLUMN = "e.created_at"
# Queue tiers, most important first.
REASONS = ("fatal", "risk", "sampled")
_SAMPLE_HEX = 13  # 52 bits of md5: exact in a double on both sides
_SAMPLE_SCALE = float(1 << (4 * _SAMPLE_HEX))


def sample_point(seed: str, evaluation_id: uuid.UUID | str) -> float:
    """Where an evaluation falls in [0, 1) under `seed`; sampled when below the share. The SQL
    of `_SAMPLE_SQL` computes the same number (tested)."""
    digest = hashlib.md5(f"{seed}:{evaluation_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:_SAMPLE_HEX], 16) / _SAMPLE_SCALE


_SAMPLE_SQL = (
    f"(('x' || substr(md5(:seed || ':' || e.id::text), 1, {_SAMPLE_HEX}))::bit({4 * _SAMPLE_HEX})::bigint"
    f" / {_SAMPLE_SCALE!r})"
)
# The condition of each tier of REASONS; the first two match the partial indexes of
# migration 0008 word for word (that is how PostgreSQL knows it may use them).
_TIER_SQL = (
    "e.fatal",
    "NOT e.fatal AND jsonb_array_length(e.risk_flags) > 0",
    f"NOT e.fatal AND jsonb_array_length(e.risk_flags) = 0 AND {_SAMPLE_SQL} < :share",
)


@dataclass(frozen=True)
class EvaluationFilter:
    agent_id: str = ""
    team: str = ""
    ruleset_id: str = ""
    ruleset_version: int = 0
    grades: tuple[str, ...] = ()
    min_score: float | None = None
    max_score: float | None = None
    rule_id: str = ""
    fatal: bool | None = None
    start: datetime | None = None
    end: datetime | None = None
    reviewed: bool | None = None
    open_appeal: bool | None = None


@dataclass(frozen=True)
class Summary:
    id: uuid.UUID
    ticket_id: str
    agent_id: str
    team: str
    total_score: float
    grade: str
    fatal: bool
    hit_count: int
    risk_flags: list[str]
    reviewed_hits: int
    open_appeals: int
    created_at: datetime
    conversation_id: str
    ruleset_id: str
    ruleset_version: int
    category: str
    channel: str
    reason: str = ""

    @property
    def reviewed(self) -> bool:
        return self.reviewed_hits > 0


@dataclass(frozen=True)
class AppealRow:
    id: uuid.UUID
    evaluation_id: uuid.UUID
    hit_index: int
    appellant: str
    reason: str
    status: str
    decided_by: str
    decision_note: str
    created_at: datetime
    decided_at: datetime | None
    ticket_id: str
    agent_id: str
    team: str
    rule_id: str


@dataclass
class _Query:
    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> None:
        self.where.append(clause)
        self.params.update(params)

    @property
    def sql(self) -> str:
        return " AND ".join(self.where) if self.where else "TRUE"


def page_size_of(requested: int) -> int:
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= requested <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size must be 1..{MAX_PAGE_SIZE}", code="invalid_page_size")
    return requested


def _filtered(f: EvaluationFilter) -> _Query:
    q = _Query()
    for name in ("agent_id", "team", "ruleset_id"):
        value = getattr(f, name)
        if len(value) > 128:
            raise InvalidArgument(f"{name} must be at most 128 characters", code=f"invalid_{name}")
        if value:
            q.add(f"e.{name} = :{name}", **{name: value})
    if f.ruleset_version:
        q.add("e.ruleset_version = :ruleset_version", ruleset_version=f.ruleset_version)
    unknown = [g for g in f.grades if g not in GRADES]
    if unknown:
        raise InvalidArgument(f"grade must be one of {', '.join(GRADES)}", code="invalid_grade")
    if f.grades:
        q.add("e.grade = ANY(:grades)", grades=list(f.grades))
    if f.min_score is not None and f.max_score is not None and f.min_score > f.max_score:
        raise InvalidArgument("min_score is above max_score", code="invalid_score_range")
    if f.min_score is not None:
        q.add("e.total_score >= :min_score", min_score=f.min_score)
    if f.max_score is not None:
        q.add("e.total_score <= :max_score", max_score=f.max_score)
    if f.rule_id:
        if len(f.rule_id) > 128:
            raise InvalidArgument("rule_id must be at most 128 characters", code="invalid_rule_id")
        q.add("e.hits @> CAST(:rule AS jsonb)", rule=json.dumps([{"rule_id": f.rule_id}]))
    if f.fatal is not None:
        q.add("e.fatal = :fatal", fatal=f.fatal)
    if f.start is not None and f.end is not None and f.start >= f.end:
        raise InvalidArgument("start must be before end", code="invalid_period")
    if f.start is not None:
        q.add(f"{PERIOD_COLUMN} >= :start", start=f.start)
    if f.end is not None:
        q.add(f"{PERIOD_COLUMN} < :end", end=f.end)
    reviewed = "EXISTS (SELECT 1 FROM scoring.hit_review r WHERE r.evaluation_id = e.id)"
    if f.reviewed is not None:
        q.add(reviewed if f.reviewed else f"NOT {reviewed}")
    appealed = "EXISTS (SELECT 1 FROM scoring.appeal a WHERE a.evaluation_id = e.id AND a.status = 'open')"
    if f.open_appeal is not None:
        q.add(appealed if f.open_appeal else f"NOT {appealed}")
    return q


_SUMMARY_COLUMNS = """
    e.id, e.ticket_id, e.agent_id, e.team, e.total_score, e.grade, e.fatal,
    jsonb_array_length(e.hits) AS hit_count, e.risk_flags,
    (SELECT count(DISTINCT r.hit_index) FROM scoring.hit_review r WHERE r.evaluation_id = e.id)
        AS reviewed_hits,
    (SELECT count(*) FROM scoring.appeal a WHERE a.evaluation_id = e.id AND a.status = 'open')
        AS open_appeals,
    e.created_at, e.conversation_id, e.ruleset_id, e.ruleset_version, e.category, e.channel
"""


def _summary(row: Any, reason: str = "") -> Summary:
    return Summary(
        id=row.id, ticket_id=row.ticket_id, agent_id=row.agent_id, team=row.team,
        total_score=row.total_score, grade=row.grade, fatal=row.fatal, hit_count=int(row.hit_count),
        risk_flags=list(row.risk_flags), reviewed_hits=int(row.reviewed_hits),
        open_appeals=int(row.open_appeals), created_at=row.created_at,
        conversation_id=row.conversation_id, ruleset_id=row.ruleset_id,
        ruleset_version=row.ruleset_version, category=row.category, channel=row.channel, reason=reason,
    )


async def list_evaluations(
    session: AsyncSession, filters: EvaluationFilter, *, page_size: int = 0, page_token: str = ""
) -> tuple[list[Summary], str]:
    """Newest first (created_at, id), keyset-paginated; returns the page and the next token."""
    size = page_size_of(page_size)
    q = _filtered(filters)
    after = keyset.decode(page_token, datetime, uuid.UUID)
    if after is not None:
        q.add("(e.created_at, e.id) < (:after_at, :after_id)", after_at=after[0], after_id=after[1])
    sql = (f"SELECT {_SUMMARY_COLUMNS} FROM scoring.evaluation e WHERE {q.sql} "
           "ORDER BY e.created_at DESC, e.id DESC LIMIT :limit")
    rows = (await session.exec(text(sql), params={**q.params, "limit": size + 1})).all()  # type: ignore[call-overload]
    page = [_summary(r) for r in rows[:size]]
    more = len(rows) > size
    return page, keyset.encode(page[-1].created_at, page[-1].id) if more else ""


async def review_queue(
    session: AsyncSession,
    filters: EvaluationFilter,
    *,
    share: float,
    seed: str,
    page_size: int = 0,
    page_token: str = "",
) -> tuple[list[Summary], str]:
    """The sampling policy's queue: fatal, then risk-flagged, then sampled evaluations (each
    tier oldest first). `filters.reviewed` None means "not reviewed yet".

    One statement per tier, from the cursor's tier on, each an index range scan in
    (created_at, id) order that stops at the page's end (partial indexes for the fatal and
    risk tiers; the sampled tier stops after about page_size / share rows)."""
    if not 0.0 <= share <= 1.0:
        raise InvalidArgument("share must be within 0..1", code="invalid_share")
    if len(seed) > 128:
        raise InvalidArgument("seed must be at most 128 characters", code="invalid_seed")
    size = page_size_of(page_size)
    if filters.reviewed is None:
        filters = replace(filters, reviewed=False)
    after = keyset.decode(page_token, int, datetime, uuid.UUID)
    if after is not None and after[0] not in range(len(REASONS)):
        raise InvalidArgument("page_token is not valid", code="invalid_page_token")
    first_tier = after[0] if after is not None else 0
    page: list[Summary] = []
    for tier in range(first_tier, len(REASONS)):
        if REASONS[tier] == "sampled" and share <= 0.0:
            break
        q = _filtered(filters)
        q.add(_TIER_SQL[tier], seed=seed, share=share)
        if after is not None and tier == first_tier:
            q.add("(e.created_at, e.id) > (:after_at, :after_id)", after_at=after[1], after_id=after[2])
        sql = (f"SELECT {_SUMMARY_COLUMNS} FROM scoring.evaluation e WHERE {q.sql} "
               "ORDER BY e.created_at, e.id LIMIT :limit")
        rows = (await session.exec(text(sql), params={**q.params, "limit": size + 1 - len(page)})).all()  # type: ignore[call-overload]
        page += [_summary(r, REASONS[tier]) for r in rows]
        if len(page) > size:
            break
    if len(page) <= size:
        return page, ""
    last = page[size - 1]
    return page[:size], keyset.encode(REASONS.index(last.reason), last.created_at, last.id)


async def list_appeals(
    session: AsyncSession,
    *,
    status: str = "",
    appellant: str = "",
    evaluation_id: str = "",
    page_size: int = 0,
    page_token: str = "",
) -> tuple[list[AppealRow], str]:
    """Appeals oldest first (created_at, id): the first filed is the first to decide."""
    size = page_size_of(page_size)
    status = status or "open"
    if status not in (*APPEAL_STATUSES, "all"):
        raise InvalidArgument(
            f"status must be one of {', '.join(APPEAL_STATUSES)} or all", code="invalid_appeal_status"
        )
    q = _Query()
    if status != "all":
        q.add("a.status = :status", status=status)
    if appellant:
        q.add("a.appellant = :appellant", appellant=appellant[:128])
    if evaluation_id:
        try:
            q.add("a.evaluation_id = :evaluation_id", evaluation_id=uuid.UUID(evaluation_id))
        except ValueError:
            raise InvalidArgument(
                f"evaluation_id {evaluation_id[:64]!r} is not a UUID", code="invalid_evaluation_id"
            ) from None
    after = keyset.decode(page_token, datetime, uuid.UUID)
    if after is not None:
        q.add("(a.created_at, a.id) > (:after_at, :after_id)", after_at=after[0], after_id=after[1])
    sql = (
        "SELECT a.id, a.evaluation_id, a.hit_index, a.appellant, a.reason, a.status, a.decided_by, "
        "a.decision_note, a.created_at, a.decided_at, e.ticket_id, e.agent_id, e.team, "
        "coalesce(e.hits -> a.hit_index ->> 'rule_id', '') AS rule_id "
        f"FROM scoring.appeal a JOIN scoring.evaluation e ON e.id = a.evaluation_id WHERE {q.sql} "
        "ORDER BY a.created_at, a.id LIMIT :limit"
    )
    rows = (await session.exec(text(sql), params={**q.params, "limit": size + 1})).all()  # type: ignore[call-overload]
    page = [AppealRow(**r._mapping) for r in rows[:size]]
    more = len(rows) > size
    return page, keyset.encode(page[-1].created_at, page[-1].id) if more else ""
