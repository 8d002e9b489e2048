"""`kefu qa import FILE.jsonl --url URL --token TOKEN`: send a corpus of conversations to the
running platform, in batches, so a three-month archive is scored, stored and analysed (voice
of customer, QA reports) where the supervisor looks.

Lines are the same as for `kefu qa score` (conversation_id is required here: it is each
item's idempotency key; `started_at` places the conversation on its own day). Batches go to
`POST /v1/qa/evaluations:batch`; a batch that fails as a whole (503, a dropped connection) is
retried with back-off — safe, since every item is idempotent by its conversation — so an
interrupted import is simply run again. Lines the API refuses are reported with their line
number and code; the run goes on. Summary on stdout (JSON), progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

BATCH_SIZE = 200
MAX_BATCH = 500
RETRIES = 5
ITEM_FIELDS = (
    "conversation_id", "ticket_id", "agent_id", "category", "channel", "product", "started_at",
    "ruleset_id", "ruleset_version",
)
TURN_FIELDS = ("role", "text", "start_ms", "end_ms")


def add_parser(qa: Any) -> None:
    cmd = qa.add_parser("import", help="send a JSONL corpus to the running platform, in batches")
    cmd.add_argument("file", type=Path)
    cmd.add_argument("--url", required=True, help="the gateway, e.g. http://127.0.0.1:8000")
    cmd.add_argument("--token", required=True, help="a staff bearer token (make token ROLE=qa)")
    cmd.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=f"1..{MAX_BATCH}")
    cmd.add_argument("--timeout", type=float, default=120.0, help="seconds per batch request")


def item_of(doc: Any) -> dict[str, Any]:
    """The API item of one corpus line (unknown fields, e.g. a corpus's labels, are left out)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("turns"), list):
        raise ValueError("expected an object with a turns list")
    if not doc.get("conversation_id"):
        raise ValueError("conversation_id is required to import (it is the idempotency key)")
    item = {k: doc[k] for k in ITEM_FIELDS if doc.get(k) not in (None, "")}
    item["turns"] = [
        {k: t[k] for k in TURN_FIELDS if k in t} if isinstance(t, dict) else t for t in doc["turns"]
    ]
    return item


def batches(lines: Iterator[str], size: int) -> Iterator[tuple[list[tuple[int, dict]], list[dict]]]:
    """(items with their line numbers, lines refused locally) per batch."""
    batch: list[tuple[int, dict]] = []
    refused: list[dict] = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            batch.append((line_no, item_of(json.loads(line))))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            refused.append({"line": line_no, "code": "invalid_line", "detail": str(exc)})
        if len(batch) >= size:
            yield batch, refused
            batch, refused = [], []
    if batch or refused:
        yield batch, refused


async def post(client: httpx.AsyncClient, items: list[dict], progress: TextIO) -> dict[str, Any]:
    delay = 1.0
    for attempt in range(RETRIES + 1):
        try:
            response = await client.post("/v1/qa/evaluations:batch", json={"items": items})
        except httpx.TransportError as exc:
            failure = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 200:
                return response.json()
            if response.status_code not in (429, 502, 503, 504):
                raise ImportFailed(response.status_code, response.text[:500])
            failure = f"HTTP {response.status_code}"
        if attempt == RETRIES:
            raise ImportFailed(0, f"gave up after {RETRIES} retries: {failure}")
        progress.write(f"\nbatch failed ({failure}); retrying in {delay:.0f} s\n")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")


class ImportFailed(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


async def run(source: Path, client: httpx.AsyncClient, size: int, progress: TextIO) -> dict[str, Any]:
    started = time.perf_counter()
    scored = 0
    refused: list[dict] = []
    with source.open(encoding="utf-8") as lines:
        for batch, local in batches(lines, size):
            refused += local
            if batch:
                result = await post(client, [item for _, item in batch], progress)
                for r in result["items"]:
                    if r["status"] == "scored":
                        scored += 1
                    else:
                        refused.append({"line": batch[r["index"]][0], **r["error"]})
            progress.write(f"\rimported {scored:,} conversations, refused {len(refused):,}")
            progress.flush()
    progress.write("\n")
    return {
        "scored": scored,
        "refused": len(refused),
        "refused_lines": refused[:100],
        "seconds": round(time.perf_counter() - started, 3),
    }


async def _import(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {args.token}"}
    async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=args.timeout) as client:
        return await run(args.file, client, args.batch_size, sys.stderr)


def main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if not args.file.is_file():
        parser.error(f"{args.file} is not a file")
    if not 1 <= args.batch_size <= MAX_BATCH:
        parser.error(f"--batch-size must be 1..{MAX_BATCH}")
    try:
        summary = asyncio.run(_import(args))
    except ImportFailed as exc:
        print(f"kefu: import stopped: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    return 0
