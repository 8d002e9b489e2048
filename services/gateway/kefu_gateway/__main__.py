"""`python -m kefu_gateway [serve|migrate|token|partner|key]`.

    serve [--migrate]                               the HTTP server (default)
    migrate                                         apply the gateway schema's migrations
    token --role lead --subject zhang.wei           a dev bearer token (HS256, or --private-key)
    partner create --id acme --name "ACME Mall"     register a partner
    key create --partner acme [--scope tickets:read ...] [--label ci]
                                                    print a new API key (shown once)
    key list --partner acme                         prefixes, scopes, revoked or not
    key revoke --prefix kefu_0123456789ab           revoke a key at once
    demo-credentials --key-file .kefu/demo-partner-key
                                                    `make run`'s demo tokens and partner key as
                                                    JSON, in one process (the key is reused
                                                    while it is still valid)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from kefu_common.clock import SystemClock
from kefu_common.db import Database
from kefu_common.embedded import resolve_database_url
from kefu_common.errors import AlreadyExists, ServiceError, Unauthenticated
from kefu_common.migrations import upgrade
from kefu_common.runner import EMBEDDED_DATA_DIR
from kefu_gateway import partners
from kefu_gateway.auth import PARTNER_SCOPES, ROLES, issue_token
from kefu_gateway.models import SCHEMA
from kefu_gateway.settings import GatewaySettings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def migrate(url: str) -> None:
    upgrade(MIGRATIONS_DIR, url, SCHEMA)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu_gateway")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the HTTP server (default)")
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    sub.add_parser("migrate", help="apply the gateway schema's migrations")
    tok = sub.add_parser("token", help="issue a bearer token (HS256 with GATEWAY_JWT_SECRET)")
    tok.add_argument("--subject", default="demo-agent")
    tok.add_argument("--role", default="agent", choices=ROLES)
    tok.add_argument("--days", type=int, default=30)
    tok.add_argument("--private-key", type=Path, help="PEM private key: sign RS256/ES256 instead")
    tok.add_argument("--kid", help="key id of --private-key (as in GATEWAY_JWT_PUBLIC_KEYS)")
    tok.add_argument("--algorithm", default="RS256", choices=["RS256", "ES256"])
    partner = sub.add_parser("partner", help="manage partners").add_subparsers(dest="action")
    create = partner.add_parser("create")
    create.add_argument("--id", required=True)
    create.add_argument("--name", required=True)
    key = sub.add_parser("key", help="manage partner API keys").add_subparsers(dest="action")
    key_create = key.add_parser("create")
    key_create.add_argument("--partner", required=True)
    key_create.add_argument(
        "--scope", action="append", choices=sorted(PARTNER_SCOPES),
        help="repeatable; default: every partner permission",
    )
    key_create.add_argument("--label", default="")
    key.add_parser("list").add_argument("--partner", required=True)
    key.add_parser("revoke").add_argument("--prefix", required=True)
    demo = sub.add_parser("demo-credentials", help="make run's demo tokens and partner key (JSON)")
    demo.add_argument("--key-file", type=Path, required=True,
                      help="where the demo partner's key is kept between runs (mode 0600)")
    return parser


# (role, subject) of every demo token `make run` prints.
DEMO_PRINCIPALS = (
    ("agent", "demo-agent"), ("lead", "demo-lead"), ("qa", "demo-qa"), ("admin", "demo-admin"),
    ("customer", "C-10086"),  # the customer of the first demo ticket
)
DEMO_PARTNER = "demo-partner"


async def _demo_partner_key(url: str, key_file: Path) -> str:
    """The demo partner's API key: the one kept in `key_file` while the database still knows it
    (and it is not revoked), else a new one, written there for the next run."""
    clock = SystemClock()

    async def work(session: Any) -> str:
        try:
            await partners.create_partner(session, partner_id=DEMO_PARTNER, name="Demo Partner", clock=clock)
        except AlreadyExists:
            pass
        if key_file.exists():
            kept = key_file.read_text().strip()
            try:
                await partners.authenticate_key(session, kept)
                return kept
            except Unauthenticated:  # another database, or revoked: mint a new one
                pass
        _, secret = await partners.create_key(
            session, partner_id=DEMO_PARTNER, scopes=PARTNER_SCOPES, allowed_scopes=PARTNER_SCOPES,
            label="make-run", clock=clock,
        )
        return secret

    secret = await _in_session(url, work)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    return secret


def _demo_credentials(settings: GatewaySettings, url: str, key_file: Path) -> dict[str, str]:
    creds = {
        role: issue_token(settings.jwt_secret.get_secret_value(), subject=subject, role=role, issuer=settings.jwt_issuer,
                          ttl=timedelta(days=30))
        for role, subject in DEMO_PRINCIPALS
    }
    creds["partner_key"] = asyncio.run(_demo_partner_key(url, key_file))
    return creds


async def _in_session(url: str, work: Callable[[Any], Awaitable[str]]) -> str:
    db = Database(url, schema=SCHEMA, pool_size=1)
    try:
        async with db.session() as session:
            return await work(session)
    finally:
        await db.dispose()


def _admin(args: argparse.Namespace, url: str) -> str:
    clock = SystemClock()
    if args.command == "partner":
        async def work(session: Any) -> str:
            p = await partners.create_partner(session, partner_id=args.id, name=args.name, clock=clock)
            return f"partner {p.id} created"
    elif args.action == "create":
        async def work(session: Any) -> str:
            scopes = frozenset(args.scope or PARTNER_SCOPES)
            row, secret = await partners.create_key(
                session, partner_id=args.partner, scopes=scopes, allowed_scopes=PARTNER_SCOPES,
                label=args.label, clock=clock,
            )
            return secret
    elif args.action == "list":
        async def work(session: Any) -> str:
            rows = await partners.list_keys(session, partner_id=args.partner)
            return "\n".join(
                f"{r.prefix}  {','.join(r.scopes)}  {'revoked' if r.revoked_at else 'active'}  {r.label}"
                for r in rows
            )
    else:
        async def work(session: Any) -> str:
            row = await partners.revoke_key(session, prefix=args.prefix, clock=clock)
            return f"{row.prefix} revoked at {row.revoked_at:%Y-%m-%dT%H:%M:%SZ}"
    return asyncio.run(_in_session(url, work))


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = GatewaySettings()

    if args.command == "token":
        key = args.private_key.read_text() if args.private_key else settings.jwt_secret.get_secret_value()
        print(
            issue_token(
                key,
                subject=args.subject,
                role=args.role,
                issuer=settings.jwt_issuer,
                ttl=timedelta(days=args.days),
                algorithm=args.algorithm if args.private_key else "HS256",
                kid=args.kid,
            )
        )
        return
    url = resolve_database_url(settings.database_url, EMBEDDED_DATA_DIR)
    if args.command == "demo-credentials":
        print(json.dumps(_demo_credentials(settings, url, args.key_file)))
        return
    if args.command in ("partner", "key"):
        if args.action is None:
            parser.error(f"{args.command} needs an action")
        try:
            print(_admin(args, url))
        except ServiceError as err:
            raise SystemExit(f"kefu_gateway: {err.message} ({err.code})") from None
        return
    if args.command == "migrate" or getattr(args, "migrate", False):
        migrate(url)
        if args.command == "migrate":
            return

    import uvicorn

    from kefu_gateway.server import uvicorn_options

    uvicorn.run("kefu_gateway.app:create_app", factory=True, **uvicorn_options(settings))


if __name__ == "__main__":
    main()
