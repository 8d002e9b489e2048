"""Conversation scoring: rules are data (a versioned ruleset), every hit carries its evidence,
and each idempotency key is scored and stored exactly once.

This is the skeleton engine: one operator, `keyword-any`. The scorecard starts at 100, every
hit adds its (usually negative) points, and the total never goes below 0.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import AlreadyExists, InvalidArgument
from kefu_common.logging import get_logger
from kefu_scoring.models import Evaluation

# Log fields say `idempotency_key`: `request_id` in a log line is the correlation id.
log = get_logger("kefu.scoring")

DEFAULT_RULESET_PATH = Path(__file__).parent / "rules" / "default_ruleset.json"

BASE_SCORE = 100.0
GRADE_FLOORS = ((90.0, "A"), (80.0, "B"), (60.0, "C"))
LOWEST_GRADE = "D"

MAX_REQUEST_ID_CHARS = 128
MAX_REFERENCE_CHARS = 128  # conversation_id, ticket_id, agent_id
MAX_TURNS = 2_000
MAX_TURN_CHARS = 10_000

Role = Literal["agent", "customer", "bot"]
Dimension = Literal["compliance", "process", "attitude", "skill"]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


# --- rules (data) ---------------------------------------------------------------------------


class KeywordRule(BaseModel):
    """`keyword-any`: every occurrence of any keyword in a turn spoken by `role` is one hit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    name: str = ""
    dimension: Dimension
    role: Role
    operator: Literal["keyword-any"]
    keywords: tuple[Keyword, ...] = Field(min_length=1)
    points: float


class Ruleset(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    rules: tuple[KeywordRule, ...]


def load_ruleset(path: Path = DEFAULT_RULESET_PATH) -> Ruleset:
    """Parse and check a ruleset file; a malformed file fails at start-up, not mid-request."""
    return Ruleset.model_validate_json(path.read_bytes())


# --- input and output -----------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    role: str | None  # None: the caller left the role unspecified
    text: str
    start_ms: int = 0  # 0: not given
    end_ms: int = 0


@dataclass(frozen=True)
class Conversation:
    request_id: str  # idempotency key
    turns: tuple[Turn, ...]
    conversation_id: str = ""
    ticket_id: str = ""
    agent_id: str = ""


@dataclass(frozen=True)
class Hit:
    rule_id: str
    rule_version: int
    dimension: str
    turn_index: int
    start: int  # character span [start, end) in the turn's original text
    end: int
    matched_text: str
    points: float


@dataclass(frozen=True)
class Score:
    total: float
    grade: str
    hits: tuple[Hit, ...]


# --- pure rules -----------------------------------------------------------------------------


def validate(conversation: Conversation) -> None:
    """Refuse what cannot be scored, naming the offending field."""
    request_id = conversation.request_id
    if not request_id.strip() or len(request_id) > MAX_REQUEST_ID_CHARS:
        raise InvalidArgument(
            f"request_id is required and must be 1..{MAX_REQUEST_ID_CHARS} characters",
            code="invalid_request_id",
        )
    for name in ("conversation_id", "ticket_id", "agent_id"):
        if len(getattr(conversation, name)) > MAX_REFERENCE_CHARS:
            raise InvalidArgument(
                f"{name} must be at most {MAX_REFERENCE_CHARS} characters", code=f"invalid_{name}"
            )
    turns = conversation.turns
    if not turns:
        raise InvalidArgument("turns must hold at least one turn", code="no_turns")
    if len(turns) > MAX_TURNS:
        raise InvalidArgument(
            f"turns holds {len(turns)} turns; at most {MAX_TURNS} are allowed",
            code="too_many_turns",
        )
    for i, turn in enumerate(turns):
        if turn.role is None:
            raise InvalidArgument(
                f"turns[{i}].role is required (agent, customer or bot)", code="invalid_role"
            )
        if len(turn.text) > MAX_TURN_CHARS:
            raise InvalidArgument(
                f"turns[{i}].text is {len(turn.text)} characters; at most {MAX_TURN_CHARS}"
                " are allowed",
                code="turn_too_long",
            )
        if turn.start_ms < 0 or turn.end_ms < 0:
            raise InvalidArgument(
                f"turns[{i}].start_ms and end_ms must not be negative", code="invalid_turn_offsets"
            )
        if turn.start_ms and turn.end_ms and turn.end_ms < turn.start_ms:
            raise InvalidArgument(
                f"turns[{i}].end_ms ({turn.end_ms}) is before start_ms ({turn.start_ms})",
                code="invalid_turn_offsets",
            )


def request_hash(conversation: Conversation) -> str:
    """sha256 of the canonical request body (everything but the idempotency key itself)."""
    body = {
        "conversation_id": conversation.conversation_id,
        "ticket_id": conversation.ticket_id,
        "agent_id": conversation.agent_id,
        "turns": [[t.role, t.text, t.start_ms, t.end_ms] for t in conversation.turns],
    }
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _keyword_regex(keyword: str) -> str:
    # A space matches any run of whitespace; an apostrophe also matches the typographic one.
    return r"\s+".join(re.escape(word) for word in keyword.split()).replace("'", "['’]")


@lru_cache(maxsize=256)
def keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    """One case-insensitive alternation, longest keyword first: matches never overlap, so a
    phrase that contains another keyword is one hit, not two."""
    ordered = sorted(set(keywords), key=len, reverse=True)
    return re.compile("|".join(_keyword_regex(k) for k in ordered), re.IGNORECASE)


def keyword_hits(rule: KeywordRule, turns: Sequence[Turn]) -> list[Hit]:
    pattern = keyword_pattern(rule.keywords)
    return [
        Hit(
            rule_id=rule.id,
            rule_version=rule.version,
            dimension=rule.dimension,
            turn_index=index,
            start=match.start(),
            end=match.end(),
            matched_text=match.group(),
            points=rule.points,
        )
        for index, turn in enumerate(turns)
        if turn.role == rule.role
        for match in pattern.finditer(turn.text)
    ]


def grade_for(total: float) -> str:
    for floor, grade in GRADE_FLOORS:
        if total >= floor:
            return grade
    return LOWEST_GRADE


def evaluate(ruleset: Ruleset, turns: Sequence[Turn]) -> Score:
    hits = sorted(
        (hit for rule in ruleset.rules for hit in keyword_hits(rule, turns)),
        key=lambda h: (h.turn_index, h.start, h.rule_id),
    )
    total = max(0.0, BASE_SCORE + sum(h.points for h in hits))
    return Score(total=total, grade=grade_for(total), hits=tuple(hits))


# --- storage --------------------------------------------------------------------------------


async def find_stored(session: AsyncSession, *, conversation: Conversation) -> Evaluation | None:
    """The evaluation already stored under this request_id, if any.

    The same key with a different body is refused rather than answered with a stale score.
    """
    stmt = select(Evaluation).where(col(Evaluation.request_id) == conversation.request_id)
    stored = (await session.exec(stmt)).first()
    if stored is None:
        return None
    if stored.request_hash != request_hash(conversation):
        raise AlreadyExists(
            f"request_id {conversation.request_id!r} was already used for a different request",
            code="idempotency_key_reused",
        )
    log.info(
        "evaluation_replayed", evaluation_id=str(stored.id), idempotency_key=stored.request_id
    )
    return stored


async def score_conversation(
    session: AsyncSession, *, ruleset: Ruleset, conversation: Conversation
) -> Evaluation:
    """Score and store one conversation, or return what an earlier call with the same
    request_id stored. A concurrent duplicate surfaces as IntegrityError from the flush."""
    validate(conversation)
    stored = await find_stored(session, conversation=conversation)
    if stored is not None:
        return stored
    score = evaluate(ruleset, conversation.turns)
    evaluation = Evaluation(
        request_id=conversation.request_id,
        request_hash=request_hash(conversation),
        conversation_id=conversation.conversation_id,
        ticket_id=conversation.ticket_id,
        agent_id=conversation.agent_id,
        ruleset_id=ruleset.id,
        ruleset_version=ruleset.version,
        total_score=score.total,
        grade=score.grade,
        hits=[asdict(hit) for hit in score.hits],
    )
    session.add(evaluation)
    await session.flush()
    log.info(
        "evaluation_stored",
        evaluation_id=str(evaluation.id),
        idempotency_key=evaluation.request_id,
        ruleset_id=ruleset.id,
        ruleset_version=ruleset.version,
        total_score=score.total,
        grade=score.grade,
        hits=len(score.hits),
    )
    return evaluation
