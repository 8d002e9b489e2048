"""Text normalisation for matching, with a map back to the ORIGINAL characters.

Matching runs on `normalise(text).text`: NFKC (full-width ``１２３１５`` -> ``12315``,
``ＡＢＣ`` -> ``abc``), lower case, typographic apostrophes -> ``'`` and every run of
whitespace -> one space. Spans found there are turned back into spans of the original text
with `Normalised.span`, so evidence always quotes what was actually said.

Most turns take the fast path (the C-implemented `str.translate`, `lower` and
`unicodedata.is_normalized`): the normalised text has the same length as the original and the
index map is the identity. Only text that NFKC changes in other ways (ligatures, circled
digits, half-width katakana ...), whose lower-casing changes length, or that holds whitespace
runs, takes the per-character path that builds an explicit map.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Full-width ASCII and the ideographic space (length-preserving NFKC cases), plus the
# typographic apostrophes and whitespace characters that would otherwise break keywords.
_TABLE = {0xFF01 + i: chr(0x21 + i) for i in range(94)}
_TABLE.update({0x3000: " ", 0x2019: "'", 0x2018: "'", 0x00A0: " ", 0x09: " ", 0x0A: " "})
_TABLE.update({0x0D: " ", 0x0B: " ", 0x0C: " "})
_SPACE_RUN = re.compile(r"\s{2,}")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\uff21-\uff3a\uff41-\uff5a]")


@dataclass(frozen=True, slots=True)
class Normalised:
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
    folded = unicodedata.normalize("NFKC", ch.translate(_TABLE)).lower()
    return " " if folded.isspace() else folded


def normalise(text: str) -> Normalised:
    fast = text.translate(_TABLE)
    if unicodedata.is_normalized("NFKC", fast):
        lowered = fast.lower()
        if len(lowered) == len(text) and (" " not in lowered or not _SPACE_RUN.search(lowered)):
            return Normalised(lowered)
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
    Han characters count as three letters: a Chinese word is one to three characters."""
    han = latin = 0
    for text in texts:
        han += len(_HAN.findall(text))
        latin += len(_LATIN.findall(text))
    han *= 3
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


def is_word_char(ch: str) -> bool:
    """ASCII letters and digits: English keywords only match on word boundaries."""
    return ch.isascii() and ch.isalnum()
