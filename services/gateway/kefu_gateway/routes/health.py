from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from kefu_common.problem import Problem
from kefu_gateway.clients import ClientsDep
from kefu_gateway.problems import problem_response, problem_responses
from kefu_gateway.schemas import Health

router = APIRouter(tags=["health"])
# Probes answer anyone (a load balancer has no token): said in the spec, not left implicit.
PUBLIC = {"security": []}


@router.get("/healthz", operation_id="liveness", summary="The gateway process is alive", openapi_extra=PUBLIC)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readiness",
    summary="Every downstream service answers its gRPC health check",
    response_model=Health,
    responses=problem_responses(503),
    openapi_extra=PUBLIC,
)
async def readyz(request: Request, clients: ClientsDep) -> Health | JSONResponse:
    checks = await clients.health()
    if all(state == "serving" for state in checks.values()):
        return Health(status="ok", checks=checks)
    failing = ", ".join(f"{name}={state}" for name, state in checks.items() if state != "serving")
    problem = Problem(
        status=503,
        code="not_ready",
        detail=f"downstream services not serving: {failing}",
        extra={"checks": checks},
        headers={"Retry-After": "1"},
    )
    return problem_response(request, problem)
