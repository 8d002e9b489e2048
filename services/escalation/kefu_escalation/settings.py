from pydantic import Field, SecretStr, model_validator
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
    # Name of the projection's cursor row (escalation.consumer_cursor); another name runs an
    # isolated projection (tests, a re-projection from a chosen sequence).
    sla_projection_cursor: str = Field(default="sla-clock-projection", min_length=1, max_length=64)
    # Triggers (DOMAIN.md §2): customer-initiated contacts on one ticket (the first call counts),
    # reopen_count, and progress views within an hour that escalate one level.
    contacts_escalate_at: int = Field(default=3, ge=1, le=1000)
    reopens_escalate_at: int = Field(default=2, ge=1, le=1000)
    anxious_views_per_hour: int = Field(default=5, ge=1, le=10000)
    # A risk signal whose ticket the clocks never saw (unknown ticket) expires after this long.
    signal_pending_seconds: int = Field(default=3600, ge=60, le=30 * 24 * 3600)
    # Working hours of the people notified: notifications below L3 wait for them.
    staff_calendar: str = "cn-business"
    # Optional webhook sink for notifications (HMAC-SHA256 signed with the secret).
    notify_webhook_url: str = ""
    notify_webhook_secret: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> "EscalationSettings":
        if self.notify_webhook_url and len(self.notify_webhook_secret.get_secret_value()) < 16:
            raise ValueError("ESCALATION_NOTIFY_WEBHOOK_SECRET (16+ characters) is required with a webhook URL")
        return self
