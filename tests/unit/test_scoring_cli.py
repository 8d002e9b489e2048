"""`kefu qa score FILE.jsonl`: batch scoring of a corpus, results and summary report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kefu_scoring.cli import main

GOOD = {
    "conversation_id": "c-1",
    "turns": [
        {"role": "customer", "text": "我要打12315投诉你们，电话13800138000"},
        {"role": "agent", "text": "您好，这个不归我管"},
    ],
}


def write_corpus(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_corpus_is_scored_line_by_line_with_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = {"turns": [{"role": "agent", "text": "您好，我帮您查询一下"}]}
    corpus = write_corpus(tmp_path, json.dumps(GOOD, ensure_ascii=False), "", json.dumps(clean, ensure_ascii=False))

    assert main(["qa", "score", str(corpus)]) == 0

    results = [json.loads(line) for line in (tmp_path / "calls.scored.jsonl").read_text().splitlines()]
    assert [r["line"] for r in results] == [1, 3]
    first = results[0]
    assert first["conversation_id"] == "c-1"
    assert {"regulator", "other"} <= set(first["risk_flags"])
    assert "shirking" in {h["rule_id"] for h in first["hits"]}
    assert "13800138000" not in json.dumps(first, ensure_ascii=False)
    report = json.loads((tmp_path / "calls.report.json").read_text())
    assert (report["conversations"], report["scored"], report["refused"]) == (2, 2, 0)
    assert report["hits_per_rule"]["shirking"] == 1
    assert report["risk_flags"]["regulator"] == 1
    assert sum(report["grades"].values()) == 2
    assert "scored 2 conversations" in capsys.readouterr().err


def test_bad_lines_are_reported_with_their_line_number_and_the_run_goes_on(tmp_path: Path) -> None:
    corpus = write_corpus(
        tmp_path,
        "{not json",
        json.dumps({"turns": [{"role": "boss", "text": "hi"}]}),
        json.dumps({"turns": []}),
        json.dumps(GOOD, ensure_ascii=False),
    )
    assert main(["qa", "score", str(corpus), "--out", str(tmp_path / "o.jsonl"), "--report", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["scored"], report["refused"]) == (1, 3)
    errors = {e["line"]: e["error"] for e in report["refused_lines"]}
    assert "Expecting property name" in errors[1]
    assert "turns[0].role is required" in errors[2]
    assert "turns must hold at least one turn" in errors[3]


def test_invalid_ruleset_stops_the_run_with_the_field_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ruleset = tmp_path / "bad.json"
    ruleset.write_text(json.dumps({"id": "x", "version": 1, "rules": [{"id": "r"}]}))
    corpus = write_corpus(tmp_path, json.dumps(GOOD, ensure_ascii=False))
    assert main(["qa", "score", str(corpus), "--ruleset", str(ruleset)]) == 2
    assert "rules[0].version" in capsys.readouterr().err


def test_started_at_product_and_category_pass_through_and_a_bad_started_at_is_refused(tmp_path: Path) -> None:
    dated = {**GOOD, "started_at": "2026-09-01T10:00:00+08:00", "product": "tv-x", "category": "product"}
    naive = {**GOOD, "started_at": "2026-09-01T10:00:00"}
    corpus = write_corpus(tmp_path, json.dumps(dated, ensure_ascii=False), json.dumps(naive, ensure_ascii=False))

    assert main(["qa", "score", str(corpus)]) == 0

    first, second = [json.loads(line) for line in (tmp_path / "calls.scored.jsonl").read_text().splitlines()]
    assert (first["started_at"], first["product"], first["category"]) == ("2026-09-01T02:00:00+00:00", "tv-x", "product")
    assert second["line"] == 2 and "UTC offset" in second["error"]
