"""Published regular expressions run on a linear-time matcher (issue #14, item 11): a pattern
that backtracks exponentially in Python's `re` cannot stall scoring, what cannot be bounded
is refused when the ruleset is read, and the patterns keep Python's case-insensitive meaning."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest

from kefu_scoring.engine import Turn, compile_ruleset
from kefu_scoring.rules import RulesetError, parse_ruleset
from kefu_scoring.text import normalise

_ids = itertools.count()


def regex_ruleset(pattern: str, **extra: Any) -> str:
    condition = {"operator": "regex", "pattern": pattern, **extra}
    rule = {"id": "re", "version": 1, "dimension": "compliance", "points": -3, "condition": condition}
    return json.dumps({"id": f"regex-{next(_ids)}", "version": 1, "rules": [rule]}, ensure_ascii=False)


def spans(pattern: str, *texts: str) -> list[tuple[int, int, int, str]]:
    compiled = compile_ruleset(parse_ruleset(regex_ruleset(pattern)))
    score = compiled.evaluate([Turn("agent", t, 0, 0) for t in texts])
    return [(h.turn_index, h.start, h.end, h.matched_text) for h in score.hits]


# A liveness guard, not a speed claim: Python's backtracking engine needs about 2**10000
# steps for this turn, so the old matcher never returns and the test fails on its timeout.
@pytest.mark.timeout(20)
@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)+$", r"(\w+\s?)*x", r"(.*a){20}z"])
def test_exponential_backtracking_pattern_scores_a_long_turn_without_stalling(pattern: str) -> None:
    text = "a" * 10_000 + "b"
    assert spans(pattern, text) == []
    assert spans(pattern, "a" * 27 + "b") == []


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"foo(?=bar)", "lookahead"),
        (r"(?<!不)保证", "lookbehind"),
        (r"(a)\1", "backreferences"),
        (r"(?P<x>a)(?P=x)", "backreferences"),
        (r"(a)?(?(1)b|c)", "conditionals"),
        (r"(?>a+)b", "atomic groups"),
        (r"a++b", "possessive"),
        (r"a{99999999999}", "repetition counts above 1000"),
        (r"a{1001}", "repetition counts above 1000"),
        ("(" * 499 + "a" + ")" * 499, "nested deeper than 20"),
        (r"(?:(?:a{1000}){1000}){1000}", "too large"),
    ],
)
def test_pattern_that_cannot_be_bounded_is_refused_naming_the_rule_and_the_reason(pattern: str, reason: str) -> None:
    with pytest.raises(RulesetError) as raised:
        parse_ruleset(regex_ruleset(pattern))
    assert raised.value.code == "unsupported_regex"
    assert "rules[0].condition.pattern" in raised.value.message
    assert reason in raised.value.message


def test_not_pattern_that_cannot_be_bounded_is_refused_too() -> None:
    with pytest.raises(RulesetError) as raised:
        parse_ruleset(regex_ruleset("保证", not_pattern=r"(?<!不)能"))
    assert raised.value.code == "unsupported_regex"
    assert "rules[0].condition.not_pattern" in raised.value.message


def test_malformed_pattern_stays_an_invalid_ruleset() -> None:
    with pytest.raises(RulesetError) as raised:
        parse_ruleset(regex_ruleset("(unclosed"))
    assert raised.value.code == "invalid_ruleset"


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r"\w+", "退款到账"),  # \w is Unicode, as in Python: Chinese characters are word characters
        (r"\d+天", "٣天"),  # \d is every Unicode decimal digit
        (r"a\sb", "a\u3000b"),
        (r"\W", "退款!"),
        (r"[^\d]+", "abc"),
        (r"refund\s+in\s+\d+", "refund ın 3 days"),  # "i" matches the dotless "ı", as in Python
        (r"İstanbul", "istanbul"),
        (r"straße", "STRAẞE"),
        (r"(?-i:ABC)", "abc"),  # a case-sensitive group on lower-cased text
        (r"x{,3}y", "xxy"),  # Python's {,n} is {0,n}
        (r"保证.{0,4}(到账|退款)", "我保证明天到账"),
        (r"^您好", "您好，请问"),
        (r"再见$", "好的，再见"),
        (r"[a-z]+", "kılo"),
        (r"\bok\b", "it is ok now"),
    ],
)
def test_pattern_keeps_pythons_case_insensitive_meaning_on_the_normalised_text(pattern: str, text: str) -> None:
    normalised = normalise(text).text
    expected = [m.group() for m in re.finditer(pattern, normalised, re.IGNORECASE)]
    found = spans(pattern, text)
    assert [normalise(t).text for *_, t in found] == expected


def test_evidence_spans_of_a_regex_index_the_original_text_beyond_ascii() -> None:
    assert spans(r"\d+\s*天内?(到账|退款)", "好的，３天内退款，5天到账") == [
        (0, 3, 8, "３天内退款"),
        (0, 9, 13, "5天到账"),
    ]
