"""`GET /metrics`: Prometheus text exposition (not part of the public API or its OpenAPI)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from kefu_common.metrics import render_latest

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    body, content_type = render_latest()
    return Response(content=body, media_type=content_type)
