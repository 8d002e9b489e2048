"""Risk intent on the team's own labelled utterances (not a test, not a benchmark).

    .venv/bin/python bench/eval_risk.py [--show-errors]

Sets (written by us, bench/data/): `risk_dev.tsv` (the rules of kefu_scoring/risk.py are tuned
on it) and `risk_heldout.tsv` (written at the same time, never used for tuning). One customer
utterance a line: `threat` with its kind (regulator, media, legal, police, abuse, complaint)
or `mention` (negations, questions, third parties, withdrawn complaints, order numbers,
hypotheticals).

* system   = the default ruleset scored by `service.analyse` on a one-turn conversation (the
             customer's utterance), and its risk flags as ScoreConversation stores them
             (`service.risk_signals`: rule alerts, then strong negative emotion); a flag's
             kind is its rule's (risk-police: police), `negative_emotion` for emotion.
* baseline = a bare substring search of the risk words of the packs at commit 245cd5c (the
             `customer_risk` keywords and the customer-abuse words), kind = the word's rule.

Reported per set: recall and precision of "any risk flag", false-positive rate on mentions,
kind right (first flag's kind; over every threat, and over the threats flagged), and the same
with kinds as escalation sees them (police = legal). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in ("libs/common", "services/scoring", "gen"):
    sys.path.insert(0, str(ROOT / extra))

from kefu_scoring.engine import Turn, compile_ruleset  # noqa: E402
from kefu_scoring.risk import SIGNAL_KIND  # noqa: E402
from kefu_scoring.rules import DEFAULT_RULESET_PATH, load_ruleset  # noqa: E402
from kefu_scoring.service import Conversation, analyse, risk_signals  # noqa: E402

SETS = (("dev", ROOT / "bench" / "data" / "risk_dev.tsv"),
        ("held-out", ROOT / "bench" / "data" / "risk_heldout.tsv"))
TARGETS = {"recall": 0.95, "precision": 0.90, "kind_right": 0.90}
RULE_KIND = {"risk-regulator": "regulator", "risk-media": "media", "risk-legal": "legal",
             "risk-police": "police", "risk-complaint": "complaint", "customer-abuse": "abuse"}

# The risk words of commit 245cd5c (packs customer_risk v1 and abuse v1, customer-abuse).
BASELINE_WORDS: dict[str, tuple[str, ...]] = {
    "regulator": ("12315", "12345", "消协", "消费者协会", "市场监管", "工商局", "监管部门", "regulator",
                  "consumer protection", "ombudsman", "better business bureau", "trading standards"),
    "media": ("媒体", "曝光", "记者", "电视台", "报社", "发微博", "发抖音", "上热搜", "网上曝光", "media",
              "journalist", "newspaper", "reporter", "the press", "go public", "social media",
              "post online", "tv station"),
    "legal": ("律师", "起诉", "法院", "打官司", "诉讼", "告你们", "报警", "警察", "lawyer", "attorney", "sue",
              "suing", "court", "legal action", "lawsuit", "police"),
    "complaint": ("投诉", "欺骗", "骗子", "骗人", "诈骗", "虚假宣传", "complain", "complaint", "fraud",
                  "scam", "cheated", "deceived", "deceive", "false advertising"),
    "abuse": ("傻逼", "去死", "混蛋", "王八蛋", "他妈的", "神经病", "白痴", "脑子有病", "废物", "idiot",
              "stupid", "moron", "screw you", "damn you", "fuck", "bitch", "useless"),
}


def load(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, kind, text = line.split("\t", 2)
        rows.append((label, kind, text))
    return rows


def baseline(text: str) -> list[str]:
    """Kinds of the risk words found, in order of position (a bare substring search)."""
    low = text.lower()
    found = []
    for kind, words in BASELINE_WORDS.items():
        at = [low.find(w) for w in words if w in low]
        if at:
            found.append((min(at), kind))
    return [kind for _, kind in sorted(found)]


def system() -> Callable[[str], list[str]]:
    compiled = compile_ruleset(load_ruleset(DEFAULT_RULESET_PATH))

    def flags(text: str) -> list[str]:
        turns = (Turn("customer", text),)
        analysis = analyse(compiled, turns)
        hits = sorted(analysis.score.hits, key=lambda h: h.turn_index)
        raised = risk_signals(Conversation("eval", turns), hits, analysis.emotion.turns)
        kinds = []
        for signal in raised:  # in the order of evaluation.risk_flags
            rule = next((h.rule_id for h in hits if h.alert == signal.kind), "")
            kind = RULE_KIND.get(rule, signal.kind)
            if kind not in kinds:
                kinds.append(kind)
        return kinds

    return flags


def measure(rows: list[tuple[str, str, str]], flags: Callable[[str], list[str]],
            errors: list[str] | None = None) -> dict[str, float]:
    tp = fp = tn = fn = kind_right = signal_right = 0
    signal_of = {**SIGNAL_KIND, "negative_emotion": "negative_emotion"}
    for label, kind, text in rows:
        got = flags(text)
        if label == "threat":
            if got:
                tp += 1
                kind_right += got[0] == kind
                signal_right += signal_of[got[0]] == signal_of[kind]
                if errors is not None and got[0] != kind:
                    errors.append(f"kind  {kind:9} got {got}: {text}")
            else:
                fn += 1
                if errors is not None:
                    errors.append(f"miss  {kind:9}: {text}")
        else:
            if got:
                fp += 1
                if errors is not None:
                    errors.append(f"false {'-':9} got {got}: {text}")
            else:
                tn += 1
    threats = tp + fn
    return {
        "threats": threats, "mentions": fp + tn,
        "recall": tp / threats if threats else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "fpr": fp / (fp + tn) if fp + tn else 0.0,
        "kind_right": kind_right / threats if threats else 0.0,
        "kind_right_flagged": kind_right / tp if tp else 0.0,
        "signal_kind_right": signal_right / threats if threats else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-errors", action="store_true",
                        help="list the system's misses and false alarms on the dev set (never on"
                             " the held-out set: looking at those would be tuning on it)")
    args = parser.parse_args()
    ours = system()
    header = (f"{'set':9} {'method':9} {'threats':>7} {'mentions':>8} {'recall':>7} {'precision':>9}"
              f" {'FPR':>6} {'kind':>6} {'kind|flag':>9} {'signal kind':>11}")
    print(header)
    print("-" * len(header))
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for name, path in SETS:
        rows = load(path)
        errors: list[str] = []
        for method, fn in (("baseline", baseline), ("system", ours)):
            m = measure(rows, fn, errors if method == "system" else None)
            summary.setdefault(name, {})[method] = {k: round(v, 4) for k, v in m.items()}
            print(f"{name:9} {method:9} {m['threats']:>7} {m['mentions']:>8} {m['recall']:>7.3f}"
                  f" {m['precision']:>9.3f} {m['fpr']:>6.3f} {m['kind_right']:>6.3f}"
                  f" {m['kind_right_flagged']:>9.3f} {m['signal_kind_right']:>11.3f}")
        if args.show_errors and errors and name == "dev":
            print(f"  {name}: {len(errors)} errors of the system")
            for e in errors:
                print("   ", e)
    print(f"targets (held-out): recall >= {TARGETS['recall']}, precision >= {TARGETS['precision']},"
          f" kind right >= {TARGETS['kind_right']}")
    held = summary["held-out"]["system"]
    met = all(held[k] >= v for k, v in TARGETS.items())
    print(json.dumps({"name": "risk_intent", "sets": summary, "targets": TARGETS, "met_held_out": met},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
