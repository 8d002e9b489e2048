"""Bearer-token authentication (JWT). HS256 with a settings key for now; issue #6 adds
asymmetric keys, partner API keys and per-route authorisation rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kefu_common.errors import PermissionDenied, Unauthenticated

Role = Literal["agent", "specialist", "lead", "qa", "admin", "customer", "partner"]
ROLES: tuple[str, ...] = ("agent", "specialist", "lead", "qa", "admin", "customer", "partner")
STAFF_ROLES = frozenset({"agent", "specialist", "lead", "qa", "admin"})

_bearer = HTTPBearer(auto_error=False, description="JWT issued by `python -m kefu_gateway token`")


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str


def issue_token(
    secret: str, *, subject: str, role: str, issuer: str = "kefu", ttl: timedelta = timedelta(days=30)
) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    now = datetime.now(UTC)
    claims = {"sub": subject, "role": role, "iss": issuer, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def verify_token(secret: str, token: str, *, issuer: str = "kefu") -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], issuer=issuer, options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired", code="token_expired") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("the token is not valid", code="invalid_token") from None
    role, subject = claims.get("role"), claims.get("sub")
    if role not in ROLES or not isinstance(subject, str) or not 0 < len(subject) <= 64:
        raise Unauthenticated("the token carries no valid subject and role", code="invalid_token")
    return Principal(subject=subject, role=role)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token is required", code="missing_token")
    settings = request.app.state.settings
    return verify_token(settings.jwt_secret, credentials.credentials, issuer=settings.jwt_issuer)


async def staff_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.role not in STAFF_ROLES:
        raise PermissionDenied("this operation is for staff roles", code="staff_only")
    return principal


Staff = Annotated[Principal, Depends(staff_principal)]


# The agent roster and the escalation configuration (calendars, SLA policies, the matrix).
ROSTER_ROLES = frozenset({"admin", "lead"})


async def roster_principal(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if principal.role not in ROSTER_ROLES:
        raise PermissionDenied(
            "this operation needs the admin or lead role", code="admin_only"
        )
    return principal


AdminOrLead = Annotated[Principal, Depends(roster_principal)]
