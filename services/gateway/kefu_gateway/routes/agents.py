"""The agent roster (who tickets can be assigned and routed to). Admin and lead roles only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kefu.ticketing.v1 import ticketing_pb2
from kefu_gateway.auth import Allowed
from kefu_gateway.clients import ClientsDep
from kefu_gateway.convert import agent_public
from kefu_gateway.deps import IdempotencyKey, request_id_for
from kefu_gateway.problems import problem_responses
from kefu_gateway.schemas import AgentCreate, AgentList, AgentPublic

CanManageRoster = Allowed["roster:manage"]
router = APIRouter(prefix="/v1/agents", tags=["agents"])


@router.post(
    "",
    operation_id="upsertAgent",
    summary="Add an agent to the roster, or replace the one with this id",
    description="An upsert, so repeating it is harmless; `Idempotency-Key` is accepted (and "
    "checked) like on every other write.",
    response_model=AgentPublic,
    responses=problem_responses(400, 401, 403, 413, 422, 503, 504),
)
async def upsert_agent(
    body: AgentCreate,
    principal: CanManageRoster,
    clients: ClientsDep,
    idempotency_key: IdempotencyKey = None,
) -> AgentPublic:
    request_id_for(principal, idempotency_key)  # UpsertAgent has no request_id: validate only
    agent = await clients.ticketing.UpsertAgent(
        ticketing_pb2.UpsertAgentRequest(
            agent=ticketing_pb2.Agent(
                id=body.id,
                name=body.name,
                team=body.team,
                skill_level=body.skill_level,
                specialist=body.specialist,
                active=body.active,
                direct_line=body.direct_line,
            )
        ),
        timeout=clients.timeout,
    )
    return agent_public(agent)


@router.get(
    "",
    operation_id="listAgents",
    summary="The roster, by agent id",
    response_model=AgentList,
    responses=problem_responses(401, 403, 422, 503, 504),
)
async def list_agents(
    principal: CanManageRoster,
    clients: ClientsDep,
    team: Annotated[
        str | None, Query(min_length=1, max_length=64, description="Only this team")
    ] = None,
) -> AgentList:
    reply = await clients.ticketing.ListAgents(
        ticketing_pb2.ListAgentsRequest(team=team or ""), timeout=clients.timeout
    )
    return AgentList(items=[agent_public(a) for a in reply.agents])
