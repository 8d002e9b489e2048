"""A small sentiment model shipped in the repository: logistic regression over hashed
character unigrams and bigrams (lexicon/emotion_model.bin, trained offline by
bench/train_emotion.py on openly licensed labelled data; see docs/scoring.md).

Why this shape: it must run on every customer turn of 100 % of conversations and in the
real-time stream, so the whole conversation's customer turns are scored in one vectorised
pass (a dozen numpy calls per conversation, whatever the number of turns), with no
segmentation and nothing downloaded. The lexicon (emotion.py) stays the evidence: the model
moves the score, the lexicon's words are the cues.

Only characters beyond ASCII and within the Basic Multilingual Plane count (Chinese): ASCII
letters, digits and punctuation (and the rare characters beyond U+FFFF) are read as the
separator, so an English turn gets the model's bias alone (the lexicon covers English;
the training data is Chinese). Features of a text t: every character of t, and every adjacent pair of "\\0" + t + "\\0" (so
the first and last characters count as such), hashed multiplicatively into 2**BITS buckets.
Turns are joined as "\\0" t1 "\\0" t2 ... "\\0", which gives each turn exactly the features
it has alone: its segment [NUL, t_i) holds its characters and its pairs, including
(last, NUL) of the next separator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).parent / "lexicon"
MODEL_PATH = MODEL_DIR / "emotion_model.bin"
META_PATH = MODEL_DIR / "emotion_model.json"
BITS = 18
K1 = np.uint32(2654435761)  # Knuth's multiplicative constants
K2 = np.uint32(2246822519)
_SHIFT = np.uint32(32 - BITS)


def feature_indexes(text: str) -> np.ndarray:
    """The hashed feature buckets of one (normalised) text, with repetition (training)."""
    s = "\0" + text + "\0"
    a = np.frombuffer(s.encode("utf-32-le"), np.uint32)
    a = a * ((a > 127) & (a < 0x10000))  # as logits() reads them (surrogates count there: rare)
    m1 = a * K1
    uni = (m1[1:-1] >> _SHIFT).astype(np.int64)  # bucket 0: ASCII, dropped by the trainer
    bi = ((m1[:-1] ^ (a[1:] * K2)) >> _SHIFT).astype(np.int64)
    return np.concatenate([uni, bi])


@dataclass(frozen=True, slots=True)
class EmotionModel:
    weights: np.ndarray  # int8 (quantised), 2**BITS buckets
    scale: float  # weight = weights[i] * scale
    bias: float
    meta: dict
    # The unigram weight per UTF-16 code unit (int8, built at load; 0 for ASCII). Small tables
    # on purpose: a 256 KiB + 64 KiB working set stays in cache next to the rules' automaton.
    unigram: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    @classmethod
    def of(cls, weights: np.ndarray, scale: float, bias: float, meta: dict) -> EmotionModel:
        codes = np.arange(0x10000, dtype=np.uint32)
        codes = codes * (codes > 127)
        unigram = weights[(codes * K1) >> _SHIFT]
        unigram[0] = 0
        return cls(weights, scale, bias, meta, unigram)

    def logits(self, texts: Sequence[str]) -> list[float]:
        """The model's evidence (log odds of positive, without the bias) of each normalised
        text, in one pass over the texts joined."""
        if not texts:
            return []
        s = "\0" + "\0".join(texts) + "\0"
        a16 = np.frombuffer(s.encode("utf-16-le"), np.uint16)
        starts = [0]
        pos = 0
        for t in texts[:-1]:
            pos += len(t) + 1
            starts.append(pos)
        if len(a16) != len(s):  # characters beyond U+FFFF took two code units: map them to one
            a = np.frombuffer(s.encode("utf-32-le"), np.uint32)
            a16 = (a * (a < 0x10000)).astype(np.uint16)
        a = a16.astype(np.uint32)
        a *= a > 127
        pairs = (a[:-1] * K1) ^ (a[1:] * K2)
        pairs >>= _SHIFT
        # a turn's segment [its separator, the next separator) holds its characters and pairs
        total = np.add.reduceat(self.weights[pairs], starts, dtype=np.int32)
        total += np.add.reduceat(self.unigram[a16[:-1]], starts, dtype=np.int32)
        # The bias (the training set's prior, -0.07) is left out: a turn with no Chinese
        # character, or none the model knows, gets 0 and the lexicon alone decides it.
        return (total * self.scale).tolist()

    def logit(self, text: str) -> float:
        return self.logits([text])[0]


def load(path: Path = MODEL_PATH, meta_path: Path = META_PATH) -> EmotionModel:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta["bits"] != BITS:
        raise ValueError(f"{path.name} was trained with {meta['bits']} bits; this code hashes into {BITS}")
    return EmotionModel.of(np.fromfile(path, dtype=np.int8), float(meta["scale"]), float(meta["bias"]), meta)


@lru_cache(maxsize=1)
def default_model() -> EmotionModel:
    return load()


def save(path: Path, meta_path: Path, weights: np.ndarray, bias: float, meta: dict) -> None:
    """Quantise to int8 (one scale for the table) and write the two files (training only)."""
    scale = float(np.abs(weights).max()) / 127 or 1.0
    q = np.clip(np.rint(weights / scale), -127, 127).astype(np.int8)
    q.tofile(path)
    meta = {**meta, "bits": BITS, "scale": scale, "bias": bias}
    meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
