"""Conversation scoring: validate, score against a compiled ruleset (engine.py), estimate the
customer's emotion (emotion.py), store the evaluation with every text PII-masked, and queue
risk signals for the escalation service in the same transaction (signals.py).

Each idempotency key is scored and stored exactly once. Service functions take the session
first and flush, never commit.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.clock import Clock
from kefu_common.errors import AlreadyExists, InvalidArgument, NotFound
from kefu_common.logging import get_logger
from kefu_scoring import risk, signals
from kefu_scoring import satisfaction as satisfaction_model
from kefu_scoring.emotion import Trajectory, TurnEmotion, default_lexicon, trajectory_of
from kefu_scoring.engine import (
    CompiledRuleset,
    Hit,
    Score,
    Turn,
    compile_ruleset,
    grade_for,
)
from kefu_scoring.models import Evaluation
from kefu_common.pii import mask
from kefu_scoring.rules import DEFAULT_RULESET_PATH, Ruleset, load_ruleset

__all__ = [
    "DEFAULT_RULESET_PATH",
    "Conversation",
    "Hit",
    "Ruleset",
    "Score",
    "Turn",
    "evaluate",
    "grade_for",
    "load_ruleset",
    "score_conversation",
    "validate",
]

# Log fields say `idempotency_key`: `request_id` in a log line is the correlation id.
log = get_logger("kefu.scoring")

MAX_REQUEST_ID_CHARS = 128
MAX_REFERENCE_CHARS = 128  # conversation_id, ticket_id, agent_id
MAX_TURNS = 2_000
MAX_TURN_CHARS = 10_000
# A conversation cannot have happened later than this after the service's clock (clock skew).
MAX_STARTED_AHEAD = timedelta(days=1)


@dataclass(frozen=True)
class Conversation:
    request_id: str  # idempotency key
    turns: tuple[Turn, ...]
    conversation_id: str = ""
    ticket_id: str = ""
    agent_id: str = ""
    # "id@version" of a published ruleset asked for by name; "" for the active ruleset.
    ruleset: str = ""
    category: str = ""  # the ticket's, for voice-of-customer reports
    channel: str = ""
    team: str = ""  # the agent's team, for the review queue
    product: str = ""
    started_at: datetime | None = None  # when the conversation happened; None: now

    @property
    def key(self) -> str:
        """What signals are keyed by: the conversation, else the request."""
        return self.conversation_id or f"request:{self.request_id}"


@dataclass(frozen=True)
class Analysis:
    score: Score
    emotion: Trajectory
    language: str
    satisfaction: satisfaction_model.Satisfaction


# --- pure rules -----------------------------------------------------------------------------


def validate_turn(turn: Turn, i: int) -> None:
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


def validate_references(conversation: Conversation) -> None:
    request_id = conversation.request_id
    if not request_id.strip() or len(request_id) > MAX_REQUEST_ID_CHARS:
        raise InvalidArgument(
            f"request_id is required and must be 1..{MAX_REQUEST_ID_CHARS} characters",
            code="invalid_request_id",
        )
    limits = {"conversation_id": MAX_REFERENCE_CHARS, "ticket_id": MAX_REFERENCE_CHARS,
              "agent_id": MAX_REFERENCE_CHARS, "category": 64, "channel": 32, "team": 64, "product": 128}
    for name, limit in limits.items():
        if len(getattr(conversation, name)) > limit:
            raise InvalidArgument(f"{name} must be at most {limit} characters", code=f"invalid_{name}")


def validate(conversation: Conversation) -> None:
    """Refuse what cannot be scored, naming the offending field."""
    validate_references(conversation)
    turns = conversation.turns
    if not turns:
        raise InvalidArgument("turns must hold at least one turn", code="no_turns")
    if len(turns) > MAX_TURNS:
        raise InvalidArgument(
            f"turns holds {len(turns)} turns; at most {MAX_TURNS} are allowed",
            code="too_many_turns",
        )
    for i, turn in enumerate(turns):
        validate_turn(turn, i)


def request_hash(conversation: Conversation) -> str:
    """sha256 of the canonical request body (everything but the idempotency key itself)."""
    body = {
        "conversation_id": conversation.conversation_id,
        "ticket_id": conversation.ticket_id,
        "agent_id": conversation.agent_id,
        "turns": [[t.role, t.text, t.start_ms, t.end_ms] for t in conversation.turns],
    }
    for extra in ("ruleset", "category", "channel", "team", "product"):  # only when given: older fingerprints hold
        if getattr(conversation, extra):
            body[extra] = getattr(conversation, extra)
    if conversation.started_at is not None:
        body["started_at"] = conversation.started_at.isoformat()
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def evaluate(ruleset: Ruleset, turns: Sequence[Turn]) -> Score:
    return compile_ruleset(ruleset).evaluate(turns)


def analyse(compiled: CompiledRuleset, turns: Sequence[Turn]) -> Analysis:
    """Everything scoring computes for one conversation, no I/O (the benchmark's unit)."""
    ctx = compiled.prepare(turns)
    customer = ctx.by_role.get("customer", [])
    score = compiled.score(ctx)
    emotion = trajectory_of(compiled.emotions(ctx, customer))
    return Analysis(
        score=score,
        emotion=emotion,
        language=ctx.language(),
        satisfaction=satisfaction_model.predict(emotion, score.hits, turns=len(turns), fatal=score.fatal),
    )


def masked_quote(text: str, start: int, end: int) -> str:
    """The quote [start, end) of `text` with PII masked. The whole turn is masked first so a
    number cut by the span is still recognised; e-mail masking changes the length, in which
    case the quote is masked on its own."""
    masked = mask(text)
    if len(masked) == len(text):
        return masked[start:end]
    return mask(text[start:end])


def masked_hits(hits: Iterable[Hit], text_of: Callable[[int], str]) -> list[Hit]:
    """The hits with their quotes PII-masked as `masked_quote` masks them (`text_of`: the text
    of a turn by its index), each turn masked once however many hits it has (a turn full of
    forbidden phrases has a hit per phrase: masking the turn per hit was quadratic)."""
    masked: dict[int, str] = {}
    out = []
    for h in hits:
        if not h.matched_text:
            out.append(h)
            continue
        text = text_of(h.turn_index)
        whole = masked.get(h.turn_index)
        if whole is None:
            whole = masked[h.turn_index] = mask(text)
        quote = whole[h.start:h.end] if len(whole) == len(text) else mask(text[h.start:h.end])
        out.append(h if quote == h.matched_text else replace(h, matched_text=quote))
    return out


def emotion_is_a_risk(emotion: TurnEmotion, text: str) -> bool:
    """Strong negative emotion raises a risk, unless it is strong only thanks to risk words
    (12315, 律师, sue ...): whether those are a threat is risk intent's call, not the
    lexicon's. Then the turn is weighed again without them."""
    if not emotion.strong_negative:
        return False
    if not any(risk.only_risk_words((cue,)) for cue in emotion.cues):
        return True
    return default_lexicon().turn(emotion.turn_index, risk.without_risk_words(text)).strong_negative


# Customer turns a predicted detractor needs before it is a signal without a strongly negative
# turn (see risk_signals).
MIN_TURNS_TO_SIGNAL_DETRACTOR = 2


def risk_signals(
    conversation: Conversation,
    hits: Sequence[Hit],
    emotions: Sequence[TurnEmotion],
    text_of: Callable[[int], str] | None = None,
    *,
    predicted: satisfaction_model.Satisfaction | None = None,
) -> list[signals.Signal]:
    """The first piece of evidence of each risk kind (rule alerts, strong negative emotion,
    a predicted detractor), masked; one signal per kind per conversation."""
    found: dict[str, signals.Signal] = {}
    for hit in sorted(hits, key=lambda h: h.turn_index):
        if hit.alert and hit.alert not in found:
            detail = f"{hit.rule_id} v{hit.rule_version}, turn {hit.turn_index}: {hit.matched_text}"
            if hit.detail:  # why it is a threat (risk_intent rules): the escalation party reads it
                detail = f"{detail} ({hit.detail})"
            found[hit.alert] = signals.Signal.of(conversation.key, hit.alert, detail, hit.turn_index)
    for emotion in emotions:
        text = text_of(emotion.turn_index) if text_of else conversation.turns[emotion.turn_index].text
        if "negative_emotion" not in found and emotion_is_a_risk(emotion, text):
            detail = (
                f"customer turn {emotion.turn_index} negative, intensity {emotion.intensity}:"
                f" {', '.join(emotion.cues)}"
            )
            found["negative_emotion"] = signals.Signal.of(
                conversation.key, "negative_emotion", detail, emotion.turn_index
            )
    # A detractor is signalled only with evidence of how the customer left: a lone customer
    # turn is how they came (stating the problem is negative), not how they left — unless that
    # turn is itself strongly negative (a risk of its own, above).
    left_unhappy = predicted is not None and (
        predicted.customer_turns >= MIN_TURNS_TO_SIGNAL_DETRACTOR or "negative_emotion" in found
    )
    if predicted is not None and predicted.detractor and left_unhappy:
        worst = min(predicted.factors, key=lambda f: f.effect, default=None)
        detail = f"predicted satisfaction {predicted.score} (detractor)" + (
            f"; {worst.factor}: {worst.detail}" if worst else ""
        )
        turn = worst.turn_index if worst and worst.turn_index is not None else 0
        found["predicted_detractor"] = signals.Signal.of(conversation.key, "predicted_detractor", detail, turn)
    return list(found.values())


def emotion_doc(emotion: Trajectory) -> dict[str, object]:
    return {
        "trend": emotion.trend,
        "start": emotion.start,
        "end": emotion.end,
        "overall": emotion.overall,
        "peak_negative": emotion.peak_negative,
        "turns": [t._asdict() for t in emotion.turns],
    }


def masked_satisfaction_doc(predicted: satisfaction_model.Satisfaction, masked_hits: Sequence[Hit]) -> dict:
    """The stored form of a prediction; a threat's quote is the masked hit's."""
    doc = predicted.doc()
    quotes: dict[tuple[int, str], str] = {}
    for h in masked_hits:
        if h.alert:
            quotes.setdefault((h.turn_index, h.alert), h.matched_text)
    for f in doc["factors"]:  # type: ignore[union-attr]
        if f["factor"] == "unresolved_threat":
            kind = f["detail"].split(" ", 1)[0]
            if (f["turn_index"], kind) in quotes:
                f["detail"] = f["detail"].rsplit(": ", 1)[0] + ": " + quotes[(f["turn_index"], kind)]
    return doc


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


async def get_evaluation(session: AsyncSession, evaluation_id: str) -> Evaluation:
    try:
        key = uuid.UUID(evaluation_id)
    except ValueError:
        raise InvalidArgument(
            f"id {evaluation_id[:64]!r} is not a UUID", code="invalid_evaluation_id"
        ) from None
    evaluation = await session.get(Evaluation, key)
    if evaluation is None:
        raise NotFound(f"evaluation {evaluation_id} not found", code="evaluation_not_found")
    return evaluation


async def score_conversation(
    session: AsyncSession,
    *,
    ruleset: Ruleset,
    conversation: Conversation,
    clock: Clock,
) -> Evaluation:
    """Score and store one conversation, or return what an earlier call with the same
    request_id stored. Risk signals go to the outbox in the same transaction. A concurrent
    duplicate surfaces as IntegrityError from the flush."""
    validate(conversation)
    now = clock.now()
    if conversation.started_at is not None and conversation.started_at > now + MAX_STARTED_AHEAD:
        raise InvalidArgument(
            "started_at is in the future: it is when the conversation happened",
            code="invalid_started_at",
        )
    stored = await find_stored(session, conversation=conversation)
    if stored is not None:
        return stored
    turns = conversation.turns
    analysis = analyse(compile_ruleset(ruleset), turns)
    score = analysis.score
    hits = masked_hits(score.hits, lambda i: turns[i].text)
    raised = risk_signals(conversation, hits, analysis.emotion.turns, predicted=analysis.satisfaction)
    queued = []
    if conversation.ticket_id:
        queued = await signals.enqueue(
            session, raised, ticket_id=conversation.ticket_id,
            conversation_id=conversation.conversation_id, now=now,
        )
    evaluation = Evaluation(
        request_id=conversation.request_id,
        request_hash=request_hash(conversation),
        conversation_id=conversation.conversation_id,
        ticket_id=conversation.ticket_id,
        agent_id=conversation.agent_id,
        category=conversation.category,
        channel=conversation.channel,
        team=conversation.team,
        product=conversation.product,
        started_at=conversation.started_at or now,
        ruleset_id=ruleset.id,
        ruleset_version=ruleset.version,
        total_score=score.total,
        grade=score.grade,
        hits=[asdict(hit) for hit in hits],
        dimensions=[asdict(d) for d in score.dimensions],
        fatal=score.fatal,
        not_applicable=list(score.not_applicable),
        emotion=emotion_doc(analysis.emotion),
        satisfaction=masked_satisfaction_doc(analysis.satisfaction, hits),
        predicted_satisfaction=analysis.satisfaction.score,
        satisfaction_label=analysis.satisfaction.label,
        language=analysis.language,
        risk_flags=[s.kind for s in raised],
        signal_ids=queued,
        turns=[
            {"role": t.role, "text": mask(t.text), "start_ms": t.start_ms, "end_ms": t.end_ms}
            for t in turns
        ],
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
        fatal=score.fatal,
        hits=len(hits),
        risk_flags=evaluation.risk_flags,
        predicted_satisfaction=analysis.satisfaction.score,
    )
    return evaluation


# --- real time ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnOutcome:
    alerts: list[tuple[Hit, signals.Signal]]  # masked hit, its signal
    emotion: TurnEmotion | None
    raised: list[signals.Signal]  # to queue when the conversation names a ticket


def realtime_turn(
    *, compiled: CompiledRuleset, conversation: Conversation, turn: Turn, index: int
) -> TurnOutcome:
    """One streamed turn: the ruleset's real-time rules and the customer's emotion on this
    turn alone (no I/O, so an alert costs no database round trip)."""
    validate_turn(turn, index)
    hits = masked_hits(compiled.evaluate_turn(turn, index), lambda _: turn.text)
    emotion = default_lexicon().turn(index, turn.text) if turn.role == "customer" else None
    raised = risk_signals(conversation, hits, [emotion] if emotion else [], lambda _: turn.text)
    by_kind = {s.kind: s for s in raised}
    alerts = [(h, by_kind[h.alert]) for h in hits if h.alert]
    if emotion is not None and "negative_emotion" in by_kind:
        alerts.append((_emotion_hit(emotion), by_kind["negative_emotion"]))
    return TurnOutcome(alerts, emotion, raised)


async def queue_turn_signals(
    session: AsyncSession, *, conversation: Conversation, outcome: TurnOutcome, clock: Clock
) -> dict[str, str]:
    """Queue a streamed turn's risk signals (kind -> signal id); nothing without a ticket."""
    if not (conversation.ticket_id and outcome.raised):
        return {}
    await signals.enqueue(
        session, outcome.raised, ticket_id=conversation.ticket_id,
        conversation_id=conversation.conversation_id, now=clock.now(),
    )
    return {s.kind: s.signal_id for s in outcome.raised}


def log_alerts(conversation: Conversation, outcome: TurnOutcome, queued: dict[str, str]) -> None:
    """One log line per real-time alert (the quote is masked)."""
    for hit, signal in outcome.alerts:
        log.warning(
            "risk_alert", kind=signal.kind, rule_id=hit.rule_id, turn_index=hit.turn_index,
            quote=hit.matched_text, conversation_id=conversation.conversation_id,
            signal_id=queued.get(signal.kind, ""),
        )


def _emotion_hit(emotion: TurnEmotion) -> Hit:
    return Hit(
        rule_id="emotion", rule_version=1, dimension="attitude", turn_index=emotion.turn_index,
        start=0, end=0, matched_text="", points=0.0, severity="major",
        detail=f"negative, intensity {emotion.intensity}: {', '.join(emotion.cues)}",
        alert="negative_emotion",
    )
