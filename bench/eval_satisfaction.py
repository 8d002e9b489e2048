"""Predicted satisfaction and the QA scorecard against rated satisfaction (not a test).

    make eval            # runs every bench/eval_*.py

Set: bench/data/dialogues_satisfaction.jsonl — 32 customer-service dialogues (zh, 4-10 turns)
with the customer's satisfaction 1-5, written and rated by the Kefu team for issue #16. No
public dialogue set with rated satisfaction is obtainable offline here (NTCIR-14 STC-3 is not
on PyPI), so this is the team's own, and the same person wrote the dialogues, rated them and
set the predictor's weights: the figures are optimistic and small-sample (n = 32).

Reported, with the default ruleset: Spearman of the predicted satisfaction with the rating,
next to baselines in the same run (the last customer turn's emotion by the lexicon alone and
by snownlp); the QA total's Spearman with the rating and with the number of turns, also on a
synthetic length stress (the same dialogues padded with 0-9 ordinary exchanges: the team's
dialogues are short, 4-10 turns, unlike real service chats); per rule,
its hit rate and the mean rating of the dialogues it hit against the rest. Last line: JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in ("libs/common", "services/scoring", "gen", "bench"):
    sys.path.insert(0, str(ROOT / extra))

from kefu_scoring.emotion import LEXICON_PATH, EmotionLexicon  # noqa: E402
from kefu_scoring.engine import Turn, compile_ruleset  # noqa: E402
from kefu_scoring.rules import load_ruleset  # noqa: E402
from kefu_scoring.service import analyse  # noqa: E402

DIALOGUES = ROOT / "bench" / "data" / "dialogues_satisfaction.jsonl"
FILLER = (
    [("agent", "好的，我看一下，您稍等"), ("customer", "嗯，好")],
    [("agent", "这个具体时间我不知道，我帮您问一下同事"), ("customer", "行")],
    [("customer", "那大概要多久"), ("agent", "一般是三到五个工作日")],
)


def ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(x: list[float], y: list[float]) -> float:
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx) ** 0.5
    vy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (vx * vy) if vx and vy else 0.0


def load() -> list[dict]:
    return [json.loads(line) for line in DIALOGUES.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    dialogues = load()
    compiled = compile_ruleset(load_ruleset())
    lexicon_only = EmotionLexicon(json.loads(LEXICON_PATH.read_bytes()))
    try:
        from snownlp import SnowNLP
    except ImportError:
        raise SystemExit("snownlp is not installed: run `make eval`") from None
    rated, predicted, totals, lengths, lex_last, snow_last = [], [], [], [], [], []
    fired: dict[str, list[int]] = {}
    for i, d in enumerate(dialogues):
        turns = [Turn(role, text) for role, text in d["turns"]]
        a = analyse(compiled, turns)
        rated.append(d["satisfaction"])
        predicted.append(a.satisfaction.score)
        totals.append(a.score.total)
        lengths.append(len(turns))
        last = [t for r, t in d["turns"] if r == "customer"][-1]
        lex_last.append(lexicon_only.turn(0, last).score)
        snow_last.append(SnowNLP(last).sentiments)
        for rule in {h.rule_id for h in a.score.hits}:
            fired.setdefault(rule, []).append(i)
    # Length stress (synthetic): the same dialogues with 0-9 extra exchanges of filler inserted
    # before the last two turns (ordinary phrasing, one of them with 不知道 as agents say it).
    padded_totals, padded_lengths, padded_predicted = [], [], []
    for i, d in enumerate(dialogues):
        extra = [pair for k in range(i % 10) for pair in FILLER[k % len(FILLER)]]
        turns = [Turn(role, text) for role, text in d["turns"][:-2] + extra + d["turns"][-2:]]
        a = analyse(compiled, turns)
        padded_totals.append(a.score.total)
        padded_lengths.append(len(turns))
        padded_predicted.append(a.satisfaction.score)
    rows = {
        "predicted satisfaction vs rating": spearman(predicted, rated),
        "baseline: last customer turn, lexicon alone": spearman(lex_last, rated),
        "baseline: last customer turn, snownlp": spearman(snow_last, rated),
        "QA total vs rating": spearman(totals, rated),
        "QA total vs number of turns": spearman(totals, lengths),
        "predicted satisfaction vs number of turns": spearman(predicted, lengths),
        "padded: QA total vs number of turns": spearman(padded_totals, padded_lengths),
        "padded: QA total vs rating": spearman(padded_totals, rated),
        "padded: predicted satisfaction vs rating": spearman(padded_predicted, rated),
    }
    print(f"{len(dialogues)} dialogues (team-written, rated 1-5)")
    print(f"{'Spearman':<48} {'rho':>6}")
    for name, rho in rows.items():
        print(f"{name:<48} {rho:>6.2f}")
    print(f"\n{'rule':<24} {'hit rate':>8} {'mean rating hit':>16} {'not hit':>8}")
    rule_rows = []
    for rule, hit in sorted(fired.items(), key=lambda kv: -len(kv[1])):
        rest = [r for i, r in enumerate(rated) if i not in set(hit)]
        mean_hit = sum(rated[i] for i in hit) / len(hit)
        mean_rest = sum(rest) / len(rest) if rest else float("nan")
        rule_rows.append({"rule": rule, "hit_rate": round(len(hit) / len(dialogues), 3),
                          "mean_rating_hit": round(mean_hit, 2), "mean_rating_not_hit": round(mean_rest, 2)})
        print(f"{rule:<24} {len(hit) / len(dialogues):>8.0%} {mean_hit:>16.2f} {mean_rest:>8.2f}")
    labels = {}
    for p, r in zip(predicted, rated):
        from kefu_scoring.satisfaction import label_of
        labels.setdefault(label_of(p), []).append(r)
    print("\npredicted label: " + ", ".join(f"{k} n={len(v)} mean rating {sum(v) / len(v):.2f}" for k, v in labels.items()))
    print(json.dumps({"name": "satisfaction", "dialogues": len(dialogues),
                      "spearman": {k: round(v, 3) for k, v in rows.items()}, "rules": rule_rows}, ensure_ascii=False))


if __name__ == "__main__":
    main()
