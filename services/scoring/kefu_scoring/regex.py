"""Published regular expressions, run on a linear-time matcher (RE2, `google-re2`).

A rule's `pattern` is written in Python's `re` syntax and keeps its meaning (case-insensitive,
Unicode `\\d \\w \\s`, Python's extra case equivalences such as "i"/"ı"/"İ"), but it is never run
by Python's backtracking engine: `compile_pattern` parses it with Python's own parser and writes
the same expression in RE2 syntax, and RE2 matches in time linear in the text, whatever the
pattern (`(a+)+$` on 10,000 characters takes microseconds, not centuries). What RE2 cannot run
in linear time is refused when the ruleset is published, each with its own reason:

- lookahead / lookbehind, backreferences, conditionals, atomic groups, possessive repeats;
- a repetition count above `MAX_REPEAT` (RE2's own limit), or a number too large to parse;
- groups nested deeper than `MAX_NESTING` (Python's parser is recursive);
- an expression whose compiled program exceeds `MAX_PROGRAM_BYTES`.

Known difference kept (docs/scoring.md): `\\b` and `\\B` are ASCII word boundaries in RE2.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants as c, _parser  # CPython's own parser (3.11+)
from typing import Any

import re2

MAX_REPEAT = 1000
MAX_NESTING = 20
MAX_PROGRAM_BYTES = 2 << 20

# Python's case-insensitive matching treats these as one letter (sre's extra equivalences and
# the single-character lower case of "İ"); RE2 folds by Unicode simple case folding only.
_EQUIVALENT = {ch: "iIıİ" for ch in "iIıİ"}
_PY_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
_CLASSES = {  # Python's Unicode categories as RE2 class items (inside [...])
    c.CATEGORY_DIGIT: r"\p{Nd}",
    c.CATEGORY_WORD: r"\p{L}\p{N}_",
    c.CATEGORY_SPACE: _PY_SPACE,
}
_NEGATED = {c.CATEGORY_NOT_DIGIT: c.CATEGORY_DIGIT, c.CATEGORY_NOT_WORD: c.CATEGORY_WORD, c.CATEGORY_NOT_SPACE: c.CATEGORY_SPACE}
_REFUSED = {
    c.ASSERT: "lookahead/lookbehind (?=…) (?!…) (?<=…) (?<!…)",
    c.ASSERT_NOT: "lookahead/lookbehind (?=…) (?!…) (?<=…) (?<!…)",
    c.GROUPREF: "backreferences (\\1, (?P=name))",
    c.GROUPREF_EXISTS: "conditionals (?(1)…|…)",
    c.ATOMIC_GROUP: "atomic groups (?>…)",
    c.POSSESSIVE_REPEAT: "possessive repeats (*+ ++ ?+ {m,n}+)",
}
_AT = {
    c.AT_BEGINNING: "^",
    c.AT_BEGINNING_STRING: r"\A",
    c.AT_END: "$",
    c.AT_END_STRING: r"\z",
    c.AT_BOUNDARY: r"\b",
    c.AT_NON_BOUNDARY: r"\B",
}


class UnsafePattern(ValueError):
    """A pattern the linear-time matcher cannot run; the message names the reason."""


def _char(code: int, fold: bool) -> str:
    ch = chr(code)
    if fold and ch in _EQUIVALENT:
        return "".join(_escape(e) for e in _EQUIVALENT[ch])
    return _escape(ch)


def _escape(ch: str) -> str:
    return ch if ch.isalnum() and ch.isascii() else f"\\x{{{ord(ch):x}}}"


class _Writer:
    def __init__(self, flags: int) -> None:
        self.ascii = bool(flags & c.SRE_FLAG_ASCII)

    def items(self, items: Any, fold: bool) -> str:
        return "".join(self.item(op, av, fold) for op, av in items)

    def item(self, op: Any, av: Any, fold: bool) -> str:
        if op in _REFUSED:
            raise UnsafePattern(f"{_REFUSED[op]} cannot run in linear time; not supported")
        if op is c.LITERAL:
            text = _char(av, fold)
            return f"[{text}]" if len(text) > len(_escape(chr(av))) else text
        if op is c.NOT_LITERAL:
            return f"[^{_char(av, fold)}]"
        if op is c.ANY:
            return "."
        if op is c.IN:
            return self.klass(av, fold)
        if op is c.BRANCH:
            return "(?:" + "|".join(self.items(b, fold) for b in av[1]) + ")"
        if op is c.SUBPATTERN:
            _, add, remove, body = av
            inner_fold = (fold or bool(add & c.SRE_FLAG_IGNORECASE)) and not remove & c.SRE_FLAG_IGNORECASE
            on = "".join(f for bit, f in ((c.SRE_FLAG_IGNORECASE, "i"), (c.SRE_FLAG_MULTILINE, "m"), (c.SRE_FLAG_DOTALL, "s")) if add & bit)
            off = "".join(f for bit, f in ((c.SRE_FLAG_IGNORECASE, "i"), (c.SRE_FLAG_MULTILINE, "m"), (c.SRE_FLAG_DOTALL, "s")) if remove & bit)
            flags = on + (f"-{off}" if off else "")
            return f"(?{flags}:{self.items(body, inner_fold)})"
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, body = av
            if low > MAX_REPEAT or (high is not c.MAXREPEAT and high > MAX_REPEAT):
                raise UnsafePattern(f"repetition counts above {MAX_REPEAT} are not supported")
            if (low, high) == (0, c.MAXREPEAT):
                quant = "*"
            elif (low, high) == (1, c.MAXREPEAT):
                quant = "+"
            elif (low, high) == (0, 1):
                quant = "?"
            elif high is c.MAXREPEAT:
                quant = f"{{{low},}}"
            else:
                quant = f"{{{low},{high}}}" if low != high else f"{{{low}}}"
            return f"(?:{self.items(body, fold)}){quant}" + ("?" if op is c.MIN_REPEAT else "")
        if op is c.AT:
            return _AT[av]
        if op is c.CATEGORY:  # only inside IN, but harmless here
            return self.klass([(op, av)], fold)
        raise UnsafePattern(f"the construct {op} is not supported")

    def klass(self, items: Any, fold: bool) -> str:
        negate = bool(items) and items[0][0] is c.NEGATE
        items = items[1:] if negate else items
        if len(items) == 1 and items[0][0] is c.CATEGORY and items[0][1] in _NEGATED and not self.ascii:
            positive = _CLASSES[_NEGATED[items[0][1]]]
            return f"[{positive}]" if negate else f"[^{positive}]"
        parts = []
        for op, av in items:
            if op is c.LITERAL:
                parts.append(_char(av, fold))
            elif op is c.RANGE:
                low, high = av
                parts.append(f"{_escape(chr(low))}-{_escape(chr(high))}")
                if fold and any(low <= ord(e) <= high for e in "iIıİ"):
                    parts.append(_char(ord("i"), fold))
            elif op is c.CATEGORY:
                if self.ascii:
                    parts.append({c.CATEGORY_DIGIT: r"\d", c.CATEGORY_WORD: r"\w", c.CATEGORY_SPACE: r"\s",
                                  c.CATEGORY_NOT_DIGIT: r"\D", c.CATEGORY_NOT_WORD: r"\W",
                                  c.CATEGORY_NOT_SPACE: r"\S"}[av])
                elif av in _CLASSES:
                    parts.append(_CLASSES[av])
                elif av is c.CATEGORY_NOT_DIGIT:
                    parts.append(r"\P{Nd}")
                else:
                    raise UnsafePattern(r"\W or \S combined with other characters in one class is not supported")
            else:
                raise UnsafePattern(f"the class item {op} is not supported")
        return ("[^" if negate else "[") + "".join(parts) + "]"


def _nesting(pattern: str) -> int:
    """How deep the groups of `pattern` nest (escapes and [...] classes skipped)."""
    depth = deepest = 0
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
        i += 1
    return deepest


def translate(pattern: str) -> str:
    """`pattern` (Python syntax, matched case-insensitively) in RE2 syntax, or UnsafePattern."""
    if _nesting(pattern) > MAX_NESTING:
        raise UnsafePattern(f"groups nested deeper than {MAX_NESTING} are not supported")
    try:
        parsed = _parser.parse(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    except (OverflowError, RecursionError):
        raise UnsafePattern(f"repetition counts above {MAX_REPEAT} are not supported") from None
    flags = parsed.state.flags
    writer = _Writer(flags)
    prefix = "(?i" + ("m" if flags & c.SRE_FLAG_MULTILINE else "") + ("s" if flags & c.SRE_FLAG_DOTALL else "") + ")"
    return prefix + writer.items(parsed, True)


_ENCODED: dict[int, tuple[str, bytes]] = {}
_ENCODED_KEPT = 256


def _utf8(text: str) -> bytes:
    """`text` as UTF-8, encoded once for all the regex rules that search the same text of one
    conversation (the cache holds the text itself, so an id is never mistaken)."""
    hit = _ENCODED.get(id(text))
    if hit is not None and hit[0] is text:
        return hit[1]
    data = text.encode()
    if len(_ENCODED) >= _ENCODED_KEPT:
        _ENCODED.clear()
    _ENCODED[id(text)] = (text, data)
    return data


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_BYTES
    return options


class SafePattern:
    """A published pattern compiled for RE2; matches UTF-8 text in linear time."""

    __slots__ = ("pattern", "_bytes")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        try:
            self._bytes = re2.compile(translate(pattern).encode(), _options())
        except re2.error:
            raise UnsafePattern("the expression is too large for the linear-time matcher") from None

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in `text`."""
        return self._bytes.search(_utf8(text)) is not None

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Character spans [start, end) of the non-overlapping matches in `text`."""
        data = _utf8(text)
        if self._bytes.search(data) is None:
            return
        ascii_only = len(data) == len(text)
        for m in self._bytes.finditer(data):
            start, end = m.span()
            if ascii_only:
                yield start, end
            else:
                head = len(data[:start].decode())
                yield head, head + len(data[start:end].decode())


def compile_pattern(pattern: str) -> SafePattern:
    """`pattern` ready for the linear-time matcher; ValueError (UnsafePattern for what cannot
    be bounded) says why not."""
    compiled = SafePattern(pattern)
    if compiled.search(""):
        raise ValueError("the expression matches the empty string")
    return compiled
