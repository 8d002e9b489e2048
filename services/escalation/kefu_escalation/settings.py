from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kefu_common.settings import GrpcServiceSettings


class EscalationSettings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", extra="ignore", frozen=True)

    grpc_port: int = Field(default=50052, ge=0, le=65535)
