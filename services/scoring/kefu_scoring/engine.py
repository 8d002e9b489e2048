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

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter
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
    Rule,
    Ruleset,
    Scope,
    Scorecard,
    SilenceCondition,
    SpeechRateCondition,
    TurnCountCondition,
    uses_timing,
)
from kefu_scoring.emotion import EmotionLexicon, TurnEmotion, default_lexicon
from kefu_scoring.matcher import SEPARATOR, KeywordMatcher, longest_non_overlapping, normalise_joined
from kefu_scoring.pii import find_pii
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
_END_MS = attrgetter("end_ms")
# Anchors, lookarounds and escapes that could behave differently on the joined turns than on
# one turn: such a regex is only ever run turn by turn.
_CONTEXT_SENSITIVE = re.compile(r"[\^$]|\(\?[<=!]|\\[AZbB0x]|\\[^dDwWsS.\\]")
_DIGITISH = "[0-9零〇一二三四五六七八九幺两]"
_MAYBE_PII = re.compile(f"{_DIGITISH}(?:[ ()-]{{0,2}}{_DIGITISH}){{6}}|@")


@dataclass(slots=True)
class _Ctx:
    """One conversation being evaluated: normalised turns and keyword occurrences."""

    turns: Sequence[Turn]
    texts: list[str]  # the turns' normal forms
    maps: list[Normalised] | None  # None: every turn's index map is the identity
    occ: dict[int, list[tuple[int, int, int]]]  # keyword id -> (turn, start, end) normalised
    offset: int = 0  # turn index of turns[0] (real time scores one turn at a time)
    timing: bool = False
    by_role: dict[str | None, list[int]] = field(default_factory=dict)
    scopes: dict[int, list[int]] = field(default_factory=dict)
    scope_sets: dict[int, frozenset[int]] = field(default_factory=dict)
    scope_texts: dict[int, str] = field(default_factory=dict)
    results: dict[int, tuple[bool, list[Evidence]]] = field(default_factory=dict)
    _joined: str | None = None
    _gaps: list[int] | None = None
    _language: str | None = None

    def gaps(self) -> list[int]:
        if self._gaps is None:
            t = self.turns
            self._gaps = [0] + [b.start_ms - a.end_ms for a, b in zip(t, islice(t, 1, None))]
        return self._gaps

    def language(self) -> str:
        if self._language is None:
            self._language = detect_language([t.text for t in self.turns])
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


class _Firing(NamedTuple):
    trigger: frozenset[int] | None  # keyword ids of which one must occur (None: no such set)
    condition: Any
    operator: Any  # the evaluator of `condition`'s operator
    absent: frozenset[int] | None  # `not` of an any/all/at_least keyword condition: its ids
    first_scope: Scope  # the first leaf's scope: where absence evidence points
    detail: str  # absence evidence


class CompiledRuleset:
    """A ruleset turned into one automaton plus per-condition lookups. Immutable; safe to
    share between concurrent calls."""

    def __init__(self, ruleset: Ruleset, lexicon: EmotionLexicon | None = None) -> None:
        self.ruleset = ruleset
        self.lexicon = lexicon
        self._ids: dict[str, int] = {}
        self._kw: dict[int, tuple[frozenset[int], frozenset[int]]] = {}
        self._regex: dict[int, tuple[re.Pattern[str], re.Pattern[str] | None]] = {}
        # Regexes safe to try once on all turns joined before trying turn by turn.
        self._regex_prefilter: set[int] = set()
        self._regex_literals: dict[int, tuple[str, ...]] = {}
        self._regex_alternatives: dict[int, tuple[tuple[str, ...], ...]] = {}
        self.triggers: dict[str, frozenset[int] | None] = {}
        self._scope_keys: dict[int, tuple[Any, ...]] = {}  # scope id -> its value, if no anchor
        for rule in ruleset.rules:
            self._walk(rule.condition)
            if rule.applies_if is not None:
                self._walk(rule.applies_if)
            self.triggers[rule.id] = self._trigger(rule.condition)
        self._operators: dict[type, Any] = {
            KeywordCondition: self._keyword,
            RegexCondition: self._regex_eval,
            PiiCondition: self._pii,
            TurnCountCondition: self._turn_count,
            SilenceCondition: self._timing,
            ResponseLatencyCondition: self._timing,
            InterruptionCondition: self._timing,
            SpeechRateCondition: self._timing,
            AndCondition: self._and,
            OrCondition: self._or,
            NotCondition: self._not,
        }
        # What firing a rule needs, looked up once: rule id -> _Firing.
        self._firing: dict[str, _Firing] = {}
        for rule in ruleset.rules:
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
            self._firing[rule.id] = _Firing(
                self.triggers[rule.id],
                c,
                self._operators[type(c)],
                absent,
                leaf.scope,
                f"expected and not found: {rule.name or rule.id}",
            )
        self.rule_keywords = len(self._ids)
        # The emotion lexicon rides in the same automaton: one pass per conversation.
        self._lexicon_entries: dict[int, Any] = {}
        for word, entry in (lexicon.vocabulary.items() if lexicon else ()):
            self._lexicon_entries[self._ids.setdefault(word, len(self._ids))] = entry
        self._lexicon_ids = frozenset(self._lexicon_entries)
        self._sentiment_ids = frozenset(k for k, e in self._lexicon_entries.items() if e.weight is not None)
        self.keywords = list(self._ids)
        self.matcher = KeywordMatcher(self.keywords)
        self.timing_rules = frozenset(
            r.id for r in ruleset.rules if uses_timing(r.condition) or (r.applies_if and uses_timing(r.applies_if))
        )
        self.realtime_rules = tuple(r for r in ruleset.rules if r.realtime)
        # (rule, always applicable): no applies_if and no timing to miss.
        self._plan = tuple(
            (r, r.applies_if is None and r.id not in self.timing_rules and not r.languages)
            for r in ruleset.rules
        )
        # Rules that always apply and can only hit when one of their keywords occurred are
        # looked at only when one did: keyword id -> positions in the plan.
        self._always_applicable = frozenset(r.dimension for r, plain in self._plan if plain)
        self._by_keyword: dict[int, list[int]] = {}
        self._unconditional: list[int] = []
        for i, (r, plain) in enumerate(self._plan):
            trigger = self.triggers[r.id]
            if plain and trigger is not None:
                for kid in trigger:
                    self._by_keyword.setdefault(kid, []).append(i)
            else:
                self._unconditional.append(i)
        self._trigger_ids = frozenset(self._by_keyword)
        self._plan_firing = tuple(self._firing[r.id] for r, _ in self._plan)
        # Hit fields per plan position: rule id, version, dimension, severity, fatal, alert,
        # every piece of evidence counts, points.
        self._hit_fields = tuple(
            (r.id, r.version, r.dimension, r.severity, r.fatal, r.alert, r.count == "each", r.points)
            for r, _ in self._plan
        )

    # --- compilation ---------------------------------------------------------------------

    def _kid(self, keyword: str) -> int:
        norm = normalise_keyword(keyword)
        return self._ids.setdefault(norm, len(self._ids))

    def _walk(self, c: Any) -> None:
        if isinstance(c, AndCondition | OrCondition):
            for child in c.conditions:
                self._walk(child)
            return
        if isinstance(c, NotCondition):
            self._walk(c.condition)
            return
        scope: Scope = c.scope
        for anchor in (scope.after, scope.before):
            if anchor is not None:
                self._walk(anchor)
        if scope.after is None and scope.before is None:
            # equal scopes of different conditions (every `role: agent` ...) share one
            # cached list of turns per conversation
            self._scope_keys[id(scope)] = (scope.role, scope.first, scope.last, scope.turns)
        if isinstance(c, KeywordCondition):
            self._kw[id(c)] = (
                frozenset(self._kid(k) for k in c.keywords),
                frozenset(self._kid(k) for k in c.exclude),
            )
        elif isinstance(c, RegexCondition):
            self._regex[id(c)] = (
                re.compile(c.pattern, re.IGNORECASE),
                re.compile(c.not_pattern, re.IGNORECASE) if c.not_pattern else None,
            )
            if not _CONTEXT_SENSITIVE.search(c.pattern):
                self._regex_prefilter.add(id(c))
            self._regex_literals[id(c)] = required_literals(c.pattern)
            self._regex_alternatives[id(c)] = required_alternatives(c.pattern)

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

    # --- per conversation ----------------------------------------------------------------

    def prepare(self, turns: Sequence[Turn], offset: int = 0) -> _Ctx:
        texts = [t.text for t in turns]
        normal, maps, joined = normalise_joined(texts)
        occ = self.matcher.occurrences(normal, joined)
        roles = [t.role for t in turns]
        by_role = {role: [ti for ti, r in enumerate(roles) if r == role] for role in dict.fromkeys(roles)}
        timing = any(map(_END_MS, turns))
        return _Ctx(turns, normal, maps, occ, offset, timing, by_role, _joined=joined)

    def holds(self, c: Any, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        key = id(c)
        cached = ctx.results.get(key)
        if cached is None:
            cached = ctx.results[key] = self._operators[type(c)](c, ctx)
        return cached

    def _and(self, c: AndCondition, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        evidence: list[Evidence] = []
        for child in c.conditions:
            ok, ev = self.holds(child, ctx)
            if not ok:
                return _EMPTY
            evidence.extend(ev)
        return True, evidence

    def _or(self, c: OrCondition, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        evidence: list[Evidence] = []
        any_ok = False
        for child in c.conditions:
            ok, ev = self.holds(child, ctx)
            if ok:
                any_ok = True
                evidence.extend(ev)
        return any_ok, evidence

    def _not(self, c: NotCondition, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        return (not self.holds(c.condition, ctx)[0]), []

    def _turn_count(self, c: TurnCountCondition, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        count = len(self.scope(c.scope, ctx))
        ok = (c.min is None or count >= c.min) and (c.max is None or count <= c.max)
        role = c.scope.role or "all"
        return ok, ([Evidence(ctx.offset, 0, 0, "", f"{count} turns ({role})")] if ok else [])

    def scope(self, sc: Scope, ctx: _Ctx) -> list[int]:
        key = id(sc)
        key = self._scope_keys.get(key, key)
        cached = ctx.scopes.get(key)
        if cached is not None:
            return cached
        idx: list[int] = list(range(len(ctx.turns))) if sc.role is None else ctx.by_role.get(sc.role, [])
        if sc.first is not None:
            idx = idx[: sc.first]
        if sc.last is not None:
            idx = idx[-sc.last :]
        if sc.turns is not None:
            lo, hi = sc.turns[0] - ctx.offset, sc.turns[1] - ctx.offset
            idx = [i for i in idx if lo <= i <= hi]
        if sc.after is not None:
            anchor = self._anchor(sc.after, ctx)
            idx = [] if anchor is None else [i for i in idx if i > anchor]
        if sc.before is not None:
            anchor = self._anchor(sc.before, ctx)
            idx = [] if anchor is None else [i for i in idx if i < anchor]
        ctx.scopes[key] = idx
        return idx

    def scope_set(self, sc: Scope, ctx: _Ctx) -> frozenset[int]:
        """`scope` as a set (cached per conversation)."""
        key = id(sc)
        key = self._scope_keys.get(key, key)
        cached = ctx.scope_sets.get(key)
        if cached is None:
            cached = ctx.scope_sets[key] = frozenset(self.scope(sc, ctx))
        return cached

    def scope_text(self, sc: Scope, ctx: _Ctx) -> str:
        """The normalised in-scope turns joined with SEPARATOR (cached per conversation): a
        regex that cannot see past its match finds nothing here only if it finds nothing in
        any in-scope turn."""
        key = id(sc)
        key = self._scope_keys.get(key, key)
        cached = ctx.scope_texts.get(key)
        if cached is None:
            scoped = self.scope(sc, ctx)
            if len(scoped) == len(ctx.texts):
                cached = ctx.joined()
            else:
                texts = ctx.texts
                cached = SEPARATOR.join([texts[ti] for ti in scoped])
            ctx.scope_texts[key] = cached
        return cached

    def _anchor(self, c: Any, ctx: _Ctx) -> int | None:
        ok, evidence = self.holds(c, ctx)
        if not ok or not evidence:
            return None
        return min(e.turn_index for e in evidence) - ctx.offset

    def _keyword(self, c: KeywordCondition, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        kids, xids = self._kw[id(c)]
        occ = ctx.occ
        found = kids.intersection(occ)  # (the order of keywords does not matter below)
        if not found:
            return (True, []) if c.match == "none" else _EMPTY
        eligible = self.scope_set(c.scope, ctx)
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
        if c.match == "none":
            return (not per_turn), []
        if not per_turn:
            return _EMPTY
        for ti, spans in per_turn.items():
            per_turn[ti] = longest_non_overlapping(spans)
        if c.match == "any":
            chosen = sorted(per_turn)
        else:
            need = len(kids) if c.match == "all" else (c.n or 1)
            chosen = self._windows(c, ctx, per_turn, need)
            if not chosen:
                return _EMPTY
        evidence: list[Evidence] = []
        for ti in chosen:
            ctx.spans_evidence(ti, per_turn[ti], evidence)
        return True, evidence

    def _windows(
        self, c: KeywordCondition, ctx: _Ctx, per_turn: dict[int, list[tuple[int, int, int]]], need: int
    ) -> list[int]:
        """Turns of every window of `c.window` consecutive in-scope turns that holds at least
        `need` distinct keywords."""
        if c.window == 1:
            return sorted(ti for ti, spans in per_turn.items() if len({k for _, _, k in spans}) >= need)
        order = self.scope(c.scope, ctx)
        width = c.window
        # only windows holding a turn with a keyword can qualify (need >= 1): the starts
        # within `width` before each such turn's position
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

    def _regex_eval(self, c: RegexCondition, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        pattern, exclusion = self._regex[id(c)]
        literals = self._regex_literals[id(c)]
        joined = ctx.joined()
        for literal in literals:
            if literal not in joined:
                return _EMPTY  # a text every match must contain occurs nowhere
        for texts in self._regex_alternatives[id(c)]:
            for text in texts:
                if text in joined:
                    break
            else:
                return _EMPTY  # no text of a required alternation occurs
        if id(c) in self._regex_prefilter and not pattern.search(self.scope_text(c.scope, ctx)):
            return _EMPTY  # no match in any in-scope turn
        evidence = []
        for ti in self.scope(c.scope, ctx):
            text = ctx.texts[ti]
            if exclusion is not None and exclusion.search(text):
                continue
            evidence.extend(ctx.evidence(ti, m.start(), m.end()) for m in pattern.finditer(text))
        return bool(evidence), evidence

    def _pii(self, c: PiiCondition, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        evidence = []
        for ti in self.scope(c.scope, ctx):
            text = ctx.turns[ti].text
            if not _MAYBE_PII.search(ctx.texts[ti]):
                continue  # cheap pre-filter: no 7-digit run (spoken digits too) and no '@'
            evidence.extend(
                Evidence(ti + ctx.offset, p.start, p.end, p.text, p.kind)
                for p in find_pii(text)
                if p.kind in c.kinds
            )
        return bool(evidence), evidence

    def _timing(self, c: Any, ctx: _Ctx) -> tuple[bool, list[Evidence]]:
        """Timing operators read the gap before each in-scope turn: start of the turn minus
        end of the previous one (negative: the turn started before the previous ended)."""
        turns, gaps, off = ctx.turns, ctx.gaps(), ctx.offset
        # in-scope turns after a turn with timings (not the first): `ti and turns[ti - 1].end_ms`
        scoped = self.scope(c.scope, ctx)
        if isinstance(c, SilenceCondition):
            least = c.min_ms
            evidence = [
                _new_tuple(Evidence, (ti + off, 0, 0, "", f"silence of {gaps[ti]} ms before this turn"))
                for ti in scoped
                if ti and gaps[ti] >= least and turns[ti - 1].end_ms
            ]
        elif isinstance(c, ResponseLatencyCondition):
            most, after = c.max_ms, c.after_role
            evidence = [
                _new_tuple(Evidence, (ti + off, 0, 0, "", f"replied {gaps[ti]} ms after the {after}"))
                for ti in scoped
                if ti and gaps[ti] > most and turns[ti - 1].end_ms and turns[ti - 1].role == after
            ]
        elif isinstance(c, InterruptionCondition):
            overlap = c.min_overlap_ms
            evidence = [
                _new_tuple(
                    Evidence,
                    (ti + off, 0, 0, "", f"started {-gaps[ti]} ms before the {turns[ti - 1].role} finished"),
                )
                for ti in scoped
                if ti
                and -gaps[ti] >= overlap
                and turns[ti - 1].end_ms
                and turns[ti - 1].role != turns[ti].role
            ]
        else:
            evidence = self._speech_rate(c, ctx)
        return bool(evidence), evidence

    def _speech_rate(self, c: SpeechRateCondition, ctx: _Ctx) -> list[Evidence]:
        evidence = []
        for ti in self.scope(c.scope, ctx):
            turn = ctx.turns[ti]
            duration = turn.end_ms - turn.start_ms
            if turn.end_ms and duration >= c.min_duration_ms:
                chars = len(turn.text) - sum(1 for ch in turn.text if ch.isspace())
                cpm = chars * 60_000 / duration
                if (c.max_cpm is not None and cpm > c.max_cpm) or (c.min_cpm is not None and cpm < c.min_cpm):
                    evidence.append(Evidence(ti + ctx.offset, 0, 0, "", f"{cpm:.0f} characters per minute"))
        return evidence

    # --- rules and scorecard -------------------------------------------------------------

    def fire(self, rule: Rule, ctx: _Ctx) -> list[Evidence] | None:
        """The evidence of a rule that hits, or None."""
        return self._fire(self._firing[rule.id], ctx)

    def _fire(self, firing: _Firing, ctx: _Ctx) -> list[Evidence] | None:
        trigger, c, operator, absent, first_scope, detail = firing
        occ = ctx.occ
        if trigger is not None and trigger.isdisjoint(occ):
            return None
        if absent is not None and absent.isdisjoint(occ):
            # `not` of a keyword condition none of whose keywords occurred anywhere: it holds
            # without looking at scopes or exclusions (as the full evaluation finds)
            evidence = None
        else:
            # not through `holds`: a rule's own condition is evaluated once per conversation,
            # so its result is not worth caching (conditions inside it and anchors are)
            ok, evidence = operator(c, ctx)
            if not ok:
                return None
        if not evidence:  # an absence (not / none): point at the first turn looked at
            scoped = self.scope(first_scope, ctx)
            return [Evidence((scoped[0] if scoped else 0) + ctx.offset, 0, 0, "", detail)]
        return evidence

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
        applicable: set[str] = set()
        not_applicable = []
        hits: list[Hit] = []
        fatal = False
        applicable.update(self._always_applicable)
        due = set(self._unconditional)
        by_keyword = self._by_keyword
        for kid in self._trigger_ids.intersection(ctx.occ):
            due.update(by_keyword[kid])
        plan, firings = self._plan, self._plan_firing
        for i in sorted(due):
            rule, plain = plan[i]
            if not plain:
                if not self.applies(rule, ctx):
                    not_applicable.append(rule.id)
                    continue
                applicable.add(rule.dimension)
            evidence = self._fire(firings[i], ctx)
            if evidence is None:
                continue
            fatal = fatal or rule.fatal
            rid, version, dim, severity, fatal_, alert, each, rule_points = self._hit_fields[i]
            for n, (ti, start, end, text, detail) in enumerate(evidence):
                points = rule_points if each or n == 0 else 0.0
                earned[dim] += points
                hits.append(
                    Hit(rid, version, dim, ti, start, end, text, points, severity, fatal_, detail, alert)
                )
        dims, total = scorecard_total(
            [(d, w, d in applicable) for d, w in card.dimensions.items()], earned, fatal
        )
        hits.sort(key=_HIT_ORDER)
        return Score(total, grade_for(self.ruleset, total), tuple(hits), dims, fatal, tuple(not_applicable))

    def emotions(self, ctx: _Ctx, indexes: Sequence[int]) -> list[TurnEmotion]:
        """Customer emotion of the turns `indexes`, from the lexicon matches found by
        `prepare` (needs a ruleset compiled with a lexicon). Only turns holding a sentiment
        word are scored: negators and intensifiers alone leave a turn neutral."""
        assert self.lexicon is not None, "compiled without an emotion lexicon"
        occ = ctx.occ
        wanted = set(indexes)
        scored = {ti for kid in self._sentiment_ids.intersection(occ) for ti, _, _ in occ[kid]}
        scored &= wanted
        found: dict[int, list[tuple[int, int, Any]]] = {i: [] for i in scored}
        if found:
            entries = self._lexicon_entries
            for kid in self._lexicon_ids.intersection(occ):
                entry = entries[kid]
                for ti, s, e in occ[kid]:
                    if ti in found:
                        found[ti].append((s, e, entry))
        lexicon, off, maps, texts = self.lexicon, ctx.offset, ctx.maps, ctx.texts
        return [
            lexicon.from_matches(
                i + off,
                _new_tuple(Normalised, (texts[i], None, None)) if maps is None else maps[i],
                ctx.turns[i].text,
                found[i],
            )
            if i in found
            else _new_tuple(TurnEmotion, (i + off, "neutral", 0.0, 0.0, ()))
            for i in indexes
        ]

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
    one. Only caseless characters and ASCII letters are used, so case-insensitive matching
    on lower-cased text cannot find a match the test would rule out. Empty when unsure."""
    return _requirements(pattern)[0]


def required_alternatives(pattern: str) -> tuple[tuple[str, ...], ...]:
    """Like `required_literals` for alternations in a required position: every match
    contains at least one text of each tuple (`(明天|后天)一定` -> `(("明天", "后天"),)`)."""
    return _requirements(pattern)[1]


def _requirements(pattern: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    try:
        from re import _constants as c, _parser  # CPython's own parser (3.11+)

        parsed = _parser.parse(pattern)
    except Exception:  # noqa: BLE001 - any doubt: no pre-filter
        return (), ()
    alternatives: list[tuple[str, ...]] = []

    def walk(items: Any, found: list[str], required: bool = True) -> None:
        """Literals of `items` into `found`; alternations into `alternatives` when `items`
        are part of every match (`required`), not only of one branch."""
        run: list[str] = []
        for op, av in items:
            if op is c.LITERAL:
                ch = chr(av)
                if (ch.isascii() and ch.isalpha()) or not (ch.isupper() or ch.islower()):
                    run.append(ch.lower())
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
                    # not a text with "i": case-insensitively it also matches "ı" (dotless
                    # i), which lower-casing and NFKC leave in the text
                    per_branch.append(max((t for t in literals if "i" not in t), key=len, default=""))
                if all(per_branch):
                    alternatives.append(tuple(per_branch))
        if run:
            found.append("".join(run))

    found: list[str] = []
    walk(parsed, found)
    return tuple(found), tuple(alternatives)


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
