"""Partners and their API keys (schema `gateway`). Session first, flush only.

A key reads `kefu_<12 hex>_<43 url-safe chars>`: the first part is its *prefix*, stored in
clear, unique, safe to show in lists and logs, and how a presented key finds its row; only the
sha256 of the whole key is stored. 256 bits of randomness make a plain (unsalted, fast) hash
the right tool: there is nothing to brute-force. A revoked key stays (audit), and never works.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kefu_common.clock import Clock
from kefu_common.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from kefu_gateway.models import ApiKey, Partner

_PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_KEY = re.compile(r"^(?P<prefix>kefu_[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
_PREFIX = re.compile(r"kefu_[0-9a-f]{12}(?=_)")


def key_prefix(presented: str) -> str | None:
    """The prefix of a presented key (what failed attempts are throttled by), if it has one."""
    match = _PREFIX.match(presented)
    return match.group(0) if match else None


@dataclass(frozen=True)
class KeyHolder:
    """Who presented a valid key."""

    partner_id: str
    prefix: str
    scopes: frozenset[str]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_partner(session: AsyncSession, *, partner_id: str, name: str, clock: Clock) -> Partner:
    if not _PARTNER_ID.match(partner_id):
        raise InvalidArgument(
            "partner id must be 2..63 characters of a-z 0-9 -, starting with a letter or digit",
            code="invalid_partner_id",
        )
    if not 0 < len(name.strip()) <= 200:
        raise InvalidArgument("partner name must be 1..200 characters", code="invalid_partner_name")
    if await session.get(Partner, partner_id) is not None:
        raise AlreadyExists(f"partner {partner_id} already exists", code="partner_exists")
    partner = Partner(id=partner_id, name=name.strip(), created_at=clock.now())
    session.add(partner)
    await session.flush()
    return partner


async def create_key(
    session: AsyncSession,
    *,
    partner_id: str,
    scopes: frozenset[str],
    allowed_scopes: frozenset[str],
    label: str = "",
    clock: Clock,
) -> tuple[ApiKey, str]:
    """A new key for the partner; returns the row and the key itself (shown once, never stored)."""
    partner = await session.get(Partner, partner_id)
    if partner is None or not partner.active:
        raise NotFound(f"partner {partner_id} not found", code="partner_not_found")
    unknown = scopes - allowed_scopes
    if unknown or not scopes:
        raise InvalidArgument(
            f"scopes must be a non-empty subset of {', '.join(sorted(allowed_scopes))}",
            code="invalid_scopes",
        )
    prefix = f"kefu_{secrets.token_hex(6)}"
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        partner_id=partner_id, prefix=prefix, secret_sha256=_digest(key), scopes=sorted(scopes),
        label=label[:200], created_at=clock.now(),
    )
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # a prefix collision (48 random bits): practically never; retry
        raise AlreadyExists("key prefix collision; try again", code="key_prefix_collision") from None
    return row, key


async def revoke_key(session: AsyncSession, *, prefix: str, clock: Clock) -> ApiKey:
    row = (await session.exec(select(ApiKey).where(col(ApiKey.prefix) == prefix))).first()
    if row is None:
        raise NotFound(f"API key {prefix} not found", code="api_key_not_found")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        await session.flush()
    return row


async def list_keys(session: AsyncSession, *, partner_id: str) -> list[ApiKey]:
    stmt = select(ApiKey).where(col(ApiKey.partner_id) == partner_id).order_by(col(ApiKey.created_at))
    return list((await session.exec(stmt)).all())


async def authenticate_key(session: AsyncSession, presented: str) -> KeyHolder:
    """The holder of a presented key; the same error for unknown, malformed and wrong keys."""
    invalid = Unauthenticated("the API key is not valid", code="invalid_api_key")
    match = _KEY.match(presented)
    if match is None:
        raise invalid
    stmt = (
        select(ApiKey, Partner.active)
        .join(Partner, col(Partner.id) == col(ApiKey.partner_id))
        .where(col(ApiKey.prefix) == match["prefix"])
    )
    found = (await session.exec(stmt)).first()
    if found is None:
        _digest(presented)  # same work either way: no timing hint that the prefix exists
        raise invalid
    row, partner_active = found
    if not hmac.compare_digest(row.secret_sha256, _digest(presented)) or not partner_active:
        raise invalid
    if row.revoked_at is not None:
        raise Unauthenticated("the API key has been revoked", code="api_key_revoked")
    return KeyHolder(partner_id=row.partner_id, prefix=row.prefix, scopes=frozenset(row.scopes))
