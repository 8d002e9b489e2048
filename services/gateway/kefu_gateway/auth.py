"""Who is calling (bearer JWT) and what their role may do (the permission table).

Authentication: HS256 with a settings key. Authorisation: `PERMISSIONS` below is the only
place that maps roles to operations; routes declare `Allowed["<permission>"]`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

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

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def actor(self) -> str:
        """Who this caller is in the ticket history and in idempotency scopes: the subject for
        staff; `partner:<id>` and `customer:<id>` otherwise, so no token can pose as another
        kind of caller with the same subject."""
        return self.subject if self.is_staff else f"{self.role}:{self.subject}"


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


# --- authorisation: the one permission table (DOMAIN.md §5) ---------------------------------
#
# Every route declares what it needs with `Allowed[<permission>]` (or one of the aliases below);
# nothing else in the gateway compares roles. What a permitted caller may *see* (their own
# tickets only, customer-visible fields only) is `scope.py`.


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    code: str  # the stable problem code when the caller's role is not among `roles`
    message: str


_ADMIN_LEAD = frozenset({"admin", "lead"})
_STAFF_RULE = Rule(STAFF_ROLES, "staff_only", "this operation is for staff roles")
_ADMIN_RULE = Rule(_ADMIN_LEAD, "admin_only", "this operation needs the admin or lead role")
_TICKET_CLIENT_RULE = Rule(
    STAFF_ROLES | {"partner"}, "staff_or_partner_only", "this operation is for staff and partners"
)

PERMISSIONS: dict[str, Rule] = {
    # generic: any staff role / the configuration owners (aliases `Staff`, `AdminOrLead`)
    "staff": _STAFF_RULE,
    "admin_or_lead": _ADMIN_RULE,
    # tickets: partners create, read and update only tickets created with their own key
    "tickets:create": _TICKET_CLIENT_RULE,
    "tickets:read": _TICKET_CLIENT_RULE,
    "tickets:update": _TICKET_CLIENT_RULE,
    # lifecycle work: transitions, assignment, reopen, contacts, progress, notes, candidates
    "tickets:work": _STAFF_RULE,
    # unmasked personal data and internal entries (notes, contacts, assignments)
    "tickets:internal": _STAFF_RULE,
    "reports:read": _STAFF_RULE,
    "quality:evaluate": _STAFF_RULE,
    "config:read": _STAFF_RULE,
    "config:write": _ADMIN_RULE,
    "roster:manage": _ADMIN_RULE,
    # the customer app: the caller's own cases (the token subject is the customer id)
    "cases:own": Rule(frozenset({"customer"}), "customer_only", "this operation is for customers"),
}


def has_permission(principal: Principal, permission: str) -> bool:
    return principal.role in PERMISSIONS[permission].roles


def require(permission: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A FastAPI dependency: the authenticated caller, if their role holds `permission`."""
    rule = PERMISSIONS[permission]  # KeyError at import time for a typo, not at request time

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in rule.roles:
            raise PermissionDenied(rule.message, code=rule.code)
        return principal

    dependency.__name__ = f"require_{permission.replace(':', '_')}"
    return dependency


class _Allowed:
    """`Allowed["tickets:read"]` is the annotated principal type a route takes as a parameter."""

    def __getitem__(self, permission: str) -> Any:
        return Annotated[Principal, Depends(require(permission))]


Allowed = _Allowed()

Staff = Allowed["staff"]
AdminOrLead = Allowed["admin_or_lead"]
