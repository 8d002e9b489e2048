from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kefu_common.settings import GrpcServiceSettings


class TicketingSettings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TICKETING_", extra="ignore", frozen=True)

    grpc_port: int = Field(default=50051, ge=0, le=65535)
    escalation_addr: str = "127.0.0.1:50052"
    escalation_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    reopen_window_days: int = Field(default=30, ge=1, le=365)
    # Customer satisfaction: how long a cycle's rating may be changed after it was first given,
    # and the highest score that counts as dissatisfied (an event escalation acts on).
    csat_change_window_days: int = Field(default=7, ge=0, le=365)
    csat_dissatisfied_max_score: int = Field(default=2, ge=0, le=5)
