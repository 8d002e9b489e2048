"""Text normalisation for matching, with a map back to the ORIGINAL characters.

Matching runs on `normalise(text).text`: NFKC (full-width ``１２３１５`` -> ``12315``,
``ＡＢＣ`` -> ``abc``, ``，`` -> ``,``, ligatures, circled digits ...), lower case,
typographic apostrophes -> ``'`` and every run of whitespace -> one space. Spans found in the
normalised text are turned back into spans of the original text with `Normalised.span`, so
evidence always quotes what was actually said.

Speed: most turns take the fast path, all C-implemented string operations: `str.lower`, a
`str.replace` of the few full-width punctuation marks Chinese text is full of, and
`unicodedata.is_normalized` (NFKC's quick check). There the normalised text has the original's
length and the index map is the identity. Text holding anything else NFKC would change (full-
width letters and digits, ligatures ...), whitespace other than single spaces, typographic
apostrophes, or whose lower-casing changes length takes the per-character path that builds an
explicit map (NFKC per character: combining sequences are not composed across characters).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import NamedTuple

_APOSTROPHES = "\u2018\u2019"
# Full-width punctuation common in Chinese text; NFKC maps each to one ASCII character.
_COMMON_FULL_WIDTH = tuple((c, unicodedata.normalize("NFKC", c)) for c in "，！？：；（）％～＂＇")
_SLOW_CHARACTERS = ("  ", "\t", "\n", "\r", "\x0b", "\x0c", *_APOSTROPHES)
_NOT_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())


class Normalised(NamedTuple):
    text: str
    # starts[i]: index in the original text of the character that produced text[i];
    # None when the map is the identity.
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original-text span [start, end) of the normalised span [start, end)."""
        if self.starts is None or self.ends is None:
            return start, end
        if start >= end:
            pos = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


def _char_form(ch: str) -> str:
    if ch in _APOSTROPHES:
        return "'"
    folded = unicodedata.normalize("NFKC", ch).lower()
    return " " if folded.isspace() else folded


def _fast(text: str) -> str | None:
    """The normal form when it is the same length as `text`, character for character."""
    lowered = text.lower()
    if len(lowered) != len(text):
        return None
    for slow in _SLOW_CHARACTERS:
        if slow in lowered:
            return None
    for full, ascii_ in _COMMON_FULL_WIDTH:
        lowered = lowered.replace(full, ascii_)  # (the same string when there is none)
    return lowered if unicodedata.is_normalized("NFKC", lowered) else None


def normalise(text: str) -> Normalised:
    fast = _fast(text)
    if fast is not None:
        return Normalised(fast)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for i, ch in enumerate(text):
        form = _char_form(ch)
        if form == " " and out and out[-1] == " ":
            ends[-1] = i + 1  # a whitespace run is one space covering the whole run
            continue
        for c in form:
            out.append(c)
            starts.append(i)
            ends.append(i + 1)
    return Normalised("".join(out), tuple(starts), tuple(ends))


def detect_language(texts: Iterable[str]) -> str:
    """zh, en or mixed (each script holds at least 20 % of the letters), unknown (no letters).

    Cheap by design (it runs on every conversation): ASCII letters are counted exactly; every
    other character counts as Chinese (punctuation included) and weighs three letters, as a
    Chinese word is one to three characters."""
    joined = "".join(texts)
    ascii_part = joined.encode("ascii", "ignore")
    latin = len(ascii_part.translate(None, _NOT_LETTERS))
    han = 3 * (len(joined) - len(ascii_part))
    letters = han + latin
    if not letters:
        return "unknown"
    if han / letters >= 0.8:
        return "zh"
    if latin / letters >= 0.8:
        return "en"
    return "mixed"


def normalise_keyword(keyword: str) -> str:
    return normalise(keyword.strip()).text


WORD_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def is_word_char(ch: str) -> bool:
    """ASCII letters and digits: English keywords only match on word boundaries."""
    return ch in WORD_CHARACTERS
