from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from kefu_common.settings import GrpcServiceSettings
from kefu_scoring.rules import DEFAULT_RULESET_PATH


class ScoringSettings(GrpcServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore", frozen=True)

    grpc_port: int = Field(default=50053, ge=0, le=65535)
    # The active ruleset (JSON); validated at start-up, errors name the bad field.
    ruleset_path: Path = DEFAULT_RULESET_PATH
    # Deliver queued risk signals to escalation's RaiseSignal. Off until escalation implements
    # it (issue #4); signals are queued in scoring.signal_outbox either way.
    relay_signals: bool = True
    escalation_addr: str = "127.0.0.1:50052"
    relay_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    relay_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
