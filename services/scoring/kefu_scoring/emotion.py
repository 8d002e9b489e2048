"""Customer emotion per turn (negative / neutral / positive with an intensity) and the
conversation's trajectory, from a lexicon shipped in the repository (lexicon/emotion.json).

Why a lexicon and not a model: nothing may be downloaded at run time, the scorer must stay in
the tens of microseconds per turn (it runs on 100 % of conversations and in the real-time
stream), and a supervisor must be able to see *why* a turn was marked negative (the words
are the evidence). See docs/scoring.md for the trade-off and the measured accuracy.

Scoring a turn: lexicon entries are found with the same Aho-Corasick matcher as the rules
(leftmost-longest, so 不满意 is one negative word, not 不 + 满意). A negator (不, 没有, not,
never ...) or an intensifier (很, 太, very ...) just before a sentiment word (at most
`MAX_GAP` characters, no clause break in between) flips it (damped: a negated positive keeps 75 %, a negated negative 40 %) or scales it.
Exclamation marks strengthen a negative turn.

The lexicon alone stays silent on a third to a half of what customers say, so every customer
turn is also scored by the small model of emotion_model.py (hashed character n-grams, trained
offline on openly licensed labelled data). A turn's score is the lexicon's score plus
MODEL_WEIGHT times the model's logit; score <= -THRESHOLD is negative, >= THRESHOLD positive;
intensity = |score| / 4 capped at 1, with the model's part of it capped at
MODEL_INTENSITY_CAP (the label is decided by the whole score, but how *strong* a turn is comes
mainly from the lexicon's words, intensifiers and exclamation marks: a confident model on a
mild "有点慢" must not make it an alert). The cues remain the lexicon's words (the evidence a
supervisor reads); `model` is the model's logit, so a turn decided by the model alone shows
it. A strong negative turn (a risk signal) needs a lexicon cue: the model alone never raises
an alert.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple
from pathlib import Path

from kefu_scoring.emotion_model import EmotionModel, default_model
from kefu_scoring.matcher import KeywordMatcher, longest_non_overlapping
from kefu_scoring.text import Normalised, normalise

LEXICON_PATH = Path(__file__).parent / "lexicon" / "emotion.json"
MAX_GAP = 3  # characters between a modifier and its sentiment word
# A negated positive word is nearly as negative ("not good"); a negated negative word is only
# mildly positive ("not angry" is closer to neutral than to happy).
NEGATED_POSITIVE = 0.75
NEGATED_NEGATIVE = 0.4
THRESHOLD = 0.25  # |score| below it: neutral
TREND_STEP = 1.0  # a move of the mean score this large between the first and last third is a trend
MODEL_WEIGHT = 3.0  # lexicon points per unit of the model's logit (tuned on the dev split of the reviews)
MODEL_INTENSITY_CAP = 1.5  # at most this many of the model's points count towards the intensity
STRONG_INTENSITY = 0.75  # a negative turn at least this intense raises a risk signal
_BREAK = re.compile(r"[,.;!?，。；！？、\n]")


class TurnEmotion(NamedTuple):
    turn_index: int
    label: str  # negative | neutral | positive
    intensity: float  # 0..1
    score: float
    cues: tuple[str, ...]  # the lexicon words that decided it, as written
    model: float = 0.0  # the model's logit (log odds of positive) for this turn

    @property
    def strong_negative(self) -> bool:
        return self.label == "negative" and self.intensity >= STRONG_INTENSITY and bool(self.cues)


@dataclass(frozen=True, slots=True)
class Trajectory:
    turns: tuple[TurnEmotion, ...]  # customer turns only
    start: float  # mean score of the first third of the customer's turns
    end: float  # ... and of the last third
    trend: str  # improving | worsening | stable | none (no customer turn)
    overall: str  # label of the mean score
    peak_negative: int | None  # turn index of the most negative turn, if any is negative


@dataclass(frozen=True, slots=True)
class _Entry:
    weight: float | None  # signed sentiment weight, None if not a sentiment word
    negator: bool
    boost: float | None  # intensifier factor


class EmotionLexicon:
    def __init__(self, doc: dict, model: EmotionModel | None = None) -> None:
        self.model = model
        entries: dict[str, dict] = {}
        for word, w in doc["negative"].items():
            entries.setdefault(word, {})["weight"] = -float(w)
        for word, w in doc["positive"].items():
            entries.setdefault(word, {})["weight"] = float(w)
        for word in doc["negators"]:
            entries.setdefault(word, {})["negator"] = True
        for word, f in doc["intensifiers"].items():
            entries.setdefault(word, {})["boost"] = float(f)
        self.matcher, ids = KeywordMatcher.of(list(entries))
        self.entries: list[_Entry] = [_Entry(None, False, None)] * len(self.matcher.keywords)
        for word, attrs in entries.items():
            self.entries[ids[word]] = _Entry(attrs.get("weight"), attrs.get("negator", False), attrs.get("boost"))
        # Normalised word -> entry: lets a compiled ruleset match the lexicon in its own
        # automaton pass (engine.py) and hand the matches to `from_matches`.
        self.vocabulary = dict(zip(self.matcher.keywords, self.entries))

    def from_matches(
        self, index: int, norm: Normalised, text: str, matches: list[tuple[int, int, _Entry]], logit: float = 0.0
    ) -> TurnEmotion:
        """The emotion of a turn whose lexicon matches (start, end, entry) were found
        elsewhere (the compiled ruleset's automaton), and its model logit."""
        if len(matches) > 1:
            matches = longest_non_overlapping(matches)
        return turn_emotion(index, *self._score(norm, text, matches), logit)

    def logits(self, normalised_texts: Sequence[str]) -> list[float]:
        """The model's logit of each normalised text (0 without a model), in one pass."""
        if self.model is None:
            return [0.0] * len(normalised_texts)
        return self.model.logits(normalised_texts)

    def _score(
        self, norm: Normalised, text: str, matches: list[tuple[int, int, _Entry]]
    ) -> tuple[float, tuple[str, ...]]:
        """The turn's score (not rounded) and its cues."""
        if not matches:
            return 0.0, ()
        t, identity = norm.text, norm.starts is None
        score = 0.0
        cues: list[str] = []
        negations, boost = 0, 1.0
        for (s, e, entry), nxt in zip(matches, [*matches[1:], None]):
            if (
                (entry.negator or entry.boost is not None)  # a modifier: of the next word?
                and nxt is not None
                and nxt[2].weight is not None
                and nxt[0] - e <= MAX_GAP
                and not _BREAK.search(t, e, nxt[0])
            ):
                if entry.negator:
                    negations += 1
                else:
                    boost *= entry.boost
                continue
            if entry.weight is not None:
                weight = entry.weight * boost
                if negations % 2:
                    weight = -weight * (NEGATED_POSITIVE if weight > 0 else NEGATED_NEGATIVE)
                score += weight
                if identity:
                    cues.append(text[s:e])
                else:
                    os_, oe = norm.span(s, e)
                    cues.append(text[os_:oe])
            negations, boost = 0, 1.0
        if score < 0:
            score *= 1 + 0.15 * min(3, t.count("!"))
        return score, tuple(cues)

    def turn(self, index: int, text: str) -> TurnEmotion:
        """One turn on its own (real time, evaluation scripts)."""
        norm = normalise(text)
        entries = self.entries
        found = [(s, e, entries[kid]) for s, e, kid in self.matcher.find(norm.text)]
        raw, cues = self._score(norm, text, longest_non_overlapping(found))
        return turn_emotion(index, raw, cues, self.logits([norm.text])[0])


_new_tuple = tuple.__new__  # a NamedTuple without its generated __new__'s frame (hot path)
_SCORE = itemgetter(3)  # TurnEmotion.score


def turn_emotion(index: int, raw: float, cues: tuple[str, ...], logit: float = 0.0) -> TurnEmotion:
    """Lexicon score + model: rounded to 3 decimals (model 2), label, intensity (2 decimals)."""
    m = MODEL_WEIGHT * logit
    score = int((raw + m) * 1000) / 1000  # truncation: cheaper than round()
    if not score:
        return _new_tuple(TurnEmotion, (index, "neutral", 0.0, 0.0, cues, 0.0))
    a = -score if score < 0 else score
    label = "neutral" if a < THRESHOLD else "negative" if score < 0 else "positive"
    if m > MODEL_INTENSITY_CAP or m < -MODEL_INTENSITY_CAP:  # the strength: the model's part capped
        strength = raw + (MODEL_INTENSITY_CAP if m > 0 else -MODEL_INTENSITY_CAP)
        strength = -strength if strength < 0 else strength
        a = strength if strength < a else a
    intensity = 1.0 if a >= 4 else int(a * 25) / 100
    return _new_tuple(TurnEmotion, (index, label, intensity, score, cues, int(logit * 100) / 100))


@lru_cache(maxsize=8192)
def model_only(logit: float) -> tuple[str, float, float, tuple[str, ...], float]:
    """`turn_emotion`'s fields after the index for a turn the lexicon says nothing about: they
    depend on its logit alone, and logits are quantised (an int32 sum of int8 weights times
    one scale), so the same few thousand recur and each is computed once (hot path: two
    thirds of the customer turns)."""
    return turn_emotion(0, 0.0, (), logit)[1:]


def _label(score: float) -> str:
    return "negative" if score <= -THRESHOLD else "positive" if score >= THRESHOLD else "neutral"


@lru_cache(maxsize=1)
def default_lexicon() -> EmotionLexicon:
    return EmotionLexicon(json.loads(LEXICON_PATH.read_bytes()), default_model())


def trajectory(turns: Sequence[tuple[str | None, str]], lexicon: EmotionLexicon | None = None) -> Trajectory:
    """Emotion of every customer turn of (role, text) pairs, and how it moved."""
    lex = lexicon or default_lexicon()
    return trajectory_of(tuple(lex.turn(i, text) for i, (role, text) in enumerate(turns) if role == "customer"))


def trajectory_of(emotions: Sequence[TurnEmotion]) -> Trajectory:
    """How the customer's emotion moved over their turns (in order)."""
    emotions = tuple(emotions)
    if not emotions:
        return Trajectory((), 0.0, 0.0, "none", "neutral", None)
    scores = list(map(_SCORE, emotions))
    third = max(1, len(emotions) // 3)
    start = sum(scores[:third]) / third
    end = sum(scores[-third:]) / third
    trend = "stable"
    if len(emotions) >= 2 and end - start >= TREND_STEP:
        trend = "improving"
    elif len(emotions) >= 2 and start - end >= TREND_STEP:
        trend = "worsening"
    worst = emotions[scores.index(min(scores))]  # the first of the most negative
    return Trajectory(
        emotions,
        round(start, 3),
        round(end, 3),
        trend,
        _label(sum(scores) / len(emotions)),
        worst.turn_index if worst.label == "negative" else None,
    )
