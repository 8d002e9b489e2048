"""kefu_gateway.export: format negotiation, CSV with BOM, XLSX, cursor walking, series rows."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, UTC
from typing import Annotated

import httpx
import openpyxl
import pytest
from fastapi import FastAPI, Query, Request
from pydantic import BaseModel

from kefu_common.periods import plan
from kefu_gateway.export import (
    EXPORT_RESPONSES,
    XLSX_MEDIA_TYPE,
    ExportFormat,
    ExportQuery,
    export_list,
    export_series,
    negotiate,
)
from kefu_gateway.series import build_series


class Owner(BaseModel):
    id: str
    team: str


class Item(BaseModel):
    id: int
    subject: str
    owner: Owner | None
    tags: list[str]
    at: datetime


class Values(BaseModel):
    count: int
    ratio: float | None


ITEMS = [
    Item(id=i, subject=f"电视黑屏 {i}", owner=Owner(id=f"a{i}", team="t") if i % 2 else None,
         tags=["x", "y"] if i == 1 else [], at=datetime(2026, 11, 1, i, tzinfo=UTC))
    for i in range(7)
]


class ItemQuery(ExportQuery):
    page_size: int = 3


def _app(calls: list) -> FastAPI:
    app = FastAPI()

    async def fetch(cursor: str | None):
        calls.append(cursor)
        start = int(cursor or 0)
        nxt = start + 3
        return ITEMS[start:nxt], (str(nxt) if nxt < len(ITEMS) else None)

    @app.get("/items", responses=EXPORT_RESPONSES, operation_id="listItems")
    async def items(request: Request, query: Annotated[ItemQuery, Query()]):
        fmt = negotiate(request, query.format)
        if fmt is not ExportFormat.JSON:
            return await export_list(fmt, "listItems", Item, fetch)
        page, nxt = await fetch(None)
        return {"items": [i.model_dump(mode="json") for i in page], "next_cursor": nxt}

    @app.get("/series")
    async def series(request: Request, format: ExportFormat | None = None):
        p = plan(date(2026, 11, 25), date(2026, 12, 10), unit="week")
        report = build_series(
            p, "team",
            [("team-a", 0, False, Values(count=2, ratio=0.5)),
             ("team-a", 1, True, Values(count=4, ratio=0.25)),
             ("team-b", 2, False, Values(count=1, ratio=1.0))],
            lambda: Values(count=0, ratio=None),
        )
        return export_series(negotiate(request, format), "getThing", report, Values)

    return app


async def _get(app, url, **kw):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        return await c.get(url, **kw)


def _csv(resp) -> list[list[str]]:
    assert resp.content.startswith(b"\xef\xbb\xbf")  # the UTF-8 BOM Excel needs
    return list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))


async def test_accept_text_csv_exports_every_page_as_utf8_csv_with_bom():
    calls: list = []
    resp = await _get(_app(calls), "/items", headers={"Accept": "text/csv"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="listItems.csv"' in resp.headers["content-disposition"]
    rows = _csv(resp)
    assert rows[0] == ["id", "subject", "owner_id", "owner_team", "tags", "at"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3", "4", "5", "6"]  # all 3 pages
    assert calls == [None, "3", "6"]
    assert rows[2] == ["1", "电视黑屏 1", "a1", "t", "x; y", "2026-11-01T01:00:00.000000Z"]  # the one timestamp format
    assert rows[1][2:4] == ["", ""]  # no owner: empty cells, same columns


async def test_format_query_parameter_wins_over_accept():
    resp = await _get(_app([]), "/items?format=csv", headers={"Accept": "application/json"})
    assert _csv(resp)[0][0] == "id"
    resp = await _get(_app([]), "/items?format=json", headers={"Accept": "text/csv"})
    assert resp.json()["next_cursor"] == "3"


async def test_json_stays_the_default_and_quality_values_are_honoured():
    assert "items" in (await _get(_app([]), "/items")).json()
    assert "items" in (await _get(_app([]), "/items", headers={"Accept": "*/*"})).json()
    resp = await _get(_app([]), "/items", headers={"Accept": "application/json;q=0.5, text/csv"})
    assert resp.headers["content-type"].startswith("text/csv")


async def test_xlsx_export_is_one_sheet_openpyxl_can_read():
    resp = await _get(_app([]), "/items", headers={"Accept": XLSX_MEDIA_TYPE})
    assert resp.headers["content-type"] == XLSX_MEDIA_TYPE
    assert 'filename="listItems.xlsx"' in resp.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(resp.content), read_only=True)
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0] == ("id", "subject", "owner_id", "owner_team", "tags", "at")
    assert len(rows) == 8
    assert rows[2][:4] == (1, "电视黑屏 1", "a1", "t")  # numbers stay numbers


async def test_series_export_is_one_row_per_group_and_bucket_with_previous_columns():
    rows = _csv(await _get(_app([]), "/series?format=csv"))
    assert rows[0] == ["group", "bucket_start", "bucket_end", "count", "ratio",
                       "previous_start", "previous_end", "previous_count", "previous_ratio"]
    assert rows[1:] == [
        ["team-a", "2026-11-25", "2026-11-30", "2", "0.5", "2026-11-20", "2026-11-25", "0", ""],
        ["team-a", "2026-11-30", "2026-12-07", "0", "", "2026-11-23", "2026-11-30", "4", "0.25"],
        ["team-a", "2026-12-07", "2026-12-10", "0", "", "2026-12-04", "2026-12-07", "0", ""],
        ["team-b", "2026-11-25", "2026-11-30", "0", "", "2026-11-20", "2026-11-25", "0", ""],
        ["team-b", "2026-11-30", "2026-12-07", "0", "", "2026-11-23", "2026-11-30", "0", ""],
        ["team-b", "2026-12-07", "2026-12-10", "1", "1.0", "2026-12-04", "2026-12-07", "0", ""],
    ]


async def test_series_export_filename_names_the_operation_and_the_range():
    resp = await _get(_app([]), "/series?format=xlsx")
    assert 'filename="getThing-2026-11-25-2026-12-10.xlsx"' in resp.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(resp.content), read_only=True)
    assert len(list(wb.active.iter_rows(values_only=True))) == 7


@pytest.mark.parametrize("accept", ["text/html", "application/xml;q=1", ""])
async def test_unrelated_accept_falls_back_to_json(accept):
    assert "items" in (await _get(_app([]), "/items", headers={"Accept": accept})).json()
