"""Voice of customer: are the top three reasons the true three, their shares within 5 points,
on corpus shapes the method was not written against (not a test, not a benchmark).

    .venv/bin/python bench/eval_voc.py [--n 600] [--seeds 2] [--only once] [--scale 100000]

Corpora: bench/voc_shapes.py — six domains (smart TV, e-commerce refunds, courier, telecom
billing, credit card, food delivery) × five shapes (reason said 1-3 times; said once; once
with 15 % calls of no clear reason; unequal shares 35/25/15 with side remarks; once, unequal,
10 % noise) × seeds. Vocabulary, products and seeds differ from tests/voc_corpus.py, which the
method's constants were first set on.

Per corpus, the method runs as the report runs it (reasons.discover on the customer turns,
the default ruleset's greeting/closing words as scripts, months as periods, then every
conversation assigned); each of the three largest reasons is named by the true reason of most
of its conversations. `ok`: those are the true top three and each share (its conversations ÷
all) is within 5 points of that reason's true share. `err`: the worst share error of the
three, in points. `bp`: a word of the product's name among the top three reasons'
phrases (boilerplate ranking somewhere). `--scale N`: the time of phrases, discovery (on the
report's 5,000-conversation sample) and assignment for N conversations. The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
for extra in ("libs/common", "services/scoring", "gen", "bench"):
    sys.path.insert(0, str(ROOT / extra))

from kefu_scoring import reasons as method  # noqa: E402
from kefu_scoring.rules import DEFAULT_RULESET_PATH, load_ruleset  # noqa: E402
from kefu_scoring.voc import MAX_DISCOVERY, script_phrases  # noqa: E402
from voc_shapes import DOMAINS, SHAPES, Domain, generate, truth_shares  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOLERANCE = 0.05


def conversations(corpus: list[dict]) -> list[method.Conversation]:
    out = []
    for c in corpus:
        customer = [t["text"] for t in c["turns"] if t["role"] == "customer"]
        agent = [t["text"] for t in c["turns"] if t["role"] == "agent"]
        local = c["started_at"].astimezone(SHANGHAI)
        out.append(method.Conversation(method.features(customer), method.script_words(agent),
                                       local.year * 12 + local.month))
    return out


def judge(domain: Domain, corpus: list[dict], scripts: frozenset[str]) -> dict:
    convs = conversations(corpus)
    model = method.discover(convs, scripts)
    assigned = [model.assign(model.context(c.features, c.agent_words))[0] for c in convs]
    truth = truth_shares(corpus)
    counts = Counter(a for a in assigned if a >= 0)
    found = []
    for index, count in counts.most_common(3):
        labels = Counter(corpus[j]["truth"] for j, a in enumerate(assigned) if a == index)
        found.append((labels.most_common(1)[0][0], count / len(corpus), model.reasons[index]))
    true_top = list(truth)[:3]
    errors = [abs(share - truth.get(label or "", 0.0)) for label, share, _ in found]
    shared = set(method.terms(domain.name))  # said in every call
    phrases = {w for _, _, r in found for p, _ in r.phrases for w in p.split(" ")}
    ok = sorted(str(label) for label, _, _ in found) == sorted(true_top) and max(errors, default=1) <= TOLERANCE
    return {
        "ok": ok, "err": round(100 * max(errors, default=1), 1), "boilerplate": sorted(phrases & shared),
        "found": [(label, round(100 * share, 1)) for label, share, _ in found],
        "truth": [(k, round(100 * truth[k], 1)) for k in true_top],
        "labels": [r.label for _, _, r in found],
    }


def scale(n: int, scripts: frozenset[str]) -> dict:
    """Seconds for `n` conversations: phrases of every one, discovery on the report's sample,
    assignment of every one (what voc.report does, without the database)."""
    corpus = generate(DOMAINS[1], SHAPES[0], seed=99, n=n)
    t0 = time.process_time()
    convs = conversations(corpus)
    t1 = time.process_time()
    model = method.discover(convs[:MAX_DISCOVERY], scripts)
    t2 = time.process_time()
    for c in convs:
        model.assign(model.context(c.features, c.agent_words))
    t3 = time.process_time()
    return {"n": n, "phrases_s": round(t1 - t0, 2), "discover_s": round(t2 - t1, 2), "assign_s": round(t3 - t2, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=101)
    parser.add_argument("--only", default="", help="shape or domain key")
    parser.add_argument("--scale", type=int, default=0, help="time N conversations too")
    parser.add_argument("--show", action="store_true", help="print each corpus's found vs true reasons")
    parser.add_argument("--customer-only", action="store_true",
                        help="the method before agent answers were read (reasons.USE_AGENT off)")
    args = parser.parse_args(argv)
    method.USE_AGENT = not args.customer_only
    scripts = script_phrases(load_ruleset(DEFAULT_RULESET_PATH))
    rows = []
    print(f"{'domain':8} {'shape':13} {'seed':>4} {'n':>5}  ok  {'err':>5}  bp  found (share %) / truth")
    for shape in SHAPES:
        for domain in DOMAINS:
            if args.only and args.only not in (shape.key, domain.key):
                continue
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                corpus = generate(domain, shape, seed=seed, n=args.n)
                t = time.process_time()
                result = judge(domain, corpus, scripts)
                result.update(domain=domain.key, shape=shape.key, seed=seed, s=round(time.process_time() - t, 2))
                rows.append(result)
                found = " ".join(f"{k}:{v}" for k, v in result["found"])
                print(f"{domain.key:8} {shape.key:13} {seed:>4} {args.n:>5}  {'yes' if result['ok'] else 'NO '} "
                      f"{result['err']:>5}  {'!' if result['boilerplate'] else '-':>2}  {found}")
                if args.show or not result["ok"]:
                    print(f"{'':37}truth {' '.join(f'{k}:{v}' for k, v in result['truth'])}"
                          f" | labels {result['labels']}")
    print()
    print(f"{'shape':13} corpora  ok  worst err")
    by_shape: dict[str, list[dict]] = {}
    for r in rows:
        by_shape.setdefault(r["shape"], []).append(r)
    for key, rs in by_shape.items():
        print(f"{key:13} {len(rs):>7} {sum(r['ok'] for r in rs):>3}  {max(r['err'] for r in rs):>8}")
    summary = {"corpora": len(rows), "ok": sum(r["ok"] for r in rows),
               "boilerplate_in_top3": sum(bool(r["boilerplate"]) for r in rows),
               "worst_err_points": max((r["err"] for r in rows), default=None),
               "load_average": round(os.getloadavg()[0], 2)}
    print(f"all {summary['corpora']} corpora: {summary['ok']} ok, boilerplate in the top three of "
          f"{summary['boilerplate_in_top3']} (load average {summary['load_average']})")
    if args.scale:
        summary["scale"] = scale(args.scale, scripts)
        print(f"scale: {summary['scale']} (process CPU seconds)")
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
