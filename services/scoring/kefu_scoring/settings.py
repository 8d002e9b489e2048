from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kefu_common.settings import GrpcServiceSettings


class ScoringSettings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore", frozen=True)

    grpc_port: int = Field(default=50053, ge=0, le=65535)
