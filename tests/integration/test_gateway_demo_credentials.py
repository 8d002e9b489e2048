"""`make run` prints its demo credentials from one gateway process (issue #14 item 18), and the
demo partner's API key is reused from one run to the next while the database still accepts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt

from kefu_common.db import Database
from kefu_gateway import partners
from kefu_gateway.models import SCHEMA


def _demo_credentials(database_url: str, key_file: Path) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "KEFU_ENV": "test"}
    out = subprocess.run(
        [sys.executable, "-m", "kefu_gateway", "demo-credentials", "--key-file", str(key_file)],
        env=env, check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


async def _holder(database_url: str, key: str) -> partners.KeyHolder:
    db = Database(database_url, schema=SCHEMA, pool_size=1)
    try:
        async with db.session() as session:
            return await partners.authenticate_key(session, key)
    finally:
        await db.dispose()


async def test_demo_partner_key_is_reused_while_valid_and_tokens_carry_their_roles(
    database_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "demo-partner-key"
    first = _demo_credentials(database_url, key_file)
    second = _demo_credentials(database_url, key_file)
    assert second["partner_key"] == first["partner_key"]
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (await _holder(database_url, first["partner_key"])).partner_id == "demo-partner"
    for role in ("agent", "lead", "qa", "admin", "customer"):
        claims = jwt.decode(first[role], options={"verify_signature": False})
        assert claims["role"] == role


async def test_a_demo_key_the_database_does_not_know_is_replaced(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "demo-partner-key"
    unknown = "kefu_000000000000_" + "A" * 43  # e.g. kept from another database
    key_file.write_text(unknown + "\n")
    fresh = _demo_credentials(database_url, key_file)["partner_key"]
    assert fresh != unknown
    assert key_file.read_text().strip() == fresh
    assert (await _holder(database_url, fresh)).partner_id == "demo-partner"
