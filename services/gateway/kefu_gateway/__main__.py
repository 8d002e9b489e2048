"""`python -m kefu_gateway [serve|token]`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from kefu_gateway.auth import ROLES, issue_token
from kefu_gateway.settings import GatewaySettings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kefu_gateway")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP server (default)")
    tok = sub.add_parser("token", help="issue a bearer token signed with GATEWAY_JWT_SECRET")
    tok.add_argument("--subject", default="demo-agent")
    tok.add_argument("--role", default="agent", choices=ROLES)
    tok.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    settings = GatewaySettings()

    if args.command == "token":
        from datetime import timedelta

        print(
            issue_token(
                settings.jwt_secret,
                subject=args.subject,
                role=args.role,
                issuer=settings.jwt_issuer,
                ttl=timedelta(days=args.days),
            )
        )
        return

    import uvicorn

    uvicorn.run(
        "kefu_gateway.app:create_app",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=True,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )


if __name__ == "__main__":
    main()
