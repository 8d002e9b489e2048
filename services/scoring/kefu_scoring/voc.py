"""Voice of customer (VoC): the reasons customers call about, per category / product / channel,
over a range cut into buckets (docs/reports-contract.md), with the previous span beside each
bucket, spikes (突发) against a trailing baseline, and example quotes — plus the old hot words
and two-word phrases, now without boilerplate.

Conversations are placed by `started_at` (when they happened, migration 0007), not by when
they were scored, so an imported archive lands on its own days. The method (reasons.py) runs
at report time over the stored, already PII-masked transcripts of the range: nothing is added
to the per-conversation scoring cost. Reasons are found on the range's conversations (at most
`MAX_DISCOVERY`, a deterministic sample beyond that) and then every conversation of the range,
its previous spans and the baseline is assigned with the same model, so figures of different
spans are comparable.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common import periods
from kefu_common.errors import InvalidArgument
from kefu_scoring import reasons as method
from kefu_scoring.models import Evaluation
from kefu_common.pii import mask
from kefu_scoring.reasons import terms
from kefu_scoring.rules import AndCondition, KeywordCondition, NotCondition, OrCondition, Ruleset

__all__ = ["Query", "VoiceReport", "report", "script_phrases", "terms"]

SPIKE_LIFT = 3.0
SPIKE_MIN_CONVERSATIONS = 3
MAX_LIMIT = 200
MAX_EXAMPLES = 10
MAX_BASELINE_DAYS = 366
MAX_DISCOVERY = 5_000  # conversations the reasons are found on (all are assigned)
QUOTE_CHARS = 300
GROUP_BY = ("none", "category", "channel", "product")
EARLIEST = date(2, 1, 1)  # every span must start on or after it (UTC conversion stays in range)


@dataclass(frozen=True)
class Query:
    plan: periods.Plan
    baseline_days: int = 28
    category: str = ""
    channel: str = ""
    product: str = ""
    group_by: str = "none"
    limit: int = 20
    examples: int = 3


@dataclass(frozen=True)
class TermCount:
    term: str
    conversations: int
    baseline_conversations: int
    lift: float
    spike: bool


@dataclass(frozen=True)
class Quote:
    evaluation_id: str
    conversation_id: str
    started_at: datetime
    turn_index: int
    text: str


@dataclass(frozen=True)
class ReasonBucket:
    bucket: int
    conversations: int
    previous_conversations: int
    spike: bool


@dataclass(frozen=True)
class ReasonFigures:
    group: str
    rank: int
    label: str
    phrases: list[str]
    conversations: int
    mentions: int
    previous_conversations: int
    baseline_conversations: int
    lift: float
    spike: bool
    buckets: list[ReasonBucket]
    examples: list[Quote]


@dataclass(frozen=True)
class GroupTotal:
    group: str
    conversations: int
    previous_conversations: int
    baseline_conversations: int
    bucket_conversations: list[int]
    bucket_previous_conversations: list[int]
    boilerplate: list[str]


@dataclass(frozen=True)
class VoiceReport:
    start: datetime
    end: datetime
    conversations: int
    baseline_conversations: int
    terms: list[TermCount]
    phrases: list[TermCount]
    reasons: list[ReasonFigures] = field(default_factory=list)
    groups: list[GroupTotal] = field(default_factory=list)


def script_phrases(ruleset: Ruleset) -> frozenset[str]:
    """The words of the ruleset's greeting and closing scripts (rules named so): agents say
    them, so they are never a customer's reason."""
    found: list[str] = []

    def walk(condition: Any) -> None:
        if isinstance(condition, KeywordCondition):
            found.extend(condition.keywords)
        elif isinstance(condition, NotCondition):
            walk(condition.condition)
        elif isinstance(condition, AndCondition | OrCondition):
            for c in condition.conditions:
                walk(c)

    for rule in ruleset.rules:
        if "greeting" in rule.id or "closing" in rule.id:
            walk(rule.condition)
    return method.script_words(found)


@dataclass
class _Row:
    id: str
    conversation_id: str
    started_at: datetime
    group: str
    customer: list[tuple[int, str]]  # (turn index, masked text)
    features: frozenset[str]
    agent_words: frozenset[str]
    month: int
    in_range: bool = False
    bucket: int = -1
    previous_of: list[int] = field(default_factory=list)  # buckets whose previous span holds it
    before_range: bool = False  # in the span of equal length just before the range
    baseline: bool = False


def _validate(query: Query) -> None:
    if not 0 <= query.baseline_days <= MAX_BASELINE_DAYS:
        raise InvalidArgument(f"baseline_days must be 0..{MAX_BASELINE_DAYS}", code="invalid_baseline_days")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1..{MAX_LIMIT}", code="invalid_limit")
    if not 0 <= query.examples <= MAX_EXAMPLES:
        raise InvalidArgument(f"examples must be 0..{MAX_EXAMPLES}", code="invalid_examples")
    if query.group_by not in GROUP_BY:
        raise InvalidArgument(f"group_by must be one of {', '.join(GROUP_BY)}", code="invalid_group_by")


def _earliest(query: Query) -> date:
    """The first local date any span of the report needs, refused before it leaves the
    calendar (a far-past range with a long baseline)."""
    plan = query.plan
    whole = periods.Span(plan.start, plan.end)
    days = max(query.baseline_days, whole.days)
    if (plan.start - EARLIEST).days < days:
        raise InvalidArgument(
            f"the range and its baseline or previous span must start on or after {EARLIEST}",
            code="invalid_range",
        )
    first = min([plan.start - timedelta(days=days)] + [b.previous.start for b in plan.buckets if b.previous])
    if first < EARLIEST:
        raise InvalidArgument(f"the previous spans must start on or after {EARLIEST}", code="invalid_range")
    return first


def _in(span: periods.Span, tz: Any, t: datetime) -> bool:
    lo, hi = span.utc(tz)
    return lo <= t < hi


def _place(row: _Row, query: Query, whole: periods.Span, baseline: periods.Span | None) -> None:
    plan, tz = query.plan, query.plan.tz
    for b in plan.buckets:
        if _in(b.span, tz, row.started_at):
            row.in_range, row.bucket = True, b.index
        if b.previous is not None and _in(b.previous, tz, row.started_at):
            row.previous_of.append(b.index)
    row.before_range = _in(whole.before(), tz, row.started_at)
    row.baseline = baseline is not None and _in(baseline, tz, row.started_at)


async def _rows(session: AsyncSession, query: Query, first: date) -> list[_Row]:
    plan = query.plan
    tz = plan.tz
    lo = periods.local_midnight(first, tz)
    hi = periods.local_midnight(plan.end, tz)
    stmt = select(
        Evaluation.id, Evaluation.conversation_id, Evaluation.started_at, Evaluation.category,
        Evaluation.channel, Evaluation.product, Evaluation.turns,
    ).where(col(Evaluation.started_at) >= lo, col(Evaluation.started_at) < hi)
    for name in ("category", "channel", "product"):
        if getattr(query, name):
            stmt = stmt.where(col(getattr(Evaluation, name)) == getattr(query, name))
    whole = periods.Span(plan.start, plan.end)
    baseline = (
        periods.Span(plan.start - timedelta(days=query.baseline_days), plan.start)
        if query.baseline_days else None
    )
    out = []
    for eid, conversation_id, started_at, category, channel, product, turns in (await session.exec(stmt)).all():
        customer = [(i, str(t.get("text", ""))) for i, t in enumerate(turns) if t.get("role") == "customer"]
        agent = [str(t.get("text", "")) for t in turns if t.get("role") == "agent"]
        local = started_at.astimezone(tz)
        group = {"category": category, "channel": channel, "product": product}.get(query.group_by, "")
        row = _Row(
            id=str(eid), conversation_id=conversation_id, started_at=started_at, group=group,
            customer=customer, features=method.features(t for _, t in customer),
            agent_words=method.script_words(agent), month=local.year * 12 + local.month,
        )
        _place(row, query, whole, baseline)
        out.append(row)
    return out


def _lift(count: int, n: int, before: int, nb: int) -> float:
    return ((count + 1) / (n + 1)) / ((before + 1) / (nb + 1))


def _is_spike(count: int, n: int, before: int, nb: int, baseline_days: int) -> bool:
    return bool(baseline_days) and count >= SPIKE_MIN_CONVERSATIONS and _lift(count, n, before, nb) >= SPIKE_LIFT


def _sample(rows: list[_Row]) -> list[_Row]:
    if len(rows) <= MAX_DISCOVERY:
        return rows
    return sorted(rows, key=lambda r: hashlib.sha256(r.id.encode()).digest())[:MAX_DISCOVERY]


def _quote(row: _Row, reason: method.Reason) -> Quote:
    weights = dict(reason.phrases)

    def score(text: str) -> float:
        return sum(weights.get(p, 0.0) for p in method.features([text]))

    turn_index, text = max(row.customer, key=lambda it: (score(it[1]), -it[0]))
    quote = mask(text)
    return Quote(row.id, row.conversation_id, row.started_at, turn_index, quote[:QUOTE_CHARS])


@dataclass
class _Group:
    figures: list[ReasonFigures]
    total: GroupTotal
    words: Counter[str]
    pairs: Counter[str]
    base_words: Counter[str]
    base_pairs: Counter[str]


def _group_figures(group: str, rows: list[_Row], query: Query, scripts: frozenset[str]) -> _Group:
    in_range = [r for r in rows if r.in_range]
    model = method.discover(
        [method.Conversation(r.features, r.agent_words, r.month) for r in _sample(in_range)], scripts
    )
    n_buckets = len(query.plan.buckets)
    n = len(in_range)
    nb = sum(r.baseline for r in rows)
    n_before = sum(r.before_range for r in rows)
    totals = [0] * n_buckets
    prev_totals = [0] * n_buckets
    k = len(model.reasons)
    main = [0] * k
    mentions = [0] * k
    before = [0] * k
    base = [0] * k
    by_bucket = [[0] * n_buckets for _ in range(k)]
    by_prev = [[0] * n_buckets for _ in range(k)]
    examples: list[list[tuple[float, _Row]]] = [[] for _ in range(k)]
    words, pairs, base_words, base_pairs = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    for r in rows:
        heard = model.context(r.features, r.agent_words)
        best, mentioned = model.assign(heard)
        visible = [f for f in r.features if not any(w in model.boilerplate for w in f.split(" "))]
        for i in r.previous_of:
            prev_totals[i] += 1
            if best >= 0:
                by_prev[best][i] += 1
        if r.before_range and best >= 0:
            before[best] += 1
        if r.baseline:
            base_words.update(f for f in visible if " " not in f)
            base_pairs.update(f for f in visible if " " in f)
            if best >= 0:
                base[best] += 1
        if not r.in_range:
            continue
        totals[r.bucket] += 1
        words.update(f for f in visible if " " not in f)
        pairs.update(f for f in visible if " " in f)
        for i in mentioned:
            mentions[i] += 1
        if best >= 0:
            main[best] += 1
            by_bucket[best][r.bucket] += 1
            if query.examples:
                examples[best].append((model.scores(heard)[best], r))
    figures = []
    for i, reason in enumerate(model.reasons):
        if not main[i]:
            continue
        picked = sorted(examples[i], key=lambda e: (-e[0], e[1].started_at, e[1].id))[: query.examples]
        bucket_figures = [
            ReasonBucket(
                b, by_bucket[i][b], by_prev[i][b],
                _is_spike(by_bucket[i][b], totals[b], base[i], nb, query.baseline_days),
            )
            for b in range(n_buckets)
        ]
        figures.append(
            ReasonFigures(
                group=group, rank=0, label=reason.label, phrases=[p for p, _ in reason.phrases[:8]],
                conversations=main[i], mentions=mentions[i], previous_conversations=before[i],
                baseline_conversations=base[i], lift=round(_lift(main[i], n, base[i], nb), 3),
                spike=_is_spike(main[i], n, base[i], nb, query.baseline_days),
                buckets=bucket_figures, examples=[_quote(r, reason) for _, r in picked],
            )
        )
    figures.sort(key=lambda f: (-f.conversations, f.label))
    figures = [ReasonFigures(**{**f.__dict__, "rank": j + 1}) for j, f in enumerate(figures[: query.limit])]
    total = GroupTotal(group, n, n_before, nb, totals, prev_totals, sorted(model.boilerplate - scripts))
    return _Group(figures, total, words, pairs, base_words, base_pairs)


def _rank(period: Counter[str], baseline: Counter[str], n: int, nb: int, limit: int, days: int) -> list[TermCount]:
    out = []
    for term, count in period.items():
        before = baseline.get(term, 0)
        lift = round(_lift(count, n, before, nb), 3)
        out.append(TermCount(term, count, before, lift, _is_spike(count, n, before, nb, days)))
    out.sort(key=lambda t: (-t.conversations, -t.lift, t.term))
    return out[:limit]


async def report(session: AsyncSession, query: Query, *, scripts: frozenset[str] = frozenset()) -> VoiceReport:
    _validate(query)
    first = _earliest(query)
    rows = await _rows(session, query, first)
    by_group: dict[str, list[_Row]] = defaultdict(list)
    for r in rows:
        by_group[r.group].append(r)
    if query.group_by == "none":
        by_group.setdefault("", [])
    reasons: list[ReasonFigures] = []
    groups: list[GroupTotal] = []
    words, pairs, base_words, base_pairs = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    n = nb = 0
    for group in sorted(by_group):
        found = _group_figures(group, by_group[group], query, scripts)
        reasons += found.figures
        groups.append(found.total)
        words.update(found.words)
        pairs.update(found.pairs)
        base_words.update(found.base_words)
        base_pairs.update(found.base_pairs)
        n += found.total.conversations
        nb += found.total.baseline_conversations
    lo, hi = periods.Span(query.plan.start, query.plan.end).utc(query.plan.tz)
    days = query.baseline_days
    return VoiceReport(
        lo, hi, n, nb,
        _rank(words, base_words, n, nb, query.limit, days),
        _rank(pairs, base_pairs, n, nb, query.limit, days),
        reasons, groups,
    )


def plan_of_instants(start: datetime, end: datetime, tz: str = periods.DEFAULT_TZ) -> periods.Plan:
    """The one-bucket plan of the old instant parameters: whole local days covering
    `[start, end)` (an end after midnight takes its day)."""
    zone = periods.zone(tz)
    first = start.astimezone(zone).date()
    last_local = end.astimezone(zone)
    last = last_local.date()
    if last_local.time() != datetime.min.time() or last == first:
        last += timedelta(days=1)
    return periods.plan(first, last, tz=zone)

