"""Rulesets as data: pydantic models of rules, conditions and the scorecard.

A ruleset is JSON (see `rules/default_ruleset.json` and docs/scoring.md). It may `include`
built-in rule packs (`rules/packs/<name>.json`). A malformed ruleset or pack is refused with
`RulesetError` (gRPC INVALID_ARGUMENT, code `invalid_ruleset`) whose message names every bad
field by its path, e.g. ``rules[3].condition.conditions[1].keywords: ...``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from kefu_common.errors import InvalidArgument
from kefu_scoring.text import normalise_keyword

RULES_DIR = Path(__file__).parent / "rules"
PACKS_DIR = RULES_DIR / "packs"
DEFAULT_RULESET_PATH = RULES_DIR / "default_ruleset.json"

Role = Literal["agent", "customer", "bot"]
Dimension = Literal["compliance", "process", "attitude", "skill"]
DIMENSIONS: tuple[Dimension, ...] = ("compliance", "process", "attitude", "skill")
Severity = Literal["info", "minor", "major", "critical"]
SignalKind = Literal["regulator", "media", "legal", "abuse", "negative_emotion", "other"]
Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Scope(_Model):
    """Which turns a condition looks at. Filters apply in this order: `role`; then `first` /
    `last` N turns of that role; then `turns` (an inclusive range of conversation turn
    indexes); then `after` / `before` the first turn where the anchor condition holds (no
    anchor in the conversation: no turns)."""

    role: Role | None = None
    first: int | None = Field(default=None, ge=1)
    last: int | None = Field(default=None, ge=1)
    turns: tuple[int, int] | None = None
    after: Condition | None = None
    before: Condition | None = None

    @field_validator("turns")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 0 <= value[0] <= value[1]:
            raise ValueError("turns must be [from, to] with 0 <= from <= to")
        return value

    @property
    def positional(self) -> bool:
        return any(v is not None for v in (self.first, self.last, self.turns, self.after, self.before))


class _Leaf(_Model):
    scope: Scope = Field(default_factory=lambda: Scope())


class KeywordCondition(_Leaf):
    """Keyword list. `match`: any (every occurrence is evidence), all, at_least (`n` distinct
    keywords), none (holds when no keyword occurs). `window`: 1 = within one turn, W = within
    any W consecutive in-scope turns. A turn holding an `exclude` keyword is ignored."""

    operator: Literal["keyword"]
    match: Literal["any", "all", "at_least", "none"] = "any"
    n: int | None = Field(default=None, ge=1)
    keywords: tuple[Keyword, ...] = Field(min_length=1, max_length=5000)
    exclude: tuple[Keyword, ...] = ()
    window: int = Field(default=1, ge=1, le=1000)

    @field_validator("keywords", "exclude")
    @classmethod
    def _matchable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, keyword in enumerate(value):
            if any(ord(ch) < 32 for ch in keyword):
                raise ValueError(f"item {i} holds a control character")
            if not normalise_keyword(keyword).strip():
                raise ValueError(f"item {i} ({keyword!r}) is empty once normalised")
        return value

    @model_validator(mode="after")
    def _n_fits(self) -> KeywordCondition:
        if self.match == "at_least":
            if self.n is None:
                raise ValueError("match at_least needs n")
            if self.n > len(set(self.keywords)):
                raise ValueError(f"n ({self.n}) exceeds the {len(set(self.keywords))} distinct keywords")
        elif self.n is not None:
            raise ValueError("n is only meaningful with match at_least")
        return self


class RegexCondition(_Leaf):
    """A regular expression (case-insensitive, run on the normalised text); a turn that
    matches `not_pattern` is ignored."""

    operator: Literal["regex"]
    pattern: str = Field(min_length=1, max_length=1000)
    not_pattern: str | None = Field(default=None, min_length=1, max_length=1000)

    @field_validator("pattern", "not_pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compiled = re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
            if compiled.match(""):
                raise ValueError("the expression matches the empty string")
        return value


class SilenceCondition(_Leaf):
    """A gap of at least `min_ms` between the end of a turn and the start of the next one
    (the turn after the gap must be in scope)."""

    operator: Literal["silence"]
    min_ms: int = Field(ge=1)


class ResponseLatencyCondition(_Leaf):
    """A turn of the scope's role (default agent) starting more than `max_ms` after the end
    of the preceding turn of `after_role` (default customer)."""

    operator: Literal["response_latency"]
    max_ms: int = Field(ge=0)
    after_role: Role = "customer"


class InterruptionCondition(_Leaf):
    """A turn in scope that starts at least `min_overlap_ms` before the previous turn, by a
    different role, ended (talking over the other party)."""

    operator: Literal["interruption"]
    min_overlap_ms: int = Field(default=1, ge=1)


class SpeechRateCondition(_Leaf):
    """Characters per minute (whitespace not counted) of in-scope turns lasting at least
    `min_duration_ms`, outside [`min_cpm`, `max_cpm`]."""

    operator: Literal["speech_rate"]
    min_cpm: float | None = Field(default=None, gt=0)
    max_cpm: float | None = Field(default=None, gt=0)
    min_duration_ms: int = Field(default=2000, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> SpeechRateCondition:
        if self.min_cpm is None and self.max_cpm is None:
            raise ValueError("speech_rate needs min_cpm, max_cpm or both")
        if self.min_cpm is not None and self.max_cpm is not None and self.min_cpm > self.max_cpm:
            raise ValueError("min_cpm is above max_cpm")
        return self


class TurnCountCondition(_Leaf):
    """Holds when the number of in-scope turns is within [`min`, `max`]."""

    operator: Literal["turn_count"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> TurnCountCondition:
        if self.min is None and self.max is None:
            raise ValueError("turn_count needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class PiiCondition(_Leaf):
    """Personal data in an in-scope turn (pii.py: phones, resident IDs with checksum, Luhn-valid
    bank cards, e-mail; spoken digits such as 一三八 included), e.g. an agent reading it out."""

    operator: Literal["pii"]
    kinds: tuple[Literal["phone", "cn_id", "bank_card", "email"], ...] = Field(min_length=1)


class AndCondition(_Model):
    operator: Literal["and"]
    conditions: tuple[Condition, ...] = Field(min_length=1, max_length=50)


class OrCondition(_Model):
    operator: Literal["or"]
    conditions: tuple[Condition, ...] = Field(min_length=1, max_length=50)


class NotCondition(_Model):
    operator: Literal["not"]
    condition: Condition


Condition = Annotated[
    KeywordCondition | RegexCondition | SilenceCondition | ResponseLatencyCondition | InterruptionCondition | SpeechRateCondition | TurnCountCondition | PiiCondition | AndCondition | OrCondition | NotCondition,
    Field(discriminator="operator"),
]
OPERATORS = frozenset(
    {"keyword", "regex", "silence", "response_latency", "interruption", "speech_rate",
     "turn_count", "pii", "and", "or", "not"}
)
TIMING_OPERATORS = frozenset({"silence", "response_latency", "interruption", "speech_rate"})

for _model in (Scope, KeywordCondition, RegexCondition, SilenceCondition, ResponseLatencyCondition,
               InterruptionCondition, SpeechRateCondition, TurnCountCondition, PiiCondition,
               AndCondition, OrCondition, NotCondition):
    _model.model_rebuild()


def is_single_turn(condition: Any) -> bool:
    """Decidable from one turn alone: keyword (one-turn window, not `none`) and regex leaves
    scoped by role only, combined with and/or."""
    if isinstance(condition, AndCondition | OrCondition):
        return all(is_single_turn(c) for c in condition.conditions)
    if isinstance(condition, KeywordCondition):
        return condition.window == 1 and condition.match != "none" and not condition.scope.positional
    if isinstance(condition, RegexCondition):
        return not condition.scope.positional
    return False


def uses_timing(condition: Any) -> bool:
    if isinstance(condition, AndCondition | OrCondition):
        return any(uses_timing(c) for c in condition.conditions)
    if isinstance(condition, NotCondition):
        return uses_timing(condition.condition)
    if getattr(condition, "operator", None) in TIMING_OPERATORS:
        return True
    scope = getattr(condition, "scope", None)
    return scope is not None and any(
        a is not None and uses_timing(a) for a in (scope.after, scope.before)
    )


DEFAULT_CAP_HITS = 2


class Rule(_Model):
    """One inspection item. The rule *hits* when its condition holds; every piece of evidence
    then counts `points` (`count: each`) or the first one does (`count: once`). Negative
    points deduct, positive points add. A `fatal` hit (一票否决) zeroes the total. A rule
    whose `applies_if` does not hold, or that needs timing the conversation lacks, is N/A."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: int = Field(ge=1)
    name: str = Field(default="", max_length=200)
    dimension: Dimension
    severity: Severity = "minor"
    points: float = Field(ge=-100, le=100)
    count: Literal["each", "once"] = "each"
    # The most points the rule deducts (or adds) in one conversation (issue #16: a rule that
    # recurs in a long conversation must not sink it for its length). Default: what
    # DEFAULT_CAP_HITS pieces of evidence count; every piece beyond is still listed, at 0.
    cap: float | None = Field(default=None, gt=0, le=100)
    fatal: bool = False
    condition: Condition
    applies_if: Condition | None = None
    # Risk: a hit raises an alert of this kind (and a signal to escalation).
    alert: SignalKind | None = None
    # Checked on every turn of a real-time stream (single-turn conditions only).
    realtime: bool = False
    # Conversation languages the rule applies to (detected per conversation; a mixed zh/en
    # conversation matches both); empty: every language. Otherwise the rule is N/A.
    languages: tuple[Literal["zh", "en"], ...] = ()

    @model_validator(mode="after")
    def _realtime_is_single_turn(self) -> Rule:
        if self.realtime and not is_single_turn(self.condition):
            raise ValueError(
                "realtime rules need a single-turn condition (keyword with window 1 and match"
                " any/all/at_least, or regex; scoped by role only; and/or of those)"
            )
        return self

    @property
    def max_points(self) -> float:
        """The cap on this rule's points in one conversation (absolute value)."""
        if self.cap is not None:
            return self.cap
        return abs(self.points) * (DEFAULT_CAP_HITS if self.count == "each" else 1)


class Scorecard(_Model):
    """Points available per dimension (the weights); the total is their sum, rescaled to 100
    when a dimension is N/A. `grades`: floors, highest first; below the last is `lowest`."""

    dimensions: dict[Dimension, float] = Field(
        default_factory=lambda: {"compliance": 40.0, "process": 20.0, "attitude": 25.0, "skill": 15.0}
    )
    grades: tuple[tuple[float, Literal["A", "B", "C"]], ...] = ((90.0, "A"), (80.0, "B"), (60.0, "C"))
    lowest: Literal["D"] = "D"

    @field_validator("dimensions")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("at least one dimension is needed")
        for name, weight in value.items():
            if weight <= 0:
                raise ValueError(f"{name} must have a positive weight")
        return value


class RulePack(_Model):
    id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    description: str = ""
    rules: tuple[Rule, ...] = Field(min_length=1)


class Ruleset(_Model):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    version: int = Field(ge=1)
    name: str = ""
    scorecard: Scorecard = Field(default_factory=lambda: Scorecard())
    # Names of built-in packs (rules/packs/<name>.json) whose rules are appended, in order.
    include: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Ruleset:
        seen: set[str] = set()
        for i, rule in enumerate(self.rules):
            if rule.id in seen:
                raise ValueError(f"rules[{i}].id: duplicate rule id {rule.id!r}")
            seen.add(rule.id)
            if rule.dimension not in self.scorecard.dimensions:
                raise ValueError(
                    f"rules[{i}].dimension: {rule.dimension!r} is not a scorecard dimension"
                )
        if not self.rules:
            raise ValueError("rules: a ruleset needs at least one rule (own or included)")
        return self


class RulesetError(InvalidArgument):
    default_code = "invalid_ruleset"


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as a path: ('rules', 3, 'condition', 'and', 'conditions', 1,
    'keyword', 'keywords') -> 'rules[3].condition.conditions[1].keywords' (union tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in OPERATORS or part.startswith("function-"):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _describe(exc: ValidationError, source: str) -> RulesetError:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        path = field_path(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{path}: {msg}" if path else msg)
    return RulesetError(f"{source} is invalid: " + "; ".join(problems), problems=problems)


def _json_doc(data: bytes | str, source: str) -> dict[str, Any]:
    import json

    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise RulesetError(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RulesetError(f"{source} must be a JSON object")
    return doc


def load_pack(name: str, packs_dir: Path = PACKS_DIR) -> RulePack:
    if not re.fullmatch(r"[a-z0-9_]+", name) or not (packs_dir / f"{name}.json").is_file():
        raise RulesetError(f"include: unknown rule pack {name!r}")
    path = packs_dir / f"{name}.json"
    try:
        return RulePack.model_validate(_json_doc(path.read_bytes(), f"rule pack {name}"))
    except ValidationError as exc:
        raise _describe(exc, f"rule pack {name}") from None


def parse_ruleset(data: bytes | str, *, source: str = "ruleset", packs_dir: Path = PACKS_DIR) -> Ruleset:
    """Validate a ruleset document, expanding its `include`d packs; errors name the field."""
    doc = _json_doc(data, source)
    include = doc.get("include", [])
    if isinstance(include, list) and isinstance(doc.get("rules", []), list):
        extra = [  # already validated: pydantic takes the Rule instances as they are
            rule
            for name in include
            if isinstance(name, str)
            for rule in load_pack(name, packs_dir).rules
        ]
        doc = {**doc, "rules": [*doc.get("rules", []), *extra]}
    try:
        return Ruleset.model_validate(doc)
    except ValidationError as exc:
        raise _describe(exc, source) from None


def load_ruleset(path: Path = DEFAULT_RULESET_PATH) -> Ruleset:
    """Parse and check a ruleset file; a malformed file fails at start-up, not mid-request."""
    return parse_ruleset(path.read_bytes(), source=path.name)
