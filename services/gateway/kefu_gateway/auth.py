"""Who is calling and what their role may do (the permission table).

Authentication, in this order:
* `X-API-Key: kefu_…`: a partner's API key (partners.py), scoped to some permissions;
* `Authorization: Bearer <JWT>`: HS256 signed with `GATEWAY_JWT_SECRET` (development, and the
  CLI's dev tokens), or RS256/ES256 checked against `GATEWAY_JWT_PUBLIC_KEYS` (production
  identity providers). The algorithm comes from the key the token's `kid` names, never from
  the token alone (no algorithm confusion).

Authorisation: `PERMISSIONS` below is the only place that maps roles to operations; routes
declare `Allowed["<permission>"]`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from kefu_common.errors import PermissionDenied, Unauthenticated
from kefu_gateway.partners import authenticate_key
from kefu_gateway.ratelimit import RateLimiter

Role = Literal["agent", "specialist", "lead", "qa", "admin", "customer", "partner"]
ROLES: tuple[str, ...] = ("agent", "specialist", "lead", "qa", "admin", "customer", "partner")
STAFF_ROLES = frozenset({"agent", "specialist", "lead", "qa", "admin"})
MAX_VERIFIED_TOKENS = 50_000  # remembered verified tokens per process; beyond, start afresh

_bearer = HTTPBearer(
    auto_error=False,
    description="JWT: HS256 from `python -m kefu_gateway token` in development, RS256/ES256 "
    "from your identity provider in production. Claims: sub, role, iss, exp.",
)
_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A partner API key from `python -m kefu_gateway key create`",
)


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    # Set for API keys: the permissions this key was given (a subset of its role's).
    scopes: frozenset[str] | None = None

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
    key: str,
    *,
    subject: str,
    role: str,
    issuer: str = "kefu",
    ttl: timedelta = timedelta(days=30),
    algorithm: str = "HS256",
    kid: str | None = None,
) -> str:
    """A signed token: `key` is the HS256 secret, or a PEM private key for RS256/ES256."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    now = datetime.now(UTC)
    claims = {"sub": subject, "role": role, "iss": issuer, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def _algorithm_of(pem: str) -> tuple[str, Any]:
    key = load_pem_public_key(pem.encode())
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256", key
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return "ES256", key
    raise ValueError("JWT public keys must be RSA or EC P-256")


class TokenVerifier:
    """Built once per process from settings: the HS256 secret and the public keys by `kid`."""

    def __init__(self, secret: str, *, issuer: str, public_keys: Mapping[str, str] | None = None):
        self.secret = secret
        self.issuer = issuer
        self.public_keys = {kid: _algorithm_of(pem) for kid, pem in (public_keys or {}).items()}
        self._verified: dict[str, tuple[Principal, float]] = {}

    def _key_for(self, token: str) -> tuple[str, Any]:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        if kid is not None:
            if kid not in self.public_keys:
                raise jwt.InvalidTokenError("unknown kid")
            return self.public_keys[kid]
        return "HS256", self.secret

    def verify(self, token: str) -> Principal:
        """The token's principal. A token verified before is recognised by its exact text until
        its `exp` (customer apps poll with the same token: this skips the signature check)."""
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            algorithm, key = self._key_for(token)
            claims = jwt.decode(
                token, key, algorithms=[algorithm], issuer=self.issuer,
                options={"require": ["sub", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", code="token_expired") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the token is not valid", code="invalid_token") from None
        role, subject = claims.get("role"), claims.get("sub")
        if role not in ROLES or not isinstance(subject, str) or not 0 < len(subject) <= 64:
            raise Unauthenticated("the token carries no valid subject and role", code="invalid_token")
        return Principal(subject=subject, role=role), float(claims["exp"])


def verify_token(secret: str, token: str, *, issuer: str = "kefu") -> Principal:
    return TokenVerifier(secret, issuer=issuer).verify(token)


async def _authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None, api_key: str | None
) -> tuple[Principal, str]:
    """The caller and the name their request quota is counted under (the key, or the token's
    role and subject)."""
    if api_key is not None:
        async with request.app.state.db.session() as session:
            holder = await authenticate_key(session, api_key)
        principal = Principal(subject=holder.partner_id, role="partner", scopes=holder.scopes)
        return principal, f"key:{holder.prefix}"
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token or an API key is required", code="missing_token")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(credentials.credentials)
    return principal, token_quota_name(principal)


def token_quota_name(principal: Principal) -> str:
    """The name a bearer token's requests are counted under (see ratelimit.py)."""
    return f"token:{principal.actor}"


async def current_principal(
    request: Request,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    principal, quota_name = await _authenticate(request, credentials, api_key)
    if not principal.is_staff:  # external clients: partners and the customer app
        limiter: RateLimiter = request.app.state.rate_limiter
        response.headers.update(limiter.hit(quota_name))
    return principal


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
    # a partner's webhook subscriptions, delivery log and redeliveries (its own only)
    "webhooks:manage": Rule(frozenset({"partner"}), "partner_only", "this operation is for partners"),
    # customer satisfaction: partners post the ratings they collected on their own tickets;
    # staff read a ticket's ratings (customers rate through cases:own)
    "ratings:collect": Rule(frozenset({"partner"}), "partner_only", "this operation is for partners"),
    "ratings:read": _STAFF_RULE,
    # the customer app: the caller's own cases (the token subject is the customer id)
    "cases:own": Rule(frozenset({"customer"}), "customer_only", "this operation is for customers"),
}


# What an API key may be given: the permissions of the partner role.
PARTNER_SCOPES = frozenset(p for p, rule in PERMISSIONS.items() if "partner" in rule.roles)


def has_permission(principal: Principal, permission: str) -> bool:
    if principal.scopes is not None and permission not in principal.scopes:
        return False
    return principal.role in PERMISSIONS[permission].roles


def require(permission: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A FastAPI dependency: the authenticated caller, if their role holds `permission`."""
    rule = PERMISSIONS[permission]  # KeyError at import time for a typo, not at request time

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in rule.roles:
            raise PermissionDenied(rule.message, code=rule.code)
        if principal.scopes is not None and permission not in principal.scopes:
            raise PermissionDenied(f"this API key lacks the {permission} scope", code="scope_missing")
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
