"""Review (复核): a QA reviewer confirms or overturns each hit of an evaluation.

Decisions are appended to `scoring.hit_review` (the trail); the latest decision per hit
counts. The evaluation itself is never rewritten: the final score is computed from it and
the overturned hits (their points no longer count; an overturned fatal hit no longer zeroes
the total). Agreement per rule = confirmed / reviewed over the latest decisions.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.clock import Clock
from kefu_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from kefu_common.logging import get_logger
from kefu_scoring.engine import grade_on, scorecard_total
from kefu_scoring.models import Appeal, Evaluation, HitReview
from kefu_scoring import rulesets
from kefu_scoring.rules import Ruleset, Scorecard
from kefu_scoring.service import get_evaluation

log = get_logger("kefu.scoring.review")

DECISIONS = ("confirmed", "overturned")
MAX_NOTE_CHARS = 1000


@dataclass(frozen=True)
class Reviewed:
    evaluation: Evaluation
    trail: list[HitReview]  # oldest first
    decisions: dict[int, str]  # hit index -> latest decision
    final_score: float
    final_grade: str


async def review_hit(
    session: AsyncSession,
    *,
    evaluation_id: str,
    hit_index: int,
    decision: str,
    reviewer: str,
    note: str,
    clock: Clock,
    scorecard: Scorecard,
) -> Reviewed:
    evaluation = await get_evaluation(session, evaluation_id)
    _check_hit(evaluation, hit_index)
    if decision not in DECISIONS:
        raise InvalidArgument("decision must be confirmed or overturned", code="invalid_decision")
    if not reviewer.strip() or len(reviewer) > 128:
        raise InvalidArgument("reviewer is required (1..128 characters)", code="invalid_reviewer")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidArgument(f"note is longer than {MAX_NOTE_CHARS} characters", code="invalid_note")
    session.add(
        HitReview(
            evaluation_id=evaluation.id,
            hit_index=hit_index,
            decision=decision,
            reviewer=reviewer,
            note=note,
            created_at=clock.now(),
        )
    )
    await session.flush()
    rule_id = evaluation.hits[hit_index]["rule_id"]
    log.info(
        "hit_reviewed", evaluation_id=str(evaluation.id), hit_index=hit_index, rule_id=rule_id,
        decision=decision,
    )
    return await reviewed(session, evaluation, scorecard)


def _check_hit(evaluation: Evaluation, hit_index: int) -> None:
    if not 0 <= hit_index < len(evaluation.hits):
        raise InvalidArgument(
            f"hit_index {hit_index} is out of range: the evaluation has {len(evaluation.hits)} hits",
            code="invalid_hit_index",
        )


# --- appeals (申诉) ---------------------------------------------------------------------------

OUTCOMES = {"upheld": "overturned", "rejected": "confirmed"}  # appeal outcome -> hit review


async def file_appeal(
    session: AsyncSession,
    *,
    evaluation_id: str,
    hit_index: int,
    appellant: str,
    reason: str,
    clock: Clock,
) -> Appeal:
    evaluation = await get_evaluation(session, evaluation_id)
    _check_hit(evaluation, hit_index)
    if not appellant.strip() or len(appellant) > 128:
        raise InvalidArgument("appellant is required (1..128 characters)", code="invalid_appellant")
    if evaluation.agent_id and appellant != evaluation.agent_id:
        raise PermissionDenied(
            "only the agent the evaluation names may appeal its hits", code="not_your_evaluation"
        )
    if not reason.strip() or len(reason) > MAX_NOTE_CHARS:
        raise InvalidArgument(f"reason is required (at most {MAX_NOTE_CHARS} characters)", code="invalid_reason")
    stmt = select(Appeal).where(
        col(Appeal.evaluation_id) == evaluation.id,
        col(Appeal.hit_index) == hit_index,
        col(Appeal.status) == "open",
    )
    if (await session.exec(stmt)).first() is not None:
        raise AlreadyExists("this hit already has an open appeal", code="appeal_already_open")
    appeal = Appeal(
        evaluation_id=evaluation.id, hit_index=hit_index, appellant=appellant, reason=reason,
        created_at=clock.now(),
    )
    session.add(appeal)
    await session.flush()
    log.info("appeal_filed", appeal_id=str(appeal.id), evaluation_id=str(evaluation.id), hit_index=hit_index)
    return appeal


async def decide_appeal(
    session: AsyncSession, *, appeal_id: str, outcome: str, decided_by: str, note: str, clock: Clock
) -> Appeal:
    try:
        key = uuid.UUID(appeal_id)
    except ValueError:
        raise InvalidArgument(f"appeal id {appeal_id[:64]!r} is not a UUID", code="invalid_appeal_id") from None
    if outcome not in OUTCOMES:
        raise InvalidArgument("outcome must be upheld or rejected", code="invalid_outcome")
    if not decided_by.strip() or len(decided_by) > 128:
        raise InvalidArgument("decided_by is required (1..128 characters)", code="invalid_reviewer")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidArgument(f"note is longer than {MAX_NOTE_CHARS} characters", code="invalid_note")
    stmt = select(Appeal).where(col(Appeal.id) == key).with_for_update()
    appeal = (await session.exec(stmt)).first()
    if appeal is None:
        raise NotFound(f"appeal {appeal_id} not found", code="appeal_not_found")
    if appeal.status != "open":
        raise FailedPrecondition(f"the appeal was already {appeal.status}", code="appeal_already_decided")
    now = clock.now()
    appeal.status = outcome
    appeal.decided_by = decided_by
    appeal.decision_note = note
    appeal.decided_at = now
    session.add(
        HitReview(
            evaluation_id=appeal.evaluation_id, hit_index=appeal.hit_index,
            decision=OUTCOMES[outcome], reviewer=decided_by,
            note=f"appeal {appeal.id} {outcome}: {note}"[:MAX_NOTE_CHARS], created_at=now,
        )
    )
    await session.flush()
    log.info("appeal_decided", appeal_id=str(appeal.id), outcome=outcome)
    return appeal


async def reviewed(session: AsyncSession, evaluation: Evaluation, scorecard: Scorecard) -> Reviewed:
    stmt = (
        select(HitReview)
        .where(col(HitReview.evaluation_id) == evaluation.id)
        .order_by(col(HitReview.created_at), col(HitReview.id))
    )
    trail = list((await session.exec(stmt)).all())
    decisions = {r.hit_index: r.decision for r in trail}  # later rows win
    score, grade = final_score(evaluation, {i for i, d in decisions.items() if d == "overturned"}, scorecard)
    return Reviewed(evaluation, trail, decisions, score, grade)


async def scorecard_of(session: AsyncSession, evaluation: Evaluation, active: Ruleset) -> Scorecard:
    """The scorecard the evaluation was graded on (for the final grade)."""
    if (evaluation.ruleset_id, evaluation.ruleset_version) == (active.id, active.version):
        return active.scorecard
    try:
        ruleset = await rulesets.resolve(
            session, ruleset_id=evaluation.ruleset_id, version=evaluation.ruleset_version
        )
    except NotFound:  # an older version of the active file: its scorecard is not kept
        return active.scorecard
    return ruleset.scorecard


def final_score(evaluation: Evaluation, overturned: set[int], scorecard: Scorecard) -> tuple[float, str]:
    """The AI score without the overturned hits."""
    if not overturned:
        return evaluation.total_score, evaluation.grade
    earned: dict[str, float] = defaultdict(float)
    fatal = False
    for i, hit in enumerate(evaluation.hits):
        if i not in overturned:
            earned[hit["dimension"]] += hit["points"]
            fatal = fatal or bool(hit.get("fatal"))
    dims = [(d["dimension"], d["weight"], d["applicable"]) for d in evaluation.dimensions]
    _, total = scorecard_total(dims, earned, fatal)
    return total, grade_on(scorecard, total)


@dataclass(frozen=True)
class RuleAgreement:
    rule_id: str
    reviewed: int
    confirmed: int
    overturned: int

    @property
    def agreement(self) -> float:
        return round(self.confirmed / self.reviewed, 4) if self.reviewed else 0.0


_AGREEMENT = text(
    """
    WITH latest AS (
        SELECT DISTINCT ON (r.evaluation_id, r.hit_index)
               r.evaluation_id, r.hit_index, r.decision
        FROM scoring.hit_review r
        ORDER BY r.evaluation_id, r.hit_index, r.created_at DESC, r.id DESC
    )
    SELECT e.hits -> latest.hit_index ->> 'rule_id' AS rule_id,
           count(*) AS reviewed,
           count(*) FILTER (WHERE latest.decision = 'confirmed') AS confirmed,
           count(*) FILTER (WHERE latest.decision = 'overturned') AS overturned
    FROM latest JOIN scoring.evaluation e ON e.id = latest.evaluation_id
    WHERE (:ruleset_id = '' OR e.ruleset_id = :ruleset_id)
    GROUP BY 1
    ORDER BY 1
    """
)


async def agreement(session: AsyncSession, *, ruleset_id: str = "") -> list[RuleAgreement]:
    rows = (await session.exec(_AGREEMENT, params={"ruleset_id": ruleset_id})).all()  # type: ignore[call-overload]
    return [RuleAgreement(r.rule_id, r.reviewed, r.confirmed, r.overturned) for r in rows]
