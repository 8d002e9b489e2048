"""Brotli or gzip for large bodies, as the client's Accept-Encoding prefers (issue #13), over a
real HTTP server: q-values decide, Brotli wins a tie, small bodies and already-compressed files
(XLSX) go as they are, a streamed CSV export is compressed chunk by chunk, and every response
large enough to be compressed says `Vary: Accept-Encoding`."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import brotli
import httpx
import pytest

from support import served_gateway, staff_headers, ticket_body
from kefu_gateway.compression import preferred_encoding


@pytest.mark.parametrize(("accept_encoding", "chosen"), [
    ("gzip, deflate, br, zstd", "br"),  # what browsers send: Brotli wins the tie
    ("gzip", "gzip"),
    ("br;q=0.5, gzip", "gzip"),  # the client's weights beat our preference
    ("gzip;q=0.8, br;q=0.9", "br"),
    ("br;q=0, gzip;q=0", None),  # q=0 refuses
    ("gzip;q=0", None),
    ("*", "br"),
    ("*;q=0.3, gzip;q=0.5", "gzip"),  # * weighs the codings not named
    ("gzip;q=0, *", "br"),
    ("BR;Q=1", "br"),  # codings and parameters are case-insensitive
    ("identity", None),
    ("", None),
    ("br;q=abc, gzip", "gzip"),  # a malformed weight accepts nothing
])
def test_the_coding_is_the_one_the_client_weighs_highest_brotli_on_a_tie(accept_encoding, chosen) -> None:
    assert preferred_encoding(accept_encoding) == chosen


@pytest.fixture(scope="module")
def url(gateway_settings: Any) -> Iterator[str]:
    with served_gateway(gateway_settings) as base:
        yield base


@pytest.fixture(scope="module")
async def http(url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield client


async def raw(http: httpx.AsyncClient, path: str, accept_encoding: str, **kwargs: Any) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (httpx would otherwise decode it)."""
    headers = {"Accept-Encoding": accept_encoding, **kwargs.pop("headers", {})}
    async with http.stream("GET", path, headers=headers, **kwargs) as response:
        return response, b"".join([chunk async for chunk in response.aiter_raw()])


async def test_a_large_body_is_brotli_for_a_browser_and_smaller_than_gzip(http) -> None:
    plain, body = await raw(http, "/openapi.json", "identity")
    br, br_body = await raw(http, "/openapi.json", "gzip, deflate, br")
    gz, gz_body = await raw(http, "/openapi.json", "gzip")
    assert "content-encoding" not in plain.headers
    assert br.headers["content-encoding"] == "br" and gz.headers["content-encoding"] == "gzip"
    assert brotli.decompress(br_body) == body
    assert zlib.decompress(gz_body, 16 + zlib.MAX_WBITS) == body
    assert int(br.headers["content-length"]) == len(br_body) < len(gz_body) < len(body) / 4
    for response in (plain, br, gz):  # compressed or not, a cache must key on Accept-Encoding
        assert "accept-encoding" in response.headers["vary"].lower()


async def test_weights_on_the_wire_choose_gzip_or_nothing(http) -> None:
    gz, _ = await raw(http, "/openapi.json", "br;q=0.1, gzip")
    assert gz.headers["content-encoding"] == "gzip"
    refused, body = await raw(http, "/openapi.json", "br;q=0, gzip;q=0")
    assert "content-encoding" not in refused.headers and body.startswith(b"{")


async def test_small_bodies_are_not_compressed(http) -> None:
    small, body = await raw(http, "/healthz", "br, gzip")
    assert "content-encoding" not in small.headers and len(body) < 1024


async def test_a_streamed_csv_export_is_brotli_chunk_by_chunk_and_xlsx_is_left_alone(http, gateway_settings) -> None:
    auth = staff_headers(gateway_settings, role="admin")
    team = f"zip-{uuid.uuid4().hex[:8]}"
    for n in range(30):  # 30 rows of ~4 KB: two 64 KiB chunks of CSV, streamed as they are read
        created = await http.post("/v1/tickets", json=ticket_body(team=team, description=f"{n}号包裹未到" * 250),
                                  headers={**auth, "Idempotency-Key": f"{team}-{n}"})
        assert created.status_code == 201, created.text
    params = {"team": team, "format": "csv", "page_size": 10}
    plain, csv_body = await raw(http, "/v1/tickets", "identity", params=params, headers=auth)
    assert plain.status_code == 200 and csv_body.count(b"\r\n") == 31
    async with http.stream("GET", "/v1/tickets", params=params,
                           headers={**auth, "Accept-Encoding": "br"}) as streamed:
        assert streamed.headers["content-encoding"] == "br"
        assert "content-length" not in streamed.headers
        decoder = brotli.Decompressor()
        decoded = []
        async for chunk in streamed.aiter_raw():
            decoded.append(decoder.process(chunk))  # each chunk was flushed: it decodes on arrival
    assert decoder.is_finished()
    assert len(decoded) >= 2 and all(decoded[:2])
    assert decoded[0].startswith("\ufeffid,".encode())
    assert b"".join(decoded) == csv_body

    xlsx, xlsx_body = await raw(http, "/v1/tickets", "br, gzip", params={**params, "format": "xlsx"}, headers=auth)
    assert xlsx.status_code == 200 and len(xlsx_body) > 1024
    assert "content-encoding" not in xlsx.headers  # a zip already
    assert xlsx_body[:2] == b"PK"
