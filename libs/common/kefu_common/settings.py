"""Settings: one pydantic-settings class per service, each with its own env prefix.

The few platform-wide variables (`DATABASE_URL`, `KEFU_ENV`, `KEFU_LOG_FORMAT`,
`KEFU_LOG_LEVEL`) are read by their exact names in every service. Read once at start-up and
passed down; nothing else reads the environment.

Secrets are `SecretStr` (printed as `**********`; `.get_secret_value()` where used), and a
settings error never echoes the input (`hide_input_in_errors`): a crash at start-up must not
print the tail of a secret.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class BaseServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set `model_config` with their env prefix."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    env: Literal["dev", "test", "prod"] = Field(
        default="dev", validation_alias=AliasChoices("KEFU_ENV")
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None,
        validation_alias=AliasChoices("KEFU_LOG_FORMAT"),
        description="json or console; defaults to json in prod, console otherwise",
    )
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("KEFU_LOG_LEVEL"))
    tracing_enabled: bool = Field(
        default=False,
        validation_alias=AliasChoices("KEFU_TRACING_ENABLED"),
        description="export OpenTelemetry spans over OTLP (OTEL_EXPORTER_OTLP_* variables)",
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL"),
        description="PostgreSQL URL (its password is a secret); unset: the embedded server",
    )
    database_direct_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_DIRECT_URL"),
        description="PostgreSQL URL of the primary itself, for what a transaction pooler in "
        "DATABASE_URL cannot carry (LISTEN, session advisory locks); unset: DATABASE_URL",
    )

    @property
    def direct_url(self) -> str | None:
        """DATABASE_DIRECT_URL in clear, for the one place that connects with it."""
        return self.database_direct_url.get_secret_value() if self.database_direct_url else None
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=120)
    idempotency_retention_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 30,
        validation_alias=AliasChoices("KEFU_IDEMPOTENCY_RETENTION_HOURS"),
        description="how long a stored reply answers retries of its Idempotency-Key / request id",
    )

    @property
    def idempotency_retention(self) -> timedelta:
        return timedelta(hours=self.idempotency_retention_hours)

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.env == "prod" else "console"

    @model_validator(mode="after")
    def _database_required_in_prod(self) -> BaseServiceSettings:
        if self.env == "prod" and not self.database_url:
            raise ValueError("DATABASE_URL must be set when KEFU_ENV=prod")
        return self


class GrpcServiceSettings(BaseServiceSettings):
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=0, ge=0, le=65535)
    grpc_reflection: bool = True
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # Prometheus text exposition on http://<grpc_host>:<metrics_port>/metrics; 0 = not served.
    metrics_port: int = Field(default=0, ge=0, le=65535)

    @property
    def grpc_bind(self) -> str:
        return f"{self.grpc_host}:{self.grpc_port}"
