"""Partner webhooks: subscriptions, the delivery log and manual redelivery (webhooks.py).

A partner manages only its own subscriptions and sees only its own deliveries; another
partner's ids are 404. POSTs take Idempotency-Key (gateway idempotency records).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from kefu_gateway import webhooks
from kefu_gateway.auth import Allowed
from kefu_gateway.deps import IdempotencyKey, request_id_for
from kefu_gateway.idempotency import run_idempotent
from kefu_gateway.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from kefu_gateway.http_contract import created
from kefu_gateway.problems import problem_responses
from kefu_gateway.schemas import (
    WebhookDeliveryList,
    WebhookDeliveryPublic,
    WebhookDeliveryQuery,
    WebhookSubscriptionCreate,
    WebhookSubscriptionList,
    WebhookSubscriptionPublic,
)

Partner = Allowed["webhooks:manage"]
ResourceId = Annotated[str, Path(min_length=1, max_length=64)]
_COMMON = (401, 403, 422, 429, 503)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _subscription(row: WebhookSubscription, *, with_secret: bool = False) -> WebhookSubscriptionPublic:
    return WebhookSubscriptionPublic(
        id=str(row.id), url=row.url, event_types=row.event_types, created_at=row.created_at,
        secret=row.secret if with_secret else None,
    )


def _delivery(row: WebhookDelivery, attempts: list[WebhookAttempt]) -> WebhookDeliveryPublic:
    return WebhookDeliveryPublic.model_validate(
        {
            **row.model_dump(include={"status", "event_type", "next_attempt_at", "created_at", "delivered_at"}),
            "id": str(row.id),
            "subscription_id": str(row.subscription_id),
            "event_id": str(row.event_id),
            "ticket_id": str(row.ticket_id),
            "attempts": [a.model_dump(include={"attempted_at", "status_code", "error"}) for a in attempts],
        }
    )


def _idempotent_reply(status_code: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status_code)


@router.post(
    "/subscriptions",
    status_code=status.HTTP_201_CREATED,
    operation_id="createWebhookSubscription",
    summary="Subscribe an HTTPS endpoint to events of my tickets",
    description="The reply carries the signing `secret` (`whsec_…`), once. Each delivery is a POST "
    "signed per Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 "
    "HMAC-SHA256>` over `<id>.<timestamp>.<body>` with the base64-decoded secret (any Standard "
    "Webhooks library verifies it). The older `Kefu-Signature` headers are deprecated, sent until 2027-06-30.",
    response_model=WebhookSubscriptionPublic,
    responses=problem_responses(400, 413, *_COMMON),
)
async def create_subscription(
    principal: Partner,
    body: WebhookSubscriptionCreate,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    state = request.app.state

    async def write(session: Any) -> tuple[int, dict[str, Any]]:
        row = await webhooks.create_subscription(
            session, partner_id=principal.subject, url=body.url, event_types=body.event_types,
            https_only=state.settings.env == "prod",
            allow_private_hosts=state.settings.webhook_private_hosts_allowed, clock=state.clock,
        )
        return 201, _subscription(row, with_secret=True).model_dump(mode="json")

    reply = _idempotent_reply(
        *await run_idempotent(
            state.db, scope="createWebhookSubscription",
            request_id=request_id_for(principal, idempotency_key) if idempotency_key else None,
            body=body.model_dump(mode="json"), write=write, clock=state.clock,
        )
    )
    if reply.status_code == 201:
        created(reply, f"/v1/webhooks/subscriptions#{orjson.loads(reply.body)['id']}")
    return reply


@router.get(
    "/subscriptions",
    operation_id="listWebhookSubscriptions",
    summary="My active webhook subscriptions",
    response_model=WebhookSubscriptionList,
    responses=problem_responses(*_COMMON),
)
async def list_subscriptions(principal: Partner, request: Request) -> WebhookSubscriptionList:
    async with request.app.state.db.session() as session:
        rows = await webhooks.list_subscriptions(session, partner_id=principal.subject)
        return WebhookSubscriptionList(items=[_subscription(r) for r in rows])


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteWebhookSubscription",
    summary="Stop a subscription (its delivery log stays)",
    responses=problem_responses(404, *_COMMON),
)
async def delete_subscription(principal: Partner, subscription_id: ResourceId, request: Request) -> Response:
    async with request.app.state.db.session() as session:
        await webhooks.deactivate_subscription(
            session, partner_id=principal.subject, subscription_id=subscription_id
        )
    return Response(status_code=204)


@router.get(
    "/deliveries",
    operation_id="listWebhookDeliveries",
    summary="The delivery log: every event sent to me, with each attempt",
    response_model=WebhookDeliveryList,
    responses=problem_responses(*_COMMON),
)
async def list_deliveries(
    principal: Partner, query: Annotated[WebhookDeliveryQuery, Query()], request: Request
) -> WebhookDeliveryList:
    async with request.app.state.db.session() as session:
        rows = await webhooks.list_deliveries(
            session, partner_id=principal.subject, status=query.status, limit=query.limit
        )
        return WebhookDeliveryList(items=[_delivery(d, a) for d, a in rows])


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    operation_id="redeliverWebhook",
    summary="Send a delivery again now",
    response_model=WebhookDeliveryPublic,
    responses=problem_responses(400, 404, *_COMMON),
)
async def redeliver(
    principal: Partner, delivery_id: ResourceId, request: Request, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    state = request.app.state

    async def write(session: Any) -> tuple[int, dict[str, Any]]:
        row = await webhooks.redeliver(
            session, partner_id=principal.subject, delivery_id=delivery_id, clock=state.clock
        )
        attempts = await webhooks.attempts_of(session, [row.id])
        return 200, _delivery(row, attempts[row.id]).model_dump(mode="json")

    return _idempotent_reply(
        *await run_idempotent(
            state.db, scope=f"redeliverWebhook/{delivery_id}",
            request_id=request_id_for(principal, idempotency_key) if idempotency_key else None,
            body={}, write=write, clock=state.clock,
        )
    )
