from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kefu_common.settings import GrpcServiceSettings


class EscalationSettings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", extra="ignore", frozen=True)

    grpc_port: int = Field(default=50052, ge=0, le=65535)
    ticketing_addr: str = "127.0.0.1:50051"
    # Consume the ticketing event stream into escalation.ticket_event (the SLA clocks' input).
    consume_ticket_events: bool = True
    # Project the inbox into SLA clocks and record warnings/breaches as they fall due.
    run_sla_clocks: bool = True
    sla_clock_interval_seconds: float = Field(default=1.0, gt=0, le=60)
