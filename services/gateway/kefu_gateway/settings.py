from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from kefu_common.settings import BaseServiceSettings

DEV_JWT_SECRET = "kefu-dev-secret-change-me-0123456789abcdef"


class GatewaySettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    ticketing_addr: str = "127.0.0.1:50051"
    escalation_addr: str = "127.0.0.1:50052"
    scoring_addr: str = "127.0.0.1:50053"
    rpc_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    # Request line + headers of one request (431 beyond; one line at most 8 KiB): server.py.
    max_header_bytes: int = Field(default=32 * 1024, ge=8 * 1024, le=1024 * 1024)
    jwt_secret: SecretStr = Field(default=SecretStr(DEV_JWT_SECRET), min_length=32)
    jwt_issuer: str = "kefu"
    # Production identity providers: {"<kid>": "<PEM public key>"} (RSA -> RS256, EC P-256 ->
    # ES256); a token naming a kid is checked against that key only.
    jwt_public_keys: dict[str, str] = Field(default_factory=dict)
    db_pool_size: int = Field(default=5, ge=1, le=100)
    # Browser clients on other origins (an agent desktop or customer H5 page): the exact origins
    # allowed to call the API (CORS), e.g. ["https://desk.example.com"]; empty: CORS off.
    cors_allow_origins: list[str] = Field(default_factory=list)
    # Quota of each partner key / partner or customer token, counted across every replica
    # (gateway.rate_window, see ratelimit.py).
    rate_limit_requests: int = Field(default=600, ge=1, le=1_000_000)
    rate_limit_window_seconds: int = Field(default=60, ge=1, le=3600)
    # Failed authentications (wrong key or token) per client address / per API key prefix in
    # a window before every attempt from it is 429 until the window ends (shared as above).
    auth_failures_per_address: int = Field(default=20, ge=1, le=1_000_000)
    auth_failures_per_key_prefix: int = Field(default=10, ge=1, le=1_000_000)
    auth_failure_window_seconds: int = Field(default=300, ge=1, le=86_400)
    # How long a progress tag learned from ticketing may answer polls with 304 without asking
    # again (each ticket's tag is also dropped by its next customer-visible event); 0: always ask.
    progress_tag_ttl_seconds: float = Field(default=5.0, ge=0, le=300)
    # Partner webhooks: the fan-out from the ticketing stream and the delivery loop run in
    # every gateway process (safe: outbox rows are unique, deliveries are claimed with SKIP
    # LOCKED). A delivery interval of 0 leaves delivery to someone else (tests drive it).
    webhooks_enabled: bool = True
    webhook_delivery_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    webhook_max_attempts: int = Field(default=8, ge=1, le=30)
    webhook_backoff_base_seconds: float = Field(default=10.0, gt=0, le=3600)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # How long a claimed delivery is not claimed again: a replica killed mid-send leaves its
    # claims to the other replicas after this long (keep it above the timeout).
    webhook_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Webhook URLs resolving to loopback/private/link-local addresses (SSRF): refused in prod
    # unless set true; allowed elsewhere (local receivers in development and tests).
    webhook_allow_private_hosts: bool | None = None
    # Real-time QA WebSocket (routes/realtime.py): messages queued per connection for the
    # client, and how long a full queue may wait for a slow client before it is closed (4408).
    realtime_send_queue: int = Field(default=64, ge=1, le=10_000)
    realtime_send_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @property
    def webhook_private_hosts_allowed(self) -> bool:
        if self.webhook_allow_private_hosts is not None:
            return self.webhook_allow_private_hosts
        return self.env != "prod"

    @model_validator(mode="after")
    def _no_dev_secret_in_prod(self) -> GatewaySettings:
        if self.env == "prod" and self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ValueError("GATEWAY_JWT_SECRET must be set to a real secret when KEFU_ENV=prod")
        return self


