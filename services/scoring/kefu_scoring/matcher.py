"""One multi-pattern matcher (an Aho-Corasick automaton from pyahocorasick) over normalised
text, shared by the rule engine and the emotion lexicon.

Keywords are normalised like the text (text.py). A keyword that starts (ends) with an ASCII
letter or digit only matches where the text has no letter or digit just before (after) it,
so English "sue" does not fire inside "issue"; Chinese keywords match anywhere, as Chinese
has no spaces between words.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate
from operator import itemgetter
from typing import Any

import ahocorasick

from kefu_scoring.text import WORD_CHARACTERS, Normalised, is_word_char, normalise, normalise_keyword

# Joins the turns of a conversation so that one automaton pass covers them all. NUL is
# neither whitespace nor a word character and never occurs in a keyword.
SEPARATOR = "\x00"


def _joinable(texts: Sequence[str], joined: str | None = None) -> str | None:
    """`texts` joined with SEPARATOR (`joined`, when the caller has it), or None when a text
    itself holds the separator."""
    if joined is None:
        joined = SEPARATOR.join(texts)
    return joined if joined.count(SEPARATOR) == len(texts) - 1 else None


def normalise_all(texts: Sequence[str]) -> list[Normalised]:
    """`normalise` of every turn (see `normalise_joined`)."""
    normal, maps, _ = normalise_joined(texts)
    return [Normalised(t) for t in normal] if maps is None else maps


def normalise_joined(
    texts: Sequence[str], joined: str | None = None
) -> tuple[list[str], list[Normalised] | None, str | None]:
    """The normal form of every turn; their `Normalised` (None: every turn's index map is
    the identity); and the normal forms joined with SEPARATOR when that came for free.
    `joined`: `texts` joined with SEPARATOR, when the caller has them.

    One pass over the joined text when all turns take the fast path (the joined normal form
    splits at the separators into the turns' normal forms), otherwise turn by turn."""
    joined = _joinable(texts, joined)
    if joined is not None:
        norm = normalise(joined)
        if norm.starts is None:
            return norm.text.split(SEPARATOR), None, norm.text
    norms = [normalise(t) for t in texts]
    return [n.text for n in norms], norms, None


_START, _END = itemgetter(0), itemgetter(1)

Occurrences = dict[int, list[tuple[int, int, int]]]  # keyword id -> [(turn, start, end)]
Tagged = dict[int, list[tuple[int, int, Any]]]  # turn -> [(start, end, tag)]


class KeywordMatcher:
    def __init__(
        self, keywords: Sequence[str], tags: Mapping[int, Any] | None = None, tag_only_from: int | None = None
    ) -> None:
        """`keywords` must already be normalised (`normalise_keyword`) and distinct; the id of
        a keyword is its index. `tags`: keyword id -> tag; the matches of a tagged keyword are
        also collected per turn with their tag (the emotion lexicon's entries: what scoring a
        turn's emotion reads). Keywords from id `tag_only_from` on are only collected that
        way, not in the occurrences by id."""
        self.keywords = list(keywords)
        tags = tags or {}
        by_id = len(self.keywords) if tag_only_from is None else tag_only_from
        self.automaton: Any = ahocorasick.Automaton()
        for i, keyword in enumerate(self.keywords):
            # what the hot loop needs of a match, in one object: id, length - 1, whether the
            # keyword must start (end) at a word boundary, its tag, whether to collect it by id
            bounds = is_word_char(keyword[0]), is_word_char(keyword[-1])
            self.automaton.add_word(keyword, (i, len(keyword) - 1, *bounds, tags.get(i), i < by_id))
        if self.keywords:
            self.automaton.make_automaton()

    @classmethod
    def of(cls, raw: Sequence[str]) -> tuple[KeywordMatcher, dict[str, int]]:
        """A matcher for raw keywords, with each raw keyword's id (equal once normalised:
        one id)."""
        ids: dict[str, int] = {}
        for keyword in raw:
            ids.setdefault(normalise_keyword(keyword), len(ids))
        return cls(list(ids)), {k: ids[normalise_keyword(k)] for k in raw}

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """Every occurrence (start, end, keyword id) in normalised `text`, overlaps included."""
        return [(s, e, kid) for kid, spans in self._scan(text, [0])[0].items() for _, s, e in spans]

    def occurrences(self, texts: Sequence[str], joined: str | None = None) -> tuple[Occurrences, Tagged]:
        """Every keyword's occurrences in normalised turn texts, and the tagged keywords'
        matches per turn, with one automaton pass over the NUL-joined turns (turn by turn if
        a turn itself holds a NUL). `joined`: the turns' normal forms joined with SEPARATOR
        when the caller already has them; `texts` then only give the turns' lengths."""
        if joined is None:
            joined = _joinable(texts)
        if joined is None:
            occ: Occurrences = {}
            tagged: Tagged = {}
            for ti, text in enumerate(texts):
                turn_occ, turn_tagged = self._scan(text, [0])
                for kid, spans in turn_occ.items():
                    occ.setdefault(kid, []).extend((ti, s, e) for _, s, e in spans)
                if turn_tagged:
                    tagged[ti] = turn_tagged[0]
            return occ, tagged
        return self._scan(joined, list(accumulate([len(t) + 1 for t in texts[:-1]], initial=0)))

    def _scan(self, text: str, offsets: list[int]) -> tuple[Occurrences, Tagged]:
        """The hot loop: automaton matches in `text` (turns starting at `offsets`), word
        boundaries checked, spans made relative to their turn."""
        occ: Occurrences = {}
        tagged: Tagged = {}
        if not self.keywords:
            return occ, tagged
        word = WORD_CHARACTERS
        last = len(text) - 1
        # The turn of the current match, [off, nxt) in `text`: matches come in order of their
        # end (and never span a separator), so the turn is looked up again (bisect) only when a
        # match is past it.
        ti, off, nxt = 0, 0, offsets[1] if len(offsets) > 1 else len(text) + 1
        for end, (kid, span, left, right, tag, by_id) in self.automaton.iter(text):
            start = end - span
            if left and start > 0 and text[start - 1] in word:
                continue
            if right and end < last and text[end + 1] in word:
                continue
            if start >= nxt:
                ti = bisect_right(offsets, start) - 1
                off = offsets[ti]
                nxt = offsets[ti + 1] if ti + 1 < len(offsets) else len(text) + 1
            s, e = start - off, end + 1 - off
            if by_id:
                found = occ.get(kid)
                if found is None:
                    occ[kid] = [(ti, s, e)]
                else:
                    found.append((ti, s, e))
            if tag is not None:
                matches = tagged.get(ti)
                if matches is None:
                    tagged[ti] = [(s, e, tag)]
                else:
                    matches.append((s, e, tag))
        return occ, tagged


def longest_non_overlapping(spans: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Leftmost-longest (start, end, id) spans: a phrase containing another keyword is one
    match, not two."""
    if len(spans) <= 1:
        return spans
    # by start, the longest first at one start: two stable sorts in C instead of a key tuple
    # built by a Python lambda per span (hot path: every turn with two matches or more)
    spans.sort(key=_END, reverse=True)
    spans.sort(key=_START)
    out = []
    last_end = -1
    for span in spans:
        if span[0] >= last_end:
            out.append(span)
            last_end = span[1]
    return out
