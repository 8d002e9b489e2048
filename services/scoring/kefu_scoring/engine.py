"""The rule engine: a ruleset compiled once into one Aho-Corasick automaton, then evaluated
against conversations (whole, or one turn at a time for real-time alerts).

Compilation (`compile_ruleset`, cached by ruleset id + version) collects every keyword and
exclusion of every condition into ONE automaton (pyahocorasick) over normalised text
(text.py). Scoring a conversation runs that automaton once over its turns joined with NUL;
keyword conditions then read the occurrences of their own keywords. A rule whose condition
can only hold when one of its keywords occurred (its *trigger* set) is skipped outright when
none did, which is what keeps 50 rules cheap on a clean transcript.

Scoring (the scorecard): each dimension starts with its points (the weights); hits deduct (or
add) points inside their dimension, clamped to [0, weight]; the total is the sum over the
applicable dimensions rescaled to 100; a fatal hit zeroes the total. Every hit carries its
evidence: turn index, character span in the ORIGINAL text, the quoted text, rule id/version.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice, repeat
from operator import add, attrgetter, sub
from typing import Any, NamedTuple

from kefu_scoring.rules import (
    AndCondition,
    InterruptionCondition,
    KeywordCondition,
    NotCondition,
    OrCondition,
    PiiCondition,
    RegexCondition,
    ResponseLatencyCondition,
    RiskIntentCondition,
    Rule,
    Ruleset,
    Scope,
    Scorecard,
    SilenceCondition,
    SpeechRateCondition,
    TurnCountCondition,
    uses_timing,
)
from kefu_scoring.emotion import EmotionLexicon, TurnEmotion, default_lexicon, model_only
from kefu_scoring.matcher import (
    SEPARATOR,
    KeywordMatcher,
    Occurrences,
    Tagged,
    longest_non_overlapping,
    normalise_joined,
)
from kefu_common.pii import find_pii
from kefu_scoring.regex import SafePattern, compile_pattern
from kefu_scoring.risk import cue_words as risk_cue_words
from kefu_scoring.risk import maybe_hotline, threats_of
from kefu_scoring.text import Normalised, detect_language, normalise_keyword


@dataclass(frozen=True, slots=True)
class Turn:
    role: str | None  # None: the caller left the role unspecified
    text: str
    start_ms: int = 0  # 0: not given
    end_ms: int = 0


class Evidence(NamedTuple):
    turn_index: int
    start: int  # [start, end) in the turn's ORIGINAL text; (0, 0) for timing/absence
    end: int
    text: str
    detail: str = ""


@dataclass(slots=True)
class Hit:
    rule_id: str
    rule_version: int
    dimension: str
    turn_index: int
    start: int  # character span [start, end) in the turn's original text
    end: int
    matched_text: str
    points: float
    severity: str = "minor"
    fatal: bool = False
    detail: str = ""
    alert: str | None = None


@dataclass(frozen=True)
class DimensionScore:
    dimension: str
    weight: float
    score: float  # 0..weight
    applicable: bool


@dataclass(frozen=True)
class Score:
    total: float
    grade: str
    hits: tuple[Hit, ...]
    dimensions: tuple[DimensionScore, ...] = ()
    fatal: bool = False
    not_applicable: tuple[str, ...] = ()  # rule ids


_EMPTY: tuple[bool, list[Evidence]] = (False, [])
# A NamedTuple without the Python frame of its generated __new__ (hot path; all fields given).
_new_tuple = tuple.__new__
_HIT_ORDER = attrgetter("turn_index", "start", "rule_id")
_TEXT = attrgetter("text")
_START_MS = attrgetter("start_ms")
_END_MS = attrgetter("end_ms")
# Anchors, lookarounds and escapes that could behave differently on the joined turns than on
# one turn: such a regex is only ever run turn by turn.
_CONTEXT_SENSITIVE = re.compile(r"[\^$]|\(\?[<=!]|\\[AZbB0x]|\\[^dDwWsS.\\]")
_NO_LIMIT = float("inf")
_CARDS_KEPT = 4096  # scorecard results kept per compiled ruleset
_DIGITISH = "[0-9零〇一二三四五六七八九幺两]"
_MAYBE_PII = re.compile(f"{_DIGITISH}(?:[ (),、-]{{0,2}}{_DIGITISH}){{6}}|@")  # kefu_common.pii separators


@dataclass(slots=True)
class _Ctx:
    """One conversation being evaluated: normalised turns and keyword occurrences."""

    turns: Sequence[Turn]
    raw: str  # the turns' texts joined with SEPARATOR
    texts: list[str]  # the turns' normal forms
    maps: list[Normalised] | None  # None: every turn's index map is the identity
    occ: Occurrences  # rule keyword id -> (turn, start, end) normalised
    lexicon: Tagged  # turn -> emotion lexicon matches (start, end, entry)
    offset: int = 0  # turn index of turns[0] (real time scores one turn at a time)
    timing: bool = False
    by_role: dict[str | None, list[int]] = field(default_factory=dict)
    scopes: dict[int, list[int]] = field(default_factory=dict)
    scope_sets: dict[int, frozenset[int]] = field(default_factory=dict)
    scope_texts: dict[int, str] = field(default_factory=dict)
    results: dict[int, tuple[bool, list[Evidence]]] = field(default_factory=dict)
    _joined: str | None = None
    _gaps: list[int] | None = None
    gap_range: tuple[int, int] = (0, 0)  # smallest and largest gap, set by `gaps`
    _language: str | None = None

    def gaps(self) -> list[int]:
        """Per turn: its start minus the previous turn's end (0 for the first turn)."""
        if self._gaps is None:
            t = self.turns
            self._gaps = [0, *map(sub, map(_START_MS, islice(t, 1, None)), map(_END_MS, t))]
            self.gap_range = min(self._gaps), max(self._gaps)
        return self._gaps

    def language(self) -> str:
        if self._language is None:
            # (the separators are neither letters nor Chinese: they count for nothing)
            self._language = detect_language((self.raw,))
        return self._language

    def joined(self) -> str:
        if self._joined is None:
            self._joined = SEPARATOR.join(self.texts)
        return self._joined

    def evidence(self, ti: int, s: int, e: int, detail: str = "") -> Evidence:
        os_, oe = (s, e) if self.maps is None else self.maps[ti].span(s, e)
        return Evidence(ti + self.offset, os_, oe, self.turns[ti].text[os_:oe], detail)

    def spans_evidence(self, ti: int, spans: list[tuple[int, int, int]], out: list[Evidence]) -> None:
        """`evidence` of every (start, end, _) normalised span of turn `ti`, appended to `out`;
        the identity map (most turns) skips the span lookup."""
        text, index = self.turns[ti].text, ti + self.offset
        norm = None if self.maps is None else self.maps[ti]
        if norm is None or norm.starts is None:
            out.extend(_new_tuple(Evidence, (index, s, e, text[s:e], "")) for s, e, _ in spans)
        else:
            for s, e, _ in spans:
                os_, oe = norm.span(s, e)
                out.append(_new_tuple(Evidence, (index, os_, oe, text[os_:oe], "")))


# A condition compiled into a closure over its own settings (`CompiledRuleset._compile`): no
# dispatch on its type and no reading of its fields when it is evaluated.
Evaluator = Callable[["_Ctx"], tuple[bool, list[Evidence]]]


class _ScopeFns(NamedTuple):
    """A scope compiled: its turns, as a list, as a set, and their normal forms joined with
    SEPARATOR (each computed once per conversation)."""

    turns: Callable[[_Ctx], list[int]]
    turn_set: Callable[[_Ctx], frozenset[int]]
    text: Callable[[_Ctx], str]


class _Planned(NamedTuple):
    """A rule as `score` looks at it."""

    rule: Rule
    plain: bool  # always applicable: no applies_if, no timing to miss, no language limit
    trigger: frozenset[int] | None  # keyword ids of which one must occur (None: no such set)
    run: Evaluator  # the rule's condition
    absent: frozenset[int] | None  # `not` of an any/all/at_least keyword condition: its ids
    first_scope: Callable[[_Ctx], list[int]]  # the first leaf's scope: where absence evidence points
    detail: str  # absence evidence
    # Hit fields: rule id, version, dimension, severity, fatal, alert, every piece of evidence
    # counts, points, the cap on the rule's points in one conversation (absolute).
    fields: tuple[str, int, str, str, bool, str | None, bool, float, float]


class CompiledRuleset:
    """A ruleset turned into one automaton plus one compiled closure per condition. Immutable
    (but for a cache of scorecard results); safe to share between concurrent calls."""

    def __init__(self, ruleset: Ruleset, lexicon: EmotionLexicon | None = None) -> None:
        self.ruleset = ruleset
        self.lexicon = lexicon
        self._ids: dict[str, int] = {}
        self._kw: dict[int, tuple[frozenset[int], frozenset[int]]] = {}  # condition id -> ids
        self._evaluators: dict[int, Evaluator] = {}  # condition id -> its closure
        self._scopes: dict[int, _ScopeFns] = {}  # scope id -> its closures
        # Equal scopes without an anchor (every `role: agent` ...) share one slot of the
        # per-conversation caches.
        self._scope_slots: dict[Any, int] = {}
        self.triggers: dict[str, frozenset[int] | None] = {}
        for rule in ruleset.rules:
            self._compile(rule.condition)
            if rule.applies_if is not None:
                self._compile(rule.applies_if)
            self.triggers[rule.id] = self._trigger(rule.condition)
        self.rule_keywords = len(self._ids)
        # The emotion lexicon rides in the same automaton: one pass per conversation.
        self._lexicon_entries: dict[int, Any] = {}
        for word, entry in (lexicon.vocabulary.items() if lexicon else ()):
            self._lexicon_entries[self._ids.setdefault(word, len(self._ids))] = entry
        self.keywords = list(self._ids)
        # lexicon-only words: read per turn by `emotions`, never by id
        self.matcher = KeywordMatcher(self.keywords, self._lexicon_entries, tag_only_from=self.rule_keywords)
        self.timing_rules = frozenset(
            r.id for r in ruleset.rules if uses_timing(r.condition) or (r.applies_if and uses_timing(r.applies_if))
        )
        self.realtime_rules = tuple(r for r in ruleset.rules if r.realtime)
        self._plan = tuple(self._planned(r) for r in ruleset.rules)
        self._by_id = {p.rule.id: p for p in self._plan}
        # Rules that always apply and can only hit when one of their keywords occurred are
        # looked at only when one did: keyword id -> positions in the plan.
        self._always_applicable = frozenset(p.rule.dimension for p in self._plan if p.plain)
        self._by_keyword: dict[int, list[int]] = {}
        self._unconditional: list[int] = []
        for i, p in enumerate(self._plan):
            if p.plain and p.trigger is not None:
                for kid in p.trigger:
                    self._by_keyword.setdefault(kid, []).append(i)
            else:
                self._unconditional.append(i)
        self._trigger_ids = frozenset(self._by_keyword)
        self._cards: dict[tuple[Any, ...], tuple[tuple[DimensionScore, ...], float, str]] = {}

    # --- compilation ---------------------------------------------------------------------

    def _kid(self, keyword: str) -> int:
        norm = normalise_keyword(keyword)
        return self._ids.setdefault(norm, len(self._ids))

    def _planned(self, rule: Rule) -> _Planned:
        c = rule.condition
        leaf = c
        while isinstance(leaf, NotCondition | AndCondition | OrCondition):
            leaf = leaf.condition if isinstance(leaf, NotCondition) else leaf.conditions[0]
        negated = c.condition if isinstance(c, NotCondition) else None
        absent = (
            self._kw[id(negated)][0]
            if isinstance(negated, KeywordCondition) and negated.match != "none"
            else None
        )
        return _Planned(
            rule,
            rule.applies_if is None and rule.id not in self.timing_rules and not rule.languages,
            self.triggers[rule.id],
            self._evaluators[id(c)],
            absent,
            self._scopes[id(leaf.scope)].turns,
            f"expected and not found: {rule.name or rule.id}",
            (rule.id, rule.version, rule.dimension, rule.severity, rule.fatal, rule.alert,
             rule.count == "each", rule.points, rule.max_points),
        )

    def _compile(self, c: Any) -> Evaluator:
        """The closure evaluating `c` (built once per condition)."""
        run = self._evaluators.get(id(c))
        if run is None:
            if isinstance(c, AndCondition):
                run = self._and(c)
            elif isinstance(c, OrCondition):
                run = self._or(c)
            elif isinstance(c, NotCondition):
                run = self._not(c)
            else:
                scope = self._scope(c.scope)  # anchors first: their keywords get the lower ids
                run = self._leaf_compilers[type(c)](self, c, scope)
            self._evaluators[id(c)] = run
        return run

    def _held(self, c: Any) -> Callable[[_Ctx], tuple[bool, list[Evidence]]]:
        """`c` evaluated at most once per conversation (conditions inside a rule, anchors)."""
        run, key = self._compile(c), id(c)

        def held(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            cached = ctx.results.get(key)
            if cached is None:
                cached = ctx.results[key] = run(ctx)
            return cached

        return held

    def _trigger(self, c: Any) -> frozenset[int] | None:
        """Keyword ids of which at least one must occur for `c` to hold (None: no such set)."""
        if isinstance(c, KeywordCondition):
            return self._kw[id(c)][0] if c.match != "none" else None
        if isinstance(c, OrCondition):
            sets = [self._trigger(child) for child in c.conditions]
            return None if any(s is None for s in sets) else frozenset().union(*sets)  # type: ignore[arg-type]
        if isinstance(c, AndCondition):
            sets = [s for s in (self._trigger(child) for child in c.conditions) if s is not None]
            return min(sets, key=len) if sets else None
        return None

    # --- scopes --------------------------------------------------------------------------

    def _scope(self, sc: Scope) -> _ScopeFns:
        fns = self._scopes.get(id(sc))
        if fns is not None:
            return fns
        anchored = sc.after is not None or sc.before is not None
        value = ("anchored", id(sc)) if anchored else (sc.role, sc.first, sc.last, sc.turns)
        slot = self._scope_slots.setdefault(value, len(self._scope_slots))
        role, first, last, span = sc.role, sc.first, sc.last, sc.turns
        after = None if sc.after is None else self._anchor(sc.after)
        before = None if sc.before is None else self._anchor(sc.before)

        def turns(ctx: _Ctx) -> list[int]:
            cached = ctx.scopes.get(slot)
            if cached is not None:
                return cached
            idx: list[int] = list(range(len(ctx.turns))) if role is None else ctx.by_role.get(role, [])
            if first is not None:
                idx = idx[:first]
            if last is not None:
                idx = idx[-last:]
            if span is not None:
                lo, hi = span[0] - ctx.offset, span[1] - ctx.offset
                idx = [i for i in idx if lo <= i <= hi]
            if after is not None:
                anchor = after(ctx)
                idx = [] if anchor is None else [i for i in idx if i > anchor]
            if before is not None:
                anchor = before(ctx)
                idx = [] if anchor is None else [i for i in idx if i < anchor]
            ctx.scopes[slot] = idx
            return idx

        def turn_set(ctx: _Ctx) -> frozenset[int]:
            cached = ctx.scope_sets.get(slot)
            if cached is None:
                cached = ctx.scope_sets[slot] = frozenset(turns(ctx))
            return cached

        def text(ctx: _Ctx) -> str:
            """A regex that cannot see past its match finds nothing here only if it finds
            nothing in any in-scope turn."""
            cached = ctx.scope_texts.get(slot)
            if cached is None:
                scoped = turns(ctx)
                if len(scoped) == len(ctx.texts):
                    cached = ctx.joined()
                else:
                    texts = ctx.texts
                    cached = SEPARATOR.join([texts[ti] for ti in scoped])
                ctx.scope_texts[slot] = cached
            return cached

        fns = self._scopes[id(sc)] = _ScopeFns(turns, turn_set, text)
        return fns

    def _anchor(self, c: Any) -> Callable[[_Ctx], int | None]:
        """The first turn (relative to the context) where `c` holds with evidence, or None."""
        held = self._held(c)

        def anchor(ctx: _Ctx) -> int | None:
            ok, evidence = held(ctx)
            if not ok or not evidence:
                return None
            return min(e.turn_index for e in evidence) - ctx.offset

        return anchor

    # --- conditions ----------------------------------------------------------------------

    def _and(self, c: AndCondition) -> Evaluator:
        children = [self._held(child) for child in c.conditions]

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            evidence: list[Evidence] = []
            for held in children:
                ok, ev = held(ctx)
                if not ok:
                    return _EMPTY
                evidence.extend(ev)
            return True, evidence

        return run

    def _or(self, c: OrCondition) -> Evaluator:
        children = [self._held(child) for child in c.conditions]

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            evidence: list[Evidence] = []
            any_ok = False
            for held in children:
                ok, ev = held(ctx)
                if ok:
                    any_ok = True
                    evidence.extend(ev)
            return any_ok, evidence

        return run

    def _not(self, c: NotCondition) -> Evaluator:
        held = self._held(c.condition)

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            return (not held(ctx)[0]), []

        return run

    def _turn_count(self, c: TurnCountCondition, scope: _ScopeFns) -> Evaluator:
        least, most, role = c.min, c.max, c.scope.role or "all"
        scoped = scope.turns

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            count = len(scoped(ctx))
            ok = (least is None or count >= least) and (most is None or count <= most)
            return ok, ([Evidence(ctx.offset, 0, 0, "", f"{count} turns ({role})")] if ok else [])

        return run

    def _keyword(self, c: KeywordCondition, scope: _ScopeFns) -> Evaluator:
        kids = frozenset(self._kid(k) for k in c.keywords)
        xids = frozenset(self._kid(k) for k in c.exclude)
        self._kw[id(c)] = (kids, xids)
        match, width, eligible_turns, order = c.match, c.window, scope.turn_set, scope.turns
        none = match == "none"
        need = len(kids) if match == "all" else (c.n or 1)

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            occ = ctx.occ
            found = kids.intersection(occ)  # (the order of keywords does not matter below)
            if not found:
                return (True, []) if none else _EMPTY
            eligible = eligible_turns(ctx)
            if xids:
                excluded = xids.intersection(occ)
                if excluded:
                    eligible = eligible.difference([ti for kid in excluded for ti, _, _ in occ[kid]])
            per_turn: dict[int, list[tuple[int, int, int]]] = {}
            for kid in found:
                for ti, s, e in occ[kid]:
                    if ti in eligible:
                        spans = per_turn.get(ti)
                        if spans is None:
                            per_turn[ti] = [(s, e, kid)]
                        else:
                            spans.append((s, e, kid))
            if none:
                return (not per_turn), []
            if not per_turn:
                return _EMPTY
            for ti, spans in per_turn.items():
                if len(spans) > 1:
                    per_turn[ti] = longest_non_overlapping(spans)
            if match == "any":
                chosen = sorted(per_turn)
            else:
                chosen = _windows(per_turn, width, need, order, ctx)
                if not chosen:
                    return _EMPTY
            evidence: list[Evidence] = []
            for ti in chosen:
                ctx.spans_evidence(ti, per_turn[ti], evidence)
            return True, evidence

        return run

    def _regex(self, c: RegexCondition, scope: _ScopeFns) -> Evaluator:
        # linear-time matcher (RE2) with Python's case-insensitive meaning: kefu_scoring.regex
        pattern = compile_pattern(c.pattern)
        exclusion = compile_pattern(c.not_pattern) if c.not_pattern else None
        literals, alternatives, leading = _requirements(c.pattern)
        # Safe to try once on all in-scope turns joined before trying turn by turn.
        prefilter = not _CONTEXT_SENSITIVE.search(c.pattern)
        scope_text, scoped = scope.text, scope.turns

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            joined = ctx.joined()
            for literal in literals:
                if literal not in joined:
                    return _EMPTY  # a text every match must contain occurs nowhere
            for texts in alternatives:
                for text in texts:
                    if text in joined:
                        break
                else:
                    return _EMPTY  # no text of a required alternation occurs
            if prefilter and not _search(pattern, leading, scope_text(ctx)):
                return _EMPTY  # no match in any in-scope turn
            evidence = []
            for ti in scoped(ctx):
                text = ctx.texts[ti]
                if exclusion is not None and exclusion.search(text):
                    continue
                evidence.extend(ctx.evidence(ti, start, end) for start, end in pattern.spans(text))
            return bool(evidence), evidence

        return run

    def _pii(self, c: PiiCondition, scope: _ScopeFns) -> Evaluator:
        kinds, scoped = c.kinds, scope.turns

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            evidence = []
            for ti in scoped(ctx):
                text = ctx.turns[ti].text
                if not _MAYBE_PII.search(ctx.texts[ti]):
                    continue  # cheap pre-filter: no 7-digit run (spoken digits too) and no '@'
                evidence.extend(
                    Evidence(ti + ctx.offset, p.start, p.end, p.text, p.kind)
                    for p in find_pii(text)
                    if p.kind in kinds
                )
            return bool(evidence), evidence

        return run

    def _risk_intent(self, c: RiskIntentCondition, scope: _ScopeFns) -> Evaluator:
        kinds, scoped = frozenset(c.kinds), scope.turns
        # The cue words ride in the ruleset's automaton: a turn holding none of them (and no
        # hotline digits) cannot hold a threat and is not assessed at all.
        cue_ids = frozenset(self._kid(w) for w in risk_cue_words())

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            occ = ctx.occ
            cued = {o[0] for kid in cue_ids.intersection(occ) for o in occ[kid]}
            texts = ctx.texts
            evidence = [
                Evidence(ti + ctx.offset, v.start, v.end, v.cue, f"{v.kind} {v.reason}")
                for ti in scoped(ctx)
                if ti in cued or maybe_hotline(texts[ti])
                for v in threats_of(ctx.turns[ti].text)
                if v.kind in kinds
            ]
            return bool(evidence), evidence

        return run

    def _gaps(
        self,
        scope: _ScopeFns,
        least: float,
        most: float,
        keep: Callable[[Turn, Turn], bool] | None,
        says: Callable[[int, Turn], str],
    ) -> Evaluator:
        """Timing operators read the gap before each in-scope turn: start of the turn minus
        end of the previous one (negative: the turn started before the previous ended). The
        turns whose gap is within [`least`, `most`], after a turn with timings (not the
        first), and that `keep` (previous turn, turn) accepts hold; `says` (gap, previous
        turn) is their evidence."""
        scoped = scope.turns

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            turns, gaps, off = ctx.turns, ctx.gaps(), ctx.offset
            smallest, largest = ctx.gap_range
            if largest < least or smallest > most:
                return _EMPTY  # no gap at all within the bounds
            # the turns within the bounds first, with one comparison per turn where the other
            # bound is infinite (every built-in timing operator), then the rest of the test
            if most == _NO_LIMIT:
                within = [ti for ti in scoped(ctx) if gaps[ti] >= least]
            elif least == -_NO_LIMIT:
                within = [ti for ti in scoped(ctx) if gaps[ti] <= most]
            else:
                within = [ti for ti in scoped(ctx) if least <= gaps[ti] <= most]
            evidence = [
                _new_tuple(Evidence, (ti + off, 0, 0, "", says(gaps[ti], turns[ti - 1])))
                for ti in within
                if ti and turns[ti - 1].end_ms and (keep is None or keep(turns[ti - 1], turns[ti]))
            ]
            return bool(evidence), evidence

        return run

    def _silence(self, c: SilenceCondition, scope: _ScopeFns) -> Evaluator:
        return self._gaps(
            scope, c.min_ms, _NO_LIMIT, None, lambda gap, _: f"silence of {gap} ms before this turn"
        )

    def _latency(self, c: ResponseLatencyCondition, scope: _ScopeFns) -> Evaluator:
        after = c.after_role
        return self._gaps(
            scope,
            math.nextafter(c.max_ms, _NO_LIMIT),  # more than max_ms
            _NO_LIMIT,
            lambda prev, _: prev.role == after,
            lambda gap, _: f"replied {gap} ms after the {after}",
        )

    def _interruption(self, c: InterruptionCondition, scope: _ScopeFns) -> Evaluator:
        return self._gaps(
            scope,
            -_NO_LIMIT,
            -c.min_overlap_ms,  # an overlap of at least min_overlap_ms
            lambda prev, turn: prev.role != turn.role,
            lambda gap, prev: f"started {-gap} ms before the {prev.role} finished",
        )

    def _speech_rate(self, c: SpeechRateCondition, scope: _ScopeFns) -> Evaluator:
        scoped = scope.turns

        def run(ctx: _Ctx) -> tuple[bool, list[Evidence]]:
            evidence = []
            for ti in scoped(ctx):
                turn = ctx.turns[ti]
                duration = turn.end_ms - turn.start_ms
                if turn.end_ms and duration >= c.min_duration_ms:
                    chars = len(turn.text) - sum(1 for ch in turn.text if ch.isspace())
                    cpm = chars * 60_000 / duration
                    if (c.max_cpm is not None and cpm > c.max_cpm) or (
                        c.min_cpm is not None and cpm < c.min_cpm
                    ):
                        evidence.append(
                            Evidence(ti + ctx.offset, 0, 0, "", f"{cpm:.0f} characters per minute")
                        )
            return bool(evidence), evidence

        return run

    _leaf_compilers: dict[type, Callable[..., Evaluator]] = {
        KeywordCondition: _keyword,
        RegexCondition: _regex,
        PiiCondition: _pii,
        RiskIntentCondition: _risk_intent,
        TurnCountCondition: _turn_count,
        SilenceCondition: _silence,
        ResponseLatencyCondition: _latency,
        InterruptionCondition: _interruption,
        SpeechRateCondition: _speech_rate,
    }

    # --- per conversation ----------------------------------------------------------------

    def prepare(self, turns: Sequence[Turn], offset: int = 0) -> _Ctx:
        texts = list(map(_TEXT, turns))
        raw = SEPARATOR.join(texts)
        normal, maps, joined = normalise_joined(texts, raw)
        occ, lexicon = self.matcher.occurrences(normal, joined)
        by_role: dict[str | None, list[int]] = {}
        for ti, turn in enumerate(turns):
            same = by_role.get(turn.role)
            if same is None:
                by_role[turn.role] = [ti]
            else:
                same.append(ti)
        timing = any(map(_END_MS, turns))
        return _Ctx(turns, raw, normal, maps, occ, lexicon, offset, timing, by_role, _joined=joined)

    def holds(self, c: Any, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        key = id(c)
        cached = ctx.results.get(key)
        if cached is None:
            cached = ctx.results[key] = self._evaluators[key](ctx)
        return cached

    def scope(self, sc: Scope, ctx: _Ctx) -> list[int]:
        return self._scopes[id(sc)].turns(ctx)

    # --- rules and scorecard -------------------------------------------------------------

    def fire(self, rule: Rule, ctx: _Ctx) -> list[Evidence] | None:
        """The evidence of a rule that hits, or None."""
        return _fire(self._by_id[rule.id], ctx)

    def applies(self, rule: Rule, ctx: _Ctx) -> bool:
        if rule.id in self.timing_rules and not ctx.timing:
            return False
        if rule.languages:
            language = ctx.language()
            if not (language == "mixed" or language in rule.languages):
                return False
        return rule.applies_if is None or self.holds(rule.applies_if, ctx)[0]

    def evaluate(self, turns: Sequence[Turn]) -> Score:
        return self.score(self.prepare(turns))

    def score(self, ctx: _Ctx) -> Score:
        card = self.ruleset.scorecard
        earned = dict.fromkeys(card.dimensions, 0.0)
        applicable = set(self._always_applicable)
        not_applicable = []
        hits: list[Hit] = []
        fatal = False
        due = set(self._unconditional)
        by_keyword = self._by_keyword
        for kid in self._trigger_ids.intersection(ctx.occ):
            due.update(by_keyword[kid])
        plan = self._plan
        for i in sorted(due):
            planned = plan[i]
            if planned.plain:  # due: no trigger set, or one of its keywords occurred
                evidence = _evidence(planned, ctx)
            else:
                rule = planned.rule
                if not self.applies(rule, ctx):
                    not_applicable.append(rule.id)
                    continue
                applicable.add(rule.dimension)
                evidence = _fire(planned, ctx)
            if evidence is None:
                continue
            rid, version, dim, severity, fatal_, alert, each, rule_points, cap = planned.fields
            fatal = fatal or fatal_
            left = cap  # points the rule may still count in this conversation
            for n, (ti, start, end, text, detail) in enumerate(evidence):
                points = rule_points if each or n == 0 else 0.0
                if points:
                    if left <= 0:
                        points = 0.0
                    elif (points if points > 0 else -points) > left:
                        points = left if points > 0 else -left
                    left -= points if points > 0 else -points
                    earned[dim] += points
                hits.append(
                    Hit(rid, version, dim, ti, start, end, text, points, severity, fatal_, detail, alert)
                )
        dims, total, grade = self._scorecard(tuple([d in applicable for d in card.dimensions]), earned, fatal)
        hits.sort(key=_HIT_ORDER)
        return Score(total, grade, tuple(hits), dims, fatal, tuple(not_applicable))

    def _scorecard(
        self, applicable: tuple[bool, ...], earned: dict[str, float], fatal: bool
    ) -> tuple[tuple[DimensionScore, ...], float, str]:
        """Dimension scores, total and grade (`scorecard_total`) of the points `earned` per
        dimension (in the scorecard's order). They depend on nothing else, and a few rules
        hit per conversation, so the same combinations recur: each is computed once (the
        results are immutable)."""
        key = (applicable, *earned.values(), fatal)
        card = self._cards.get(key)
        if card is None:
            weights = self.ruleset.scorecard.dimensions
            dims, total = scorecard_total(list(zip(weights, weights.values(), applicable)), earned, fatal)
            if len(self._cards) >= _CARDS_KEPT:
                self._cards.clear()
            card = self._cards[key] = (dims, total, grade_for(self.ruleset, total))
        return card

    def emotions(self, ctx: _Ctx, indexes: Sequence[int]) -> list[TurnEmotion]:
        """Customer emotion of the turns `indexes`: the lexicon matches found by `prepare`
        (needs a ruleset compiled with a lexicon) and the model's logits of every one of
        those turns, computed in one pass."""
        assert self.lexicon is not None, "compiled without an emotion lexicon"
        lexicon, found, off, maps, texts = self.lexicon, ctx.lexicon, ctx.offset, ctx.maps, ctx.texts
        if not indexes:
            return []
        turns = ctx.turns
        logits = lexicon.logits(list(map(texts.__getitem__, indexes)))
        # every turn as the model alone scores it (most turns), built in C: (index,) + the
        # cached fields of its logit; then the turns with a sentiment word are scored again
        numbered = zip(map(off.__add__, indexes) if off else indexes)
        emotions: list[TurnEmotion] = list(
            map(_new_tuple, repeat(TurnEmotion), map(add, numbered, map(model_only, logits)))
        )
        from_matches = lexicon.from_matches
        for p, i in enumerate(indexes):
            matches = found.get(i)
            if matches is not None:
                for _, _, entry in matches:
                    if entry.weight is not None:  # a sentiment word: the lexicon speaks too
                        norm = _new_tuple(Normalised, (texts[i], None, None)) if maps is None else maps[i]
                        emotions[p] = from_matches(i + off, norm, turns[i].text, matches, logits[p])
                        break
        return emotions

    def evaluate_turn(self, turn: Turn, index: int) -> list[Hit]:
        """Real time: the hits of the ruleset's `realtime` rules on this one turn."""
        if not self.realtime_rules:
            return []
        ctx = self.prepare([turn], offset=index)
        hits = []
        for rule in self.realtime_rules:
            evidence = self.fire(rule, ctx)
            for i, ev in enumerate(evidence or ()):
                hits.append(_hit(rule, ev, rule.points if rule.count == "each" or i == 0 else 0.0))
        return hits


def _fire(planned: _Planned, ctx: _Ctx) -> list[Evidence] | None:
    """The evidence of a rule that hits, or None."""
    trigger = planned.trigger
    if trigger is not None and trigger.isdisjoint(ctx.occ):
        return None
    return _evidence(planned, ctx)


def _evidence(planned: _Planned, ctx: _Ctx) -> list[Evidence] | None:
    """`_fire` of a rule known to have a keyword of its trigger set (if any) occur."""
    absent = planned.absent
    if absent is not None and ctx.occ.keys().isdisjoint(absent):  # (looks up the fewer)
        # `not` of a keyword condition none of whose keywords occurred anywhere: it holds
        # without looking at scopes or exclusions (as the full evaluation finds)
        evidence = None
    else:
        # not through `holds`: a rule's own condition is evaluated once per conversation, so
        # its result is not worth caching (conditions inside it and anchors are)
        ok, evidence = planned.run(ctx)
        if not ok:
            return None
    if not evidence:  # an absence (not / none): point at the first turn looked at
        scoped = planned.first_scope(ctx)
        return [_new_tuple(Evidence, ((scoped[0] if scoped else 0) + ctx.offset, 0, 0, "", planned.detail))]
    return evidence


def _search(pattern: SafePattern, leading: str, text: str) -> bool:
    """Whether `pattern` (which cannot see past its match) matches in `text`; where every
    match starts with the text `leading`, only a text holding it is searched at all."""
    if leading and leading not in text:
        return False
    return pattern.search(text)


def _windows(
    per_turn: dict[int, list[tuple[int, int, int]]],
    width: int,
    need: int,
    order_of: Callable[[_Ctx], list[int]],
    ctx: _Ctx,
) -> list[int]:
    """Turns of every window of `width` consecutive in-scope turns (`order_of`) that holds at
    least `need` distinct keywords."""
    if width == 1:
        return sorted(ti for ti, spans in per_turn.items() if len({k for _, _, k in spans}) >= need)
    if len({k for spans in per_turn.values() for _, _, k in spans}) < need:
        return []  # not even all the turns together hold enough
    order = order_of(ctx)
    # only windows holding a turn with a keyword can qualify (need >= 1): the starts within
    # `width` before each such turn's position
    starts: set[int] = set()
    for ti in per_turn:
        at = order.index(ti)
        starts.update(range(max(0, at - width + 1), at + 1))
    chosen: set[int] = set()
    for i in starts:
        window = [ti for ti in order[i : i + width] if ti in per_turn]
        if len({k for ti in window for _, _, k in per_turn[ti]}) >= need:
            chosen.update(window)
    return sorted(chosen)


def _hit(rule: Rule, ev: Evidence, points: float) -> Hit:
    ti, start, end, text, detail = ev
    return Hit(
        rule.id,
        rule.version,
        rule.dimension,
        ti,
        start,
        end,
        text,
        points,
        rule.severity,
        rule.fatal,
        detail,
        rule.alert,
    )


def required_literals(pattern: str) -> tuple[str, ...]:
    """Literal texts every match of `pattern` contains (lower-cased), for a cheap `in` test
    before running the regex: top-level literals, also inside groups and repeats of at least
    one. Only characters that a case-insensitive match can hold in no other form in the
    normalised text are used (`_literal_char`), so the test cannot rule out a match. Empty
    when unsure."""
    return _requirements(pattern)[0]


def required_alternatives(pattern: str) -> tuple[tuple[str, ...], ...]:
    """Like `required_literals` for alternations in a required position: every match
    contains at least one text of each tuple (`(明天|后天)一定` -> `(("明天", "后天"),)`)."""
    return _requirements(pattern)[1]


def leading_literal(pattern: str) -> str:
    """The literal text (as in `required_literals`) every match of `pattern` starts with, or
    "": the pattern need only be tried where that text occurs."""
    return _requirements(pattern)[2]


def _literal_char(ch: str) -> str | None:
    """How the pattern character `ch` stands in the normalised (NFKC, lower-cased) text
    wherever a case-insensitive match holds it, or None when it may stand there as another
    character: "i" and "I" also match the dotless "ı" that normalisation keeps, and a
    character with case (beyond ASCII) may match others ("ß", "ẞ" ...). ASCII "s" and "k"
    also match "ſ" and the Kelvin sign, but NFKC turns those into "s" and "k"."""
    if ch in "iI":
        return None
    if ch.isascii():
        return ch.lower()
    return ch if ch.lower() == ch == ch.upper() else None


def _requirements(pattern: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], str]:
    """(`required_literals`, `required_alternatives`, `leading_literal`) of `pattern`."""
    try:
        from re import _constants as c, _parser  # CPython's own parser (3.11+)

        parsed = _parser.parse(pattern)
    except Exception:  # noqa: BLE001 - any doubt: no pre-filter
        return (), (), ""
    alternatives: list[tuple[str, ...]] = []

    def walk(items: Any, found: list[str], required: bool = True) -> None:
        """Literals of `items` into `found`; alternations into `alternatives` when `items`
        are part of every match (`required`), not only of one branch."""
        run: list[str] = []
        for op, av in items:
            if op is c.LITERAL:
                ch = _literal_char(chr(av))
                if ch is not None:
                    run.append(ch)
                    continue
            if run:
                found.append("".join(run))
                run = []
            if op is c.SUBPATTERN:
                walk(av[-1], found, required)
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
                walk(av[2], found, required)
            elif op is c.BRANCH and required:
                per_branch = []
                for branch in av[1]:
                    literals: list[str] = []
                    walk(branch, literals, False)
                    per_branch.append(max(literals, key=len, default=""))
                if all(per_branch):
                    alternatives.append(tuple(per_branch))
        if run:
            found.append("".join(run))

    found: list[str] = []
    walk(parsed, found)
    leading: list[str] = []
    for op, av in parsed:
        ch = _literal_char(chr(av)) if op is c.LITERAL else None
        if ch is None:
            break
        leading.append(ch)
    return tuple(found), tuple(alternatives), "".join(leading)


def scorecard_total(
    dimensions: Sequence[tuple[str, float, bool]], earned: dict[str, float], fatal: bool
) -> tuple[tuple[DimensionScore, ...], float]:
    """Dimension scores (weight + points earned, clamped to [0, weight]) and the total: the
    applicable dimensions' sum rescaled to 100, zero after a fatal hit."""
    dims = tuple(
        [
            DimensionScore(d, w, round(min(w, max(0.0, w + earned.get(d, 0.0))), 2) if ok else w, ok)
            for d, w, ok in dimensions
        ]
    )
    applicable = [d for d in dims if d.applicable]
    possible = sum([d.weight for d in applicable])
    total = 100.0 if not possible else round(100.0 * sum([d.score for d in applicable]) / possible, 2)
    return dims, 0.0 if fatal else total


def grade_for(ruleset: Ruleset, total: float) -> str:
    return grade_on(ruleset.scorecard, total)


def grade_on(card: Scorecard, total: float) -> str:
    for floor, grade in card.grades:
        if total >= floor:
            return grade
    return card.lowest


_CACHE: dict[tuple[str, int], CompiledRuleset] = {}
_CACHE_LOCK = threading.Lock()
CACHE_SIZE = 64


def compile_ruleset(ruleset: Ruleset) -> CompiledRuleset:
    """The compiled form of `ruleset`, built once per ruleset id + version.

    Versions are immutable: a different ruleset under an id + version already compiled is a
    bug in the caller (publish a new version instead), so it is refused, not silently served
    from the cache."""
    key = (ruleset.id, ruleset.version)
    compiled = _CACHE.get(key)
    if compiled is not None:
        if compiled.ruleset is ruleset or compiled.ruleset == ruleset:
            return compiled
        raise ValueError(f"ruleset {ruleset.id!r} version {ruleset.version} changed; publish a new version")
    with _CACHE_LOCK:
        compiled = _CACHE.get(key)
        if compiled is None:
            compiled = CompiledRuleset(ruleset, default_lexicon())
            if len(_CACHE) >= CACHE_SIZE:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = compiled
    return compiled


def evaluate(ruleset: Ruleset, turns: Sequence[Turn]) -> Score:
    return compile_ruleset(ruleset).evaluate(turns)
