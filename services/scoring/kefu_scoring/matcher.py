"""One multi-pattern matcher (an Aho-Corasick automaton from pyahocorasick) over normalised
text, shared by the rule engine and the emotion lexicon.

Keywords are normalised like the text (text.py). A keyword that starts (ends) with an ASCII
letter or digit only matches where the text has no letter or digit just before (after) it,
so English "sue" does not fire inside "issue"; Chinese keywords match anywhere, as Chinese
has no spaces between words.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import ahocorasick

from kefu_scoring.text import is_word_char, normalise_keyword


class KeywordMatcher:
    def __init__(self, keywords: Sequence[str]) -> None:
        """`keywords` must already be normalised (`normalise_keyword`) and distinct; the id of
        a keyword is its index."""
        self.keywords = list(keywords)
        self.automaton: Any = ahocorasick.Automaton()
        for i, keyword in enumerate(self.keywords):
            self.automaton.add_word(keyword, i)
        if self.keywords:
            self.automaton.make_automaton()
        self._len = [len(k) for k in self.keywords]
        self._bound = [(is_word_char(k[0]), is_word_char(k[-1])) for k in self.keywords]

    @classmethod
    def of(cls, raw: Sequence[str]) -> tuple[KeywordMatcher, dict[str, int]]:
        """A matcher for raw keywords, with each raw keyword's id (equal once normalised:
        one id)."""
        ids: dict[str, int] = {}
        for keyword in raw:
            ids.setdefault(normalise_keyword(keyword), len(ids))
        return cls(list(ids)), {k: ids[normalise_keyword(k)] for k in raw}

    def find(self, text: str) -> Iterator[tuple[int, int, int]]:
        """Every occurrence (start, end, keyword id) in normalised `text`, overlaps included."""
        if not self._len:
            return
        lengths, bounds = self._len, self._bound
        last = len(text) - 1
        for end, kid in self.automaton.iter(text):
            start = end - lengths[kid] + 1
            left, right = bounds[kid]
            if left and start > 0 and is_word_char(text[start - 1]):
                continue
            if right and end < last and is_word_char(text[end + 1]):
                continue
            yield start, end + 1, kid


def longest_non_overlapping(spans: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Leftmost-longest (start, end, id) spans: a phrase containing another keyword is one
    match, not two."""
    if len(spans) <= 1:
        return spans
    spans.sort(key=lambda x: (x[0], -x[1]))
    out = []
    last_end = -1
    for span in spans:
        if span[0] >= last_end:
            out.append(span)
            last_end = span[1]
    return out
