"""`kefu qa score FILE.jsonl`: score a corpus of transcripts in-process, in batch.
(`kefu qa import FILE.jsonl`: send a corpus to the running platform, see importer.py.)

Each input line is one conversation:

    {"conversation_id": "c-1", "ticket_id": "T-9", "agent_id": "a-7",
     "started_at": "2026-09-01T10:00:00+08:00", "category": "product", "channel": "phone",
     "product": "smart-tv-x9",
     "turns": [{"role": "customer", "text": "...", "start_ms": 0, "end_ms": 2300}, ...]}

Writes one result per line to `--out` (default FILE.scored.jsonl: total, grade, dimensions,
hits with evidence, emotion, risk flags; every quote PII-masked) and a summary report to
`--report` (default FILE.report.json: counts, grade distribution, mean score, hits per rule,
risk flags, lines refused and why). A line that cannot be scored is reported with its line
number and the same message the API would give; the run goes on. Progress goes to stderr.
Nothing is stored in the database and no signal is raised: this is for analysing a corpus
(e.g. three months of transcripts) and for trying a ruleset before publishing it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kefu_common.errors import ServiceError
from kefu_scoring import importer
from kefu_scoring.engine import compile_ruleset
from kefu_scoring.rules import DEFAULT_RULESET_PATH, load_ruleset
from kefu_scoring.service import Conversation, Turn, analyse, masked_hits, risk_signals, validate

PROGRESS_EVERY = 200


def _conversation(doc: Any, line_no: int) -> Conversation:
    if not isinstance(doc, dict) or not isinstance(doc.get("turns"), list):
        raise ValueError("expected an object with a turns list")
    turns = []
    for i, t in enumerate(doc["turns"]):
        if not isinstance(t, dict) or not isinstance(t.get("text"), str):
            raise ValueError(f"turns[{i}] must be an object with a text")
        role = t.get("role")
        turns.append(
            Turn(
                role=role if role in ("agent", "customer", "bot") else None,
                text=t["text"],
                start_ms=int(t.get("start_ms") or 0),
                end_ms=int(t.get("end_ms") or 0),
            )
        )
    return Conversation(
        request_id=f"line-{line_no}",
        turns=tuple(turns),
        conversation_id=str(doc.get("conversation_id") or ""),
        ticket_id=str(doc.get("ticket_id") or ""),
        agent_id=str(doc.get("agent_id") or ""),
        category=str(doc.get("category") or ""),
        channel=str(doc.get("channel") or ""),
        product=str(doc.get("product") or ""),
        started_at=started_at_of(doc),
    )


def started_at_of(doc: dict[str, Any]) -> datetime | None:
    """A line's `started_at` (ISO 8601 with a UTC offset or Z), None when absent."""
    value = doc.get("started_at")
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"started_at {str(value)[:40]!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError("started_at needs a UTC offset (e.g. 2026-09-01T10:00:00+08:00 or ...Z)")
    return parsed.astimezone(UTC)


def score_lines(lines: Iterator[str], ruleset_path: Path = DEFAULT_RULESET_PATH) -> Iterator[dict[str, Any]]:
    """One result (or error) per non-empty input line."""
    ruleset = load_ruleset(ruleset_path)
    compiled = compile_ruleset(ruleset)
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            conversation = _conversation(json.loads(line), line_no)
            validate(conversation)
        except (ValueError, ServiceError) as exc:
            message = exc.message if isinstance(exc, ServiceError) else str(exc)
            yield {"line": line_no, "error": message}
            continue
        analysis = analyse(compiled, conversation.turns)
        score = analysis.score
        hits = masked_hits(score.hits, lambda i, turns=conversation.turns: turns[i].text)
        yield {
            "line": line_no,
            "conversation_id": conversation.conversation_id,
            "ticket_id": conversation.ticket_id,
            "agent_id": conversation.agent_id,
            "started_at": conversation.started_at.isoformat() if conversation.started_at else None,
            "category": conversation.category,
            "channel": conversation.channel,
            "product": conversation.product,
            "ruleset_id": ruleset.id,
            "ruleset_version": ruleset.version,
            "total_score": score.total,
            "grade": score.grade,
            "fatal": score.fatal,
            "dimensions": [asdict(d) for d in score.dimensions],
            "not_applicable": list(score.not_applicable),
            "hits": [asdict(h) for h in hits],
            "emotion": {"trend": analysis.emotion.trend, "overall": analysis.emotion.overall},
            "language": analysis.language,
            "risk_flags": [s.kind for s in risk_signals(conversation, hits, analysis.emotion.turns)],
        }


class Summary:
    """Running totals, so a corpus of any size is summarised in constant memory."""

    def __init__(self) -> None:
        self.scored = 0
        self.refused: list[dict[str, Any]] = []
        self.total = 0.0
        self.fatal = 0
        self.grades: Counter[str] = Counter()
        self.rules: Counter[str] = Counter()
        self.risks: Counter[str] = Counter()
        self.trends: Counter[str] = Counter()

    def add(self, result: dict[str, Any]) -> None:
        if "error" in result:
            self.refused.append(result)
            return
        self.scored += 1
        self.total += result["total_score"]
        self.fatal += result["fatal"]
        self.grades[result["grade"]] += 1
        self.rules.update(h["rule_id"] for h in result["hits"])
        self.risks.update(result["risk_flags"])
        self.trends[result["emotion"]["trend"]] += 1

    def report(self, seconds: float) -> dict[str, Any]:
        return {
            "conversations": self.scored + len(self.refused),
            "scored": self.scored,
            "refused": len(self.refused),
            "refused_lines": self.refused[:100],
            "mean_score": round(self.total / self.scored, 2) if self.scored else None,
            "grades": dict(sorted(self.grades.items())),
            "fatal": self.fatal,
            "hits_per_rule": dict(self.rules.most_common()),
            "risk_flags": dict(self.risks.most_common()),
            "emotion_trend": dict(self.trends.most_common()),
            "seconds": round(seconds, 3),
        }


def run(source: Path, out: Path, report: Path, ruleset: Path, progress: TextIO) -> dict[str, Any]:
    started = time.perf_counter()
    summary = Summary()
    count = 0
    with source.open(encoding="utf-8") as lines, out.open("w", encoding="utf-8") as sink:
        for result in score_lines(lines, ruleset):
            summary.add(result)
            sink.write(json.dumps(result, ensure_ascii=False) + "\n")
            count += 1
            if count % PROGRESS_EVERY == 0:
                rate = count / (time.perf_counter() - started)
                progress.write(f"\rscored {count:,} conversations ({rate:,.0f}/s)")
                progress.flush()
    totals = summary.report(time.perf_counter() - started)
    report.write_text(json.dumps(totals, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    progress.write(
        f"\rscored {totals['scored']:,} conversations, refused {totals['refused']:,},"
        f" in {totals['seconds']:.1f} s -> {out}, {report}\n"
    )
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kefu", description="Kefu command line")
    commands = parser.add_subparsers(dest="area", required=True)
    qa = commands.add_parser("qa", help="quality inspection").add_subparsers(dest="command", required=True)
    score = qa.add_parser("score", help="score a JSONL corpus of conversations in-process")
    score.add_argument("file", type=Path)
    score.add_argument("--out", type=Path, help="results (default FILE.scored.jsonl)")
    score.add_argument("--report", type=Path, help="summary (default FILE.report.json)")
    score.add_argument("--ruleset", type=Path, default=DEFAULT_RULESET_PATH)
    importer.add_parser(qa)
    args = parser.parse_args(argv)
    if args.command == "import":
        return importer.main(args, parser)
    if not args.file.is_file():
        parser.error(f"{args.file} is not a file")
    stem = args.file.with_suffix("")
    try:
        run(
            args.file,
            args.out or stem.with_name(stem.name + ".scored.jsonl"),
            args.report or stem.with_name(stem.name + ".report.json"),
            args.ruleset,
            sys.stderr,
        )
    except ServiceError as exc:  # a ruleset that does not validate
        print(f"kefu: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
