"""Rulesets published through the API: immutable, self-contained versions in `scoring.ruleset`
(included packs are expanded when published).

The service's active ruleset stays the file named by `SCORING_RULESET_PATH` (id `default`
for the built-in one, which cannot be published over). A published version is validated
exactly like a file (errors name the field), must be the next version of its id, and is
scored against by naming it in `ScoreConversation` (`ruleset_id`, `ruleset_version`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from kefu_common.logging import get_logger
from kefu_scoring.models import PublishedRuleset
from kefu_scoring.rules import Ruleset, parse_ruleset

log = get_logger("kefu.scoring.rulesets")

MAX_DOCUMENT_CHARS = 1_000_000

# Parsed versions, by (id, version): versions never change, so this never goes stale.
_PARSED: dict[tuple[str, int], Ruleset] = {}


async def publish(
    session: AsyncSession, *, document: str, published_by: str, reserved_id: str
) -> PublishedRuleset:
    if len(document) > MAX_DOCUMENT_CHARS:
        raise InvalidArgument(
            f"document is {len(document)} characters; at most {MAX_DOCUMENT_CHARS}",
            code="ruleset_too_large",
        )
    ruleset = parse_ruleset(document, source="document")
    if ruleset.id == reserved_id:
        raise InvalidArgument(
            f"ruleset id {reserved_id!r} is the service's active ruleset file; publish under"
            " another id",
            code="reserved_ruleset_id",
        )
    # Stored self-contained: included packs are expanded, so a later release that edits a
    # pack can never change what a published version means.
    doc: dict[str, Any] = {**ruleset.model_dump(mode="json", exclude_defaults=True), "include": []}
    # One publisher per ruleset id at a time: the version check below cannot race.
    await session.exec(  # type: ignore[call-overload]
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), params={"key": f"ruleset:{ruleset.id}"}
    )
    existing = await session.get(PublishedRuleset, (ruleset.id, ruleset.version))
    if existing is not None:
        if existing.document == doc:
            return existing  # a retry of the same publish
        raise AlreadyExists(
            f"ruleset {ruleset.id!r} version {ruleset.version} is already published with other"
            " content; versions are immutable, publish the next one",
            code="ruleset_version_exists",
        )
    latest = await _latest_version(session, ruleset.id)
    if ruleset.version != latest + 1:
        raise FailedPrecondition(
            f"version must be {latest + 1} (the latest of {ruleset.id!r} is {latest})",
            code="ruleset_version_gap",
        )
    row = PublishedRuleset(
        id=ruleset.id,
        version=ruleset.version,
        name=ruleset.name,
        document=doc,
        rule_count=len(ruleset.rules),
        published_by=published_by[:128],
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    _PARSED[(ruleset.id, ruleset.version)] = ruleset
    log.info("ruleset_published", ruleset_id=ruleset.id, version=ruleset.version, rules=row.rule_count)
    return row


async def _latest_version(session: AsyncSession, ruleset_id: str) -> int:
    stmt = select(func.max(PublishedRuleset.version)).where(col(PublishedRuleset.id) == ruleset_id)
    return (await session.exec(stmt)).one() or 0


async def get(session: AsyncSession, *, ruleset_id: str, version: int = 0) -> PublishedRuleset:
    if version < 0:
        raise InvalidArgument("version must not be negative", code="invalid_ruleset_version")
    if not version:
        version = await _latest_version(session, ruleset_id)
    row = await session.get(PublishedRuleset, (ruleset_id, version)) if version else None
    if row is None:
        which = f"version {version}" if version else "any version"
        raise NotFound(f"ruleset {ruleset_id[:64]!r} has no {which}", code="ruleset_not_found")
    return row


async def list_latest(session: AsyncSession) -> list[PublishedRuleset]:
    latest = (
        select(PublishedRuleset.id, func.max(PublishedRuleset.version).label("version"))
        .group_by(col(PublishedRuleset.id))
        .subquery()
    )
    stmt = (
        select(PublishedRuleset)
        .join(latest, (col(PublishedRuleset.id) == latest.c.id) & (col(PublishedRuleset.version) == latest.c.version))
        .order_by(col(PublishedRuleset.id))
    )
    return list((await session.exec(stmt)).all())


async def resolve(session: AsyncSession, *, ruleset_id: str, version: int = 0) -> Ruleset:
    """The parsed ruleset to score with (parsed once per version)."""
    row = await get(session, ruleset_id=ruleset_id, version=version)
    key = (row.id, row.version)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _PARSED[key] = parse_ruleset(json.dumps(row.document, ensure_ascii=False))
    return parsed
