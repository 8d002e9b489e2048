"""Voice of customer (VoC): hot words and phrases of what customers say, per category,
channel and period, with spikes (突发) against a trailing baseline.

Words come from the customers' turns of stored evaluations (already PII-masked), segmented
with rjieba (jieba's dictionary and algorithm in Rust, dictionary inside the wheel: nothing
downloaded) and filtered by a shipped stop-word list (lexicon/stopwords.txt). A term counts
once per conversation (document frequency), so one angry customer repeating a word does not
make it hot. Lift = (share of the period's conversations mentioning it + 1/N) / (share in the
baseline + 1/N), smoothed so a new word in a small sample is not an instant spike; a spike
is lift >= 3 in at least 3 conversations. Phrases are adjacent word pairs ("不适合 老人"),
the nearest thing to "top reasons" a lexical method gives.

Computed on demand from the stored evaluations of the period and its baseline (one scan);
a daily term table maintained at scoring time is the next step for months of data.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import InvalidArgument
from kefu_scoring.models import Evaluation
from kefu_scoring.reasons import terms

SPIKE_LIFT = 3.0
SPIKE_MIN_CONVERSATIONS = 3
MAX_LIMIT = 200
MAX_PERIOD = timedelta(days=366)
_NEGATORS = frozenset({"不", "没", "没有", "别", "未"})
_WORD = re.compile(r"^(?:[\u4e00-\u9fff]{2,}|[a-z][a-z'-]{2,})$")


@dataclass(frozen=True)
class TermCount:
    term: str
    conversations: int
    baseline_conversations: int
    lift: float
    spike: bool


@dataclass(frozen=True)
class VoiceReport:
    start: datetime
    end: datetime
    conversations: int
    baseline_conversations: int
    terms: list[TermCount]
    phrases: list[TermCount]


def _conversation_terms(turns: Iterable[dict[str, object]]) -> tuple[set[str], set[str]]:
    words: set[str] = set()
    pairs: set[str] = set()
    for turn in turns:
        if turn.get("role") != "customer":
            continue
        found = terms(str(turn.get("text", "")))
        words.update(found)
        pairs.update(f"{a} {b}" for a, b in zip(found, found[1:]) if a != b)
    return words, pairs


def _rank(period: Counter[str], baseline: Counter[str], n: int, nb: int, limit: int) -> list[TermCount]:
    out = []
    for term, count in period.most_common():
        before = baseline.get(term, 0)
        lift = ((count + 1) / (n + 1)) / ((before + 1) / (nb + 1))
        spike = lift >= SPIKE_LIFT and count >= SPIKE_MIN_CONVERSATIONS
        out.append(TermCount(term, count, before, round(lift, 3), spike))
    out.sort(key=lambda t: (-t.conversations, -t.lift, t.term))
    return out[:limit]


async def report(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    baseline_days: int,
    category: str = "",
    channel: str = "",
    limit: int = 20,
) -> VoiceReport:
    if end <= start or end - start > MAX_PERIOD:
        raise InvalidArgument("the period must be non-empty and at most 366 days", code="invalid_period")
    if not 0 <= baseline_days <= 366:
        raise InvalidArgument("baseline_days must be 0..366", code="invalid_baseline_days")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidArgument(f"limit must be 1..{MAX_LIMIT}", code="invalid_limit")
    baseline_start = start - timedelta(days=baseline_days)
    stmt = select(Evaluation.created_at, Evaluation.turns).where(
        col(Evaluation.created_at) >= baseline_start, col(Evaluation.created_at) < end
    )
    if category:
        stmt = stmt.where(col(Evaluation.category) == category)
    if channel:
        stmt = stmt.where(col(Evaluation.channel) == channel)
    words, pairs = Counter[str](), Counter[str]()
    base_words, base_pairs = Counter[str](), Counter[str]()
    n = nb = 0
    for created_at, turns in (await session.exec(stmt)).all():
        w, p = _conversation_terms(turns)
        if created_at >= start:
            n += 1
            words.update(w)
            pairs.update(p)
        else:
            nb += 1
            base_words.update(w)
            base_pairs.update(p)
    return VoiceReport(
        start, end, n, nb,
        _rank(words, base_words, n, nb, limit),
        _rank(pairs, base_pairs, n, nb, limit),
    )
