"""A small sentiment model shipped in the repository: logistic regression over hashed
character unigrams, bigrams and trigrams (lexicon/emotion_model.bin, trained offline by
bench/train_emotion.py on openly licensed labelled data; see docs/scoring.md).

Why this shape: it must run on every customer turn of 100 % of conversations and in the
real-time stream, so the whole conversation's customer turns are scored in one vectorised
pass (about fifteen numpy calls per conversation, whatever the number of turns; a turn
scored alone skips the segmenting), with no
segmentation and nothing downloaded. The lexicon (emotion.py) stays the evidence: the model
moves the score, the lexicon's words are the cues.

Only characters beyond ASCII and within the Basic Multilingual Plane count (Chinese): ASCII
letters, digits and punctuation (and the rare characters beyond U+FFFF) are read as the
separator, so an English turn gets 0 (the lexicon covers English; the training data is
Chinese). Features of a text t, over s = "\\0\\0" + t + "\\0\\0" (so the first and last
characters count as such), hashed multiplicatively into 2**BITS buckets of one table:

* every character of t (unigrams);
* every adjacent pair of s (bigrams);
* every adjacent triple of s (trigrams: 不太好, 没想到, 太难吃).

A pair or triple ending on a separator hashes like its first character or pair (the
separator is 0): so a clause-final character or pair weighs more, the same in training and
here, by construction. Texts are framed by two NULs on each side (`frame`), which gives each
turn of a conversation scored in one pass exactly the features it has alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).parent / "lexicon"
MODEL_PATH = MODEL_DIR / "emotion_model.bin"
META_PATH = MODEL_DIR / "emotion_model.json"
BITS = 18
FEATURES = "char-1-2-3"  # written in the meta file by the trainer, checked at load
K1 = np.uint32(2654435761)  # Knuth's multiplicative constants
K2 = np.uint32(2246822519)
K3 = np.uint32(3266489917)
_SHIFT = np.uint32(32 - BITS)
_PLUS_2 = (2).__add__  # a text's length plus its two separators, without a Python frame


def _codes(s: str) -> np.ndarray:
    """The uint32 code of each character of `s`, 0 for ASCII and beyond U+FFFF."""
    a = np.frombuffer(s.encode("utf-32-le"), np.uint32)
    return a * ((a > 127) & (a < 0x10000))


def _hashes(a16: np.ndarray) -> np.ndarray:
    """The feature hashes (shifted: buckets) of the code units a16 of a framed text or
    conversation (see `frame`), in three parts: the pair starting at each position (n - 1),
    the triple starting there (n - 2), the character at each position but the last (n - 1)."""
    n = len(a16)
    above = a16 > 127
    a = a16.astype(np.uint32)
    a *= above.view(np.uint8)  # (a uint8 factor: numpy multiplies by a bool array through a slower loop)
    m1 = a * K1
    h = np.empty(3 * n - 4, np.uint32)
    pairs = np.bitwise_xor(m1[:-1], a[1:] * K2, out=h[: n - 1])
    np.bitwise_xor(pairs[:-1], a[2:] * K3, out=h[n - 1 : 2 * n - 3])
    h[2 * n - 3 :] = m1[:-1]
    h >>= _SHIFT
    return h


def frame(texts: Sequence[str]) -> str:
    """"\\0\\0" t1 "\\0\\0" t2 ... "\\0\\0": the segment of each text, from its first NUL to the
    next text's, holds exactly the features the text has framed alone ("\\0\\0" t "\\0\\0"):
    every pair and triple that touches its characters, and no feature of its neighbours."""
    return "\0\0" + "\0\0".join(texts) + "\0\0"


def feature_indexes(text: str) -> np.ndarray:
    """The hashed feature buckets of one (normalised) text, with repetition (training);
    bucket 0 (the separators) is dropped by the trainer."""
    return _hashes(_codes(frame([text])).astype(np.uint16)).astype(np.int64)


@dataclass(frozen=True, slots=True)
class EmotionModel:
    weights: np.ndarray  # int8 (quantised), 2**BITS buckets; weights[0] == 0
    scale: float  # weight = weights[i] * scale
    bias: float
    meta: dict
    # the same weights as int16, which `logits` gathers: its sums then add arrays of one type
    # (numpy adds int8 to int16 through a casting loop, twice as slow); the sums are exact
    wide: np.ndarray

    @classmethod
    def of(cls, weights: np.ndarray, scale: float, bias: float, meta: dict) -> EmotionModel:
        return cls(weights, scale, bias, meta, weights.astype(np.int16))

    def logits(self, texts: Sequence[str]) -> list[float]:
        """The model's evidence (log odds of positive, without the bias) of each normalised
        text, in one pass over the texts joined."""
        if not texts:
            return []
        s = frame(texts)
        a16 = np.frombuffer(s.encode("utf-16-le"), np.uint16)
        if len(a16) != len(s):  # characters beyond U+FFFF took two code units: map them to one
            a16 = _codes(s).astype(np.uint16)
        # (`take`, not `wide[...]`: numpy indexes with uint32 through a slow casting path)
        g = self.wide.take(_hashes(a16))
        # The bias (the training set's prior) is left out: a turn with no Chinese character,
        # or none the model knows, gets 0 and the lexicon alone decides it.
        if len(texts) == 1:
            return [int(g.sum(dtype=np.int32)) * self.scale]
        n = len(a16)
        # per position: the pair, the triple and the character starting there (int16 sums)
        v = g[: n - 1] + g[2 * n - 3 :]
        v[:-1] += g[n - 1 : 2 * n - 3]
        # a text's segment [its first NUL, the next text's first NUL) holds all its features
        total = np.add.reduceat(v, list(accumulate(map(_PLUS_2, map(len, texts[:-1])), initial=0)), dtype=np.int32)
        return (total * self.scale).tolist()

    def logit(self, text: str) -> float:
        return self.logits([text])[0]


def load(path: Path = MODEL_PATH, meta_path: Path = META_PATH) -> EmotionModel:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta["bits"] != BITS or meta.get("features") != FEATURES:
        raise ValueError(
            f"{path.name} was trained with {meta['bits']} bits and features {meta.get('features')!r};"
            f" this code hashes {FEATURES!r} into {BITS} bits"
        )
    return EmotionModel.of(np.fromfile(path, dtype=np.int8), float(meta["scale"]), float(meta["bias"]), meta)


@lru_cache(maxsize=1)
def default_model() -> EmotionModel:
    return load()


def quantise(weights: np.ndarray) -> tuple[np.ndarray, float]:
    """int8 weights and the one scale of the table (training only)."""
    scale = float(np.abs(weights).max()) / 127 or 1.0
    return np.clip(np.rint(weights / scale), -127, 127).astype(np.int8), scale


def save(path: Path, meta_path: Path, weights: np.ndarray, bias: float, meta: dict) -> None:
    """Quantise and write the two files (training only)."""
    q, scale = quantise(weights)
    q.tofile(path)
    meta = {**meta, "bits": BITS, "features": FEATURES, "scale": scale, "bias": bias}
    meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
