"""CSV / XLSX exports of every report and list (docs/reports-contract.md): the one implementation.

A route that can be exported takes a query model derived from `ExportQuery` (it adds the
`format` parameter), declares `responses={**EXPORT_RESPONSES, ...}` and, when `negotiate()`
picks a file format, returns `export_list(...)` (a list: walks the cursor page by page) or
`export_series(...)` (a series report: one row per group × bucket, `previous_<name>` columns).
Nothing renders CSV anywhere else.

- CSV: UTF-8 with a BOM (so Excel opens Chinese text correctly), a header row, streamed page
  by page as it is fetched.
- XLSX: XlsxWriter in `constant_memory` mode (each row goes to disk as soon as the next one
  starts), the workbook assembled in a temporary file and streamed from it; memory stays flat
  however many rows are exported.
"""

from __future__ import annotations

import csv
import enum
import io
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, get_args, get_origin
from urllib.parse import quote

import anyio
import xlsxwriter
from fastapi import Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from kefu_common.timestamps import rfc3339

CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_BOM = "\ufeff"
_CHUNK = 64 * 1024


class ExportFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


class ExportQuery(BaseModel):
    """Mixed into the query model of every exportable route (beside `SafeInput`)."""

    format: ExportFormat | None = Field(
        default=None,
        description="`csv` or `xlsx` to download the whole result as a file (every page); "
        "`Accept: text/csv` or the XLSX media type do the same. Default: JSON",
    )


# The 200 response of an exportable route also lists the file media types.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            CSV_MEDIA_TYPE: {
                "schema": {"type": "string"},
                "example": "\ufeffid,status\r\n",
            },
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "JSON, or with `format=csv|xlsx` (or the matching `Accept`) the same "
        "table as a file: UTF-8 CSV with a BOM, or one XLSX sheet; "
        "`Content-Disposition: attachment`",
    }
}

_ACCEPTED = {
    "application/json": ExportFormat.JSON,
    CSV_MEDIA_TYPE: ExportFormat.CSV,
    XLSX_MEDIA_TYPE: ExportFormat.XLSX,
}


def negotiate(request: Request, format: ExportFormat | None) -> ExportFormat:
    """`?format=` wins; else the best of JSON / CSV / XLSX in `Accept` (ties: listed first)."""
    if format is not None:
        return format
    best, best_q = ExportFormat.JSON, 0.0
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.strip().partition(";")
        choice = _ACCEPTED.get(media.strip().lower())
        if choice is None:
            if media.strip() in ("*/*", "application/*"):
                choice = ExportFormat.JSON
            else:
                continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = choice, q
    return best


# --- flattening: a model (nested models inlined, `owner_id`) to one flat row --------------


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None and get_origin(annotation) is not list:
        for arg in get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def columns(model: type[BaseModel], prefix: str = "") -> list[str]:
    """The flat column names of `model`: nested models inlined as `<field>_<sub>`."""
    out: list[str] = []
    for name, field in model.model_fields.items():
        inner = _inner_model(field.annotation)
        if inner is not None:
            out.extend(columns(inner, f"{prefix}{name}_"))
        else:
            out.append(f"{prefix}{name}")
    return out


def _cell(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "; ".join(str(_cell(v)) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, BaseModel):
        return str(value.model_dump(mode="json"))
    return value


def flatten(item: BaseModel | None, model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    """One flat row of `item` (an instance of `model`, or None for empty cells)."""
    row: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        value = getattr(item, name) if item is not None else None
        inner = _inner_model(field.annotation)
        if inner is not None and not isinstance(value, list):
            row.update(flatten(value, inner, f"{prefix}{name}_"))
        else:
            row[f"{prefix}{name}"] = _cell(value)
    return row


# --- writers -----------------------------------------------------------------------------


RowSource = AsyncIterator[Sequence[Any]]


async def _csv_chunks(header: Sequence[str], rows: RowSource) -> AsyncIterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write(_BOM)
    writer.writerow(header)
    async for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        if buf.tell() >= _CHUNK:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


async def _xlsx_chunks(header: Sequence[str], rows: RowSource, sheet: str) -> AsyncIterator[bytes]:
    with tempfile.TemporaryFile() as out:
        workbook = xlsxwriter.Workbook(
            out, {"constant_memory": True, "strings_to_numbers": False, "strings_to_urls": False}
        )
        ws = workbook.add_worksheet(sheet[:31])
        bold = workbook.add_format({"bold": True})
        ws.write_row(0, 0, header, bold)
        r = 1
        async for row in rows:
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, bool):
                    ws.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    ws.write_number(r, c, value)
                else:
                    ws.write_string(r, c, str(value))
            r += 1
        await anyio.to_thread.run_sync(workbook.close)
        out.seek(0)
        while chunk := out.read(_CHUNK):
            yield chunk


def _filename(name: str, fmt: ExportFormat, start: date | None, end: date | None) -> str:
    parts = [name] + [d.isoformat() for d in (start, end) if d is not None]
    return f"{'-'.join(parts)}.{fmt.value}"


def file_response(
    fmt: ExportFormat,
    name: str,
    header: Sequence[str],
    rows: RowSource,
    *,
    start: date | None = None,
    end: date | None = None,
) -> StreamingResponse:
    """Stream `rows` under `header` as a CSV or XLSX attachment named after `name`."""
    if fmt is ExportFormat.CSV:
        body, media = _csv_chunks(header, rows), f"{CSV_MEDIA_TYPE}; charset=utf-8"
    elif fmt is ExportFormat.XLSX:
        body, media = _xlsx_chunks(header, rows, name), XLSX_MEDIA_TYPE
    else:  # pragma: no cover - callers export only file formats
        raise ValueError(fmt)
    filename = _filename(name, fmt, start, end)
    return StreamingResponse(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f"attachment; filename=\"{filename}\"; "
            f"filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "no-store",
        },
    )


# --- lists: walk the cursor ----------------------------------------------------------------

Page = tuple[Sequence[BaseModel], str | None]
FetchPage = Callable[[str | None], Awaitable[Page]]


async def export_list(
    fmt: ExportFormat,
    name: str,
    item_model: type[BaseModel],
    fetch_page: FetchPage,
    *,
    cursor: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> StreamingResponse:
    """Export a whole list: `fetch_page(cursor)` → (items, next cursor), called page by page
    while the file streams. The first page is fetched before answering, so a bad filter or a
    service error is still a problem+json answer, never a broken file."""
    first = await fetch_page(cursor)
    header = columns(item_model)

    async def rows() -> RowSource:
        items, nxt = first
        while True:
            for item in items:
                flat = flatten(item, item_model)
                yield [flat[c] for c in header]
            if not nxt:
                return
            items, nxt = await fetch_page(nxt)

    return file_response(fmt, name, header, rows(), start=start, end=end)


# --- series: one row per group × bucket --------------------------------------------------


def series_rows(report: Any, values_model: type[BaseModel]) -> tuple[list[str], Iterator[list]]:
    """Flatten a series report (kefu_gateway.series.SeriesReport) to a header and rows."""
    names = columns(values_model)
    header = ["group", "bucket_start", "bucket_end", *names]
    with_previous = any(b.previous is not None for s in report.series for b in s.buckets)
    if with_previous:
        header += ["previous_start", "previous_end", *(f"previous_{n}" for n in names)]

    def rows() -> Iterator[list]:
        for s in report.series:
            for b in s.buckets:
                cur = flatten(b.values, values_model)
                row = [s.group, b.start.isoformat(), b.end.isoformat(), *(cur[n] for n in names)]
                if with_previous:
                    prev = flatten(b.previous, values_model)
                    row += [
                        b.previous_start.isoformat() if b.previous_start else None,
                        b.previous_end.isoformat() if b.previous_end else None,
                        *(prev[n] for n in names),
                    ]
                yield row

    return header, rows()


async def _aiter(rows: Iterable[Sequence[Any]]) -> RowSource:
    for row in rows:
        yield row


def export_series(
    fmt: ExportFormat, name: str, report: Any, values_model: type[BaseModel]
) -> StreamingResponse:
    """Export a series report as one row per (group, bucket), `previous_<name>` beside."""
    header, rows = series_rows(report, values_model)
    return file_response(fmt, name, header, _aiter(rows), start=report.start, end=report.end)


def export_items(
    fmt: ExportFormat,
    name: str,
    item_model: type[BaseModel],
    items: Iterable[BaseModel],
    *,
    start: date | None = None,
    end: date | None = None,
) -> StreamingResponse:
    """Export items already at hand (a bounded answer, e.g. a histogram or a ranking)."""
    header = columns(item_model)
    rows = ([flatten(i, item_model)[c] for c in header] for i in items)
    return file_response(fmt, name, header, _aiter(rows), start=start, end=end)
