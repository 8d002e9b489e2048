"""Rulesets published through the API: immutable, self-contained versions in `scoring.ruleset`
(included packs are expanded when published), and which one is active.

The built-in ruleset is the file named by `SCORING_RULESET_PATH` (id `default` for the
shipped one, which cannot be published over); it is readable like a published version
(`builtin`). A published version is validated exactly like a file (errors name the field),
must be the next version of its id, and is scored against by naming it in
`ScoreConversation` (`ruleset_id`, `ruleset_version`).

**The active ruleset** (issue #14.8) scores every evaluation that names none: the latest row of
`scoring.ruleset_activation` (append-only, numbered: the history of switches), or the built-in
file while nothing was activated. Every replica reads it per evaluation, so a switch applies
from the next evaluation on everywhere. An activation naming the built-in id means the
built-in file as deployed (its version may move with a release).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from kefu_common.logging import get_logger
from kefu_scoring.models import PublishedRuleset, RulesetActivation
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


def builtin_row(ruleset: Ruleset) -> PublishedRuleset:
    """The built-in ruleset file as a (never stored) version row, for reading it."""
    return PublishedRuleset(
        id=ruleset.id, version=ruleset.version, name=ruleset.name,
        document=ruleset.model_dump(mode="json", exclude_defaults=True), rule_count=len(ruleset.rules),
        published_by="",
    )


def _is_builtin(builtin: Ruleset | None, ruleset_id: str, version: int = 0) -> bool:
    return builtin is not None and ruleset_id == builtin.id and version in (0, builtin.version)


async def get(session: AsyncSession, *, ruleset_id: str, version: int = 0,
              builtin: Ruleset | None = None) -> PublishedRuleset:
    if version < 0:
        raise InvalidArgument("version must not be negative", code="invalid_ruleset_version")
    if _is_builtin(builtin, ruleset_id, version):
        assert builtin is not None
        return builtin_row(builtin)
    if not version:
        version = await _latest_version(session, ruleset_id)
    row = await session.get(PublishedRuleset, (ruleset_id, version)) if version else None
    if row is None:
        which = f"version {version}" if version else "any version"
        raise NotFound(f"ruleset {ruleset_id[:64]!r} has no {which}", code="ruleset_not_found")
    return row


async def list_latest(session: AsyncSession, *, builtin: Ruleset | None = None) -> list[PublishedRuleset]:
    """The latest version of every ruleset, the built-in one included, by id."""
    rows = await _list_published(session)
    if builtin is not None:
        rows = sorted([builtin_row(builtin), *(r for r in rows if r.id != builtin.id)], key=lambda r: r.id)
    return rows


async def _list_published(session: AsyncSession) -> list[PublishedRuleset]:
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


async def resolve(session: AsyncSession, *, ruleset_id: str, version: int = 0,
                  builtin: Ruleset | None = None) -> Ruleset:
    """The parsed ruleset to score with (parsed once per version)."""
    if _is_builtin(builtin, ruleset_id, version):
        assert builtin is not None
        return builtin
    row = await get(session, ruleset_id=ruleset_id, version=version)
    key = (row.id, row.version)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = _PARSED[key] = parse_ruleset(json.dumps(row.document, ensure_ascii=False))
    return parsed


# ------------------------------------------------------------------------------ the active ruleset


async def _latest_activation(session: AsyncSession) -> RulesetActivation | None:
    stmt = select(RulesetActivation).order_by(col(RulesetActivation.id).desc()).limit(1)
    return (await session.exec(stmt)).first()


async def active(session: AsyncSession, *, builtin: Ruleset) -> tuple[Ruleset, RulesetActivation | None]:
    """The ruleset evaluations that name none are scored with, and its activation (None: the
    built-in file, never switched)."""
    row = await _latest_activation(session)
    if row is None or row.ruleset_id == builtin.id:
        return builtin, row
    return await resolve(session, ruleset_id=row.ruleset_id, version=row.ruleset_version), row


async def activate(session: AsyncSession, *, ruleset_id: str, version: int, activated_by: str,
                   builtin: Ruleset, now: datetime) -> tuple[Ruleset, RulesetActivation]:
    """Make a ruleset version (0: its latest) the active one; activating the active one again
    changes nothing (a retry is harmless). NotFound for a version that does not exist."""
    if not ruleset_id or len(ruleset_id) > 64:
        raise InvalidArgument("ruleset_id is required (1..64 characters)", code="invalid_ruleset_id")
    ruleset = await resolve(session, ruleset_id=ruleset_id, version=version, builtin=builtin)
    await session.exec(  # type: ignore[call-overload]
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), params={"key": "ruleset:active"}
    )
    current = await _latest_activation(session)
    if current is not None and (current.ruleset_id, current.ruleset_version) == (ruleset.id, ruleset.version):
        return ruleset, current
    row = RulesetActivation(ruleset_id=ruleset.id, ruleset_version=ruleset.version,
                            activated_by=activated_by[:128], activated_at=now)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    log.info("ruleset_activated", ruleset_id=ruleset.id, version=ruleset.version, activation=row.id,
             activated_by=activated_by[:128])
    return ruleset, row
