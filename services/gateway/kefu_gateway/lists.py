"""The answer of a list route (docs/reports-contract.md "Lists"): one page as JSON, or with
`format=csv|xlsx` (or the matching `Accept`) every page as a file through export.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from fastapi import Request
from pydantic import BaseModel

from kefu_gateway.export import ExportFormat, export_list, negotiate

# One page of a list: a model with `items` and `next_cursor`, fetched after a cursor ("" first).
FetchPage = Callable[[str], Awaitable[Any]]


async def page_or_file(
    request: Request, query: Any, name: str, item_model: type[BaseModel], fetch_page: FetchPage, *,
    start: date | None = None, end: date | None = None,
) -> Any:
    """`query` carries `format` and `cursor`; `name` is the route's operationId (the file's name)."""
    fmt = negotiate(request, query.format)
    if fmt is ExportFormat.JSON:
        return await fetch_page(query.cursor or "")

    async def fetch(cursor: str | None) -> tuple[list[Any], str | None]:
        page = await fetch_page(cursor or "")
        return page.items, page.next_cursor

    return await export_list(fmt, name, item_model, fetch, cursor=query.cursor, start=start, end=end)
