"""Partners and their credentials: API keys stored hashed, identifiable by prefix, scoped and
revocable; asymmetric (RS256/ES256) bearer tokens from configured public keys; the `kefu`
CLI that creates partners and keys. Over the real services and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import text

from support import assert_problem, new_partner_key, running_gateway, staff_headers, ticket_body
from kefu_common.clock import ManualClock, SystemClock
from kefu_common.db import Database
from kefu_gateway import partners
from kefu_gateway.auth import PARTNER_SCOPES, issue_token


@pytest.fixture(scope="module")
async def gateway_db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, schema="gateway", pool_size=2)
    yield database
    await database.dispose()


async def test_api_keys_are_stored_only_as_a_hash_and_found_by_their_prefix(gateway_db) -> None:
    partner_id, key = await new_partner_key(gateway_db)
    async with gateway_db.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT * FROM gateway.api_key WHERE partner_id = :p"), {"p": partner_id}
            )
        ).mappings().one()
    assert key.startswith(row["prefix"] + "_")
    assert all(key not in str(value) for value in row.values())
    assert len(row["secret_sha256"]) == 64


async def test_partner_key_creates_and_reads_only_its_own_tickets(gateway, gateway_db) -> None:
    partner_id, key = await new_partner_key(gateway_db)
    _, other_key = await new_partner_key(gateway_db)
    created = await gateway.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": key})
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["created_by"] == f"partner:{partner_id}"

    assert (await gateway.get(f"/v1/tickets/{ticket['id']}", headers={"X-API-Key": key})).status_code == 200
    other = await gateway.get(f"/v1/tickets/{ticket['id']}", headers={"X-API-Key": other_key})
    assert_problem(other, 404, "ticket_not_found")
    listed = await gateway.get("/v1/tickets", headers={"X-API-Key": other_key})
    assert listed.json()["items"] == []


async def test_partners_see_neither_the_risk_flag_nor_the_owner_nor_the_sla_classification(
    gateway, gateway_db, auth
) -> None:
    _, key = await new_partner_key(gateway_db)
    customer = {"id": f"C-{uuid.uuid4().hex[:8]}", "name": "李先生", "tier": "vip", "sensitive": True,
                "phone": "13800138000"}
    created = await gateway.post("/v1/tickets", json=ticket_body(customer=customer, severity="high"),
                                 headers={"X-API-Key": key})
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]

    staff = (await gateway.get(f"/v1/tickets/{ticket_id}", headers=auth)).json()
    assert staff["customer"]["sensitive"] is True and staff["sla"]["matrix_tier"] == "sensitive"
    assert staff["owner"] is not None

    listed = (await gateway.get("/v1/tickets", headers={"X-API-Key": key})).json()["items"]
    for seen in (created.json(), (await gateway.get(f"/v1/tickets/{ticket_id}", headers={"X-API-Key": key})).json(),
                 *[t for t in listed if t["id"] == ticket_id]):
        assert (seen["customer"]["sensitive"], seen["owner"], seen["sla"]) == (None, None, None)
        assert seen["customer"]["phone"] == "*******8000"
        assert (seen["customer"]["tier"], seen["severity"], seen["status"]) == ("vip", "high", "new")
    assert len([t for t in listed if t["id"] == ticket_id]) == 1


async def test_revoked_key_is_refused_at_once(gateway, gateway_db) -> None:
    _, key = await new_partner_key(gateway_db)
    assert (await gateway.get("/v1/tickets", headers={"X-API-Key": key})).status_code == 200
    async with gateway_db.session() as session:
        await partners.revoke_key(session, prefix=key[:17], clock=SystemClock())
    assert_problem(await gateway.get("/v1/tickets", headers={"X-API-Key": key}), 401, "api_key_revoked")


async def test_a_key_cannot_do_more_than_its_scopes(gateway, gateway_db) -> None:
    _, key = await new_partner_key(gateway_db, scopes=frozenset({"tickets:read"}))
    assert (await gateway.get("/v1/tickets", headers={"X-API-Key": key})).status_code == 200
    response = await gateway.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": key})
    assert_problem(response, 403, "scope_missing")


async def test_keys_cannot_be_given_staff_permissions(gateway_db) -> None:
    partner_id, _ = await new_partner_key(gateway_db)
    from kefu_common.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        async with gateway_db.session() as session:
            await partners.create_key(
                session, partner_id=partner_id, scopes=frozenset({"tickets:internal"}),
                allowed_scopes=PARTNER_SCOPES, clock=SystemClock(),
            )


@pytest.mark.parametrize(
    "presented",
    ["nonsense", "kefu_000000000000_" + "A" * 43, "kefu_zzzz_" + "A" * 43, ""],
    ids=["malformed", "unknown prefix", "bad prefix", "empty"],
)
async def test_unknown_or_malformed_keys_are_401(gateway, presented) -> None:
    response = await gateway.get("/v1/tickets", headers={"X-API-Key": presented})
    assert response.status_code == 401
    assert response.json()["code"] in {"invalid_api_key", "missing_token"}


async def test_right_prefix_with_a_wrong_secret_is_401(gateway, gateway_db) -> None:
    _, key = await new_partner_key(gateway_db)
    forged = key[:18] + ("A" if key[18] != "A" else "B") + key[19:]
    assert_problem(await gateway.get("/v1/tickets", headers={"X-API-Key": forged}), 401, "invalid_api_key")


# --- asymmetric tokens ----------------------------------------------------------------------


def _pem_pair(private: Any) -> tuple[str, str]:
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private_pem, public_pem


@pytest.fixture(scope="module")
def keypairs() -> dict[str, tuple[str, str]]:
    return {
        "rsa-1": _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "ec-1": _pem_pair(ec.generate_private_key(ec.SECP256R1())),
    }


@pytest.fixture(scope="module")
async def idp_gateway(gateway_settings, keypairs) -> AsyncIterator[httpx.AsyncClient]:
    settings = gateway_settings.model_copy(
        update={"jwt_public_keys": {kid: public for kid, (_, public) in keypairs.items()}}
    )
    async with running_gateway(settings) as (_, client):
        yield client


def hs256_by_hand(header: dict[str, Any], claims: dict[str, Any], secret: str) -> str:
    """PyJWT refuses to HMAC with a PEM key, so forge such a token by hand."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@pytest.mark.parametrize(("kid", "algorithm"), [("rsa-1", "RS256"), ("ec-1", "ES256")])
async def test_tokens_signed_by_a_configured_public_key_are_accepted(
    idp_gateway, gateway_settings, keypairs, kid, algorithm
) -> None:
    token = issue_token(
        keypairs[kid][0], subject="zhang.wei", role="lead", issuer=gateway_settings.jwt_issuer,
        algorithm=algorithm, kid=kid,
    )
    response = await idp_gateway.get("/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


async def test_tokens_from_an_unknown_key_or_with_a_swapped_algorithm_are_refused(
    idp_gateway, gateway_settings, keypairs
) -> None:
    stranger, _ = _pem_pair(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    claims = {"sub": "mallory", "role": "admin", "iss": gateway_settings.jwt_issuer, "exp": 2**31}
    forged = [
        # right kid, wrong signer
        issue_token(stranger, subject="mallory", role="admin", issuer=gateway_settings.jwt_issuer,
                    algorithm="RS256", kid="rsa-1"),
        # unknown kid
        issue_token(stranger, subject="mallory", role="admin", issuer=gateway_settings.jwt_issuer,
                    algorithm="RS256", kid="who-knows"),
        # algorithm confusion: HS256 keyed with the (public) RSA key, claiming its kid
        hs256_by_hand({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims, keypairs["rsa-1"][1]),
    ]
    for token in forged:
        response = await idp_gateway.get("/v1/tickets", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "invalid_token")


# --- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def kefu(database_url: str, monkeypatch, capsys) -> Any:
    """`python -m kefu_gateway ...` in this process (in a thread: the CLI runs its own loop)."""
    from kefu_gateway.__main__ import main

    monkeypatch.setenv("DATABASE_URL", database_url)

    async def run(*args: str) -> str:
        capsys.readouterr()
        await asyncio.to_thread(main, list(args))
        return capsys.readouterr().out.strip()

    return run


async def test_cli_creates_a_partner_and_a_key_that_works_until_revoked(gateway, kefu) -> None:
    partner_id = f"cli-{uuid.uuid4().hex[:8]}"
    assert await kefu("partner", "create", "--id", partner_id, "--name", "CLI Mall") == (
        f"partner {partner_id} created"
    )
    key = await kefu("key", "create", "--partner", partner_id, "--label", "ci")
    created = await gateway.post("/v1/tickets", json=ticket_body(), headers={"X-API-Key": key})
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == f"partner:{partner_id}"
    listing = await kefu("key", "list", "--partner", partner_id)
    assert key[:17] in listing and "active" in listing and key not in listing
    await kefu("key", "revoke", "--prefix", key[:17])
    assert_problem(await gateway.get("/v1/tickets", headers={"X-API-Key": key}), 401, "api_key_revoked")


# --- rate limits ----------------------------------------------------------------------------


@pytest.fixture
async def limited(gateway_settings) -> AsyncIterator[tuple[httpx.AsyncClient, ManualClock]]:
    """A gateway allowing 3 requests per minute per external caller, on a manual clock."""
    clock = ManualClock(datetime(2026, 11, 24, 9, 0, 10, tzinfo=UTC))
    settings = gateway_settings.model_copy(
        update={"rate_limit_requests": 3, "rate_limit_window_seconds": 60}
    )
    async with running_gateway(settings, clock=clock) as (_, client):
        yield client, clock


async def test_each_key_has_a_quota_announced_in_ratelimit_headers_then_429(limited, gateway_db) -> None:
    client, clock = limited
    _, key = await new_partner_key(gateway_db)
    _, other_key = await new_partner_key(gateway_db)
    headers = {"X-API-Key": key}
    remaining = []
    for _ in range(3):
        response = await client.get("/v1/tickets", headers=headers)
        assert response.status_code == 200
        assert response.headers["ratelimit-policy"] == '"caller";q=3;w=60'
        remaining.append(response.headers["ratelimit"])
    assert remaining == ['"caller";r=2;t=50', '"caller";r=1;t=50', '"caller";r=0;t=50']

    refused = await client.get("/v1/tickets", headers=headers)
    assert_problem(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "50"
    # Another key has its own quota; and the window ends when Retry-After said.
    assert (await client.get("/v1/tickets", headers={"X-API-Key": other_key})).status_code == 200
    clock.advance(timedelta(seconds=50))
    assert (await client.get("/v1/tickets", headers=headers)).status_code == 200


async def test_staff_desk_clients_are_not_rate_limited(limited, gateway_settings) -> None:
    client, _ = limited
    auth = staff_headers(gateway_settings, subject=f"agent-{uuid.uuid4().hex[:6]}")
    for _ in range(5):
        response = await client.get("/v1/tickets", headers=auth)
        assert response.status_code == 200
        assert "ratelimit" not in response.headers


async def test_gateway_database_down_gives_503_with_retry_after_not_500(gateway_settings) -> None:
    dead = gateway_settings.model_copy(update={"database_url": "postgresql://kefu@127.0.0.1:1/kefu"})
    async with running_gateway(dead) as (_, client):
        response = await client.get("/v1/tickets", headers={"X-API-Key": "kefu_0123456789ab_" + "A" * 43})
    assert_problem(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "1"
