import pytest
from pydantic import ValidationError

from kefu_common.db import to_async_url, to_libpq_url, with_database
from kefu_common.context import sanitize_request_id
from kefu_common.protoconv import enum_choices, enum_to_str, str_to_enum
from kefu.common.v1 import types_pb2
from kefu_gateway.settings import DEV_JWT_SECRET, GatewaySettings
from kefu_ticketing.settings import TicketingSettings


def test_each_service_reads_its_own_env_prefix(monkeypatch) -> None:
    monkeypatch.setenv("TICKETING_GRPC_PORT", "6001")
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "6002")
    assert TicketingSettings().grpc_port == 6001
    assert GatewaySettings().http_port == 6002


def test_platform_wide_variables_are_read_without_prefix(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5432/kefu")
    monkeypatch.setenv("KEFU_LOG_FORMAT", "json")
    settings = TicketingSettings()
    assert settings.database_url.get_secret_value() == "postgresql://u@db:5432/kefu"
    assert settings.effective_log_format == "json"


def test_prod_refuses_the_default_secret_and_a_missing_database(monkeypatch) -> None:
    monkeypatch.setenv("KEFU_ENV", "prod")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/kefu")
    with pytest.raises(ValidationError, match="GATEWAY_JWT_SECRET"):
        GatewaySettings()
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "s" * 48)
    assert GatewaySettings().jwt_secret.get_secret_value() != DEV_JWT_SECRET
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(ValidationError, match="DATABASE_URL"):
        TicketingSettings()


def test_logs_are_json_in_prod_and_console_in_dev(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/kefu")
    monkeypatch.setenv("KEFU_ENV", "prod")
    assert TicketingSettings().effective_log_format == "json"
    monkeypatch.setenv("KEFU_ENV", "dev")
    assert TicketingSettings().effective_log_format == "console"


def test_database_urls_are_normalised_for_asyncpg() -> None:
    assert to_async_url("postgres://u@h:5432/d") == "postgresql+asyncpg://u@h:5432/d"
    assert to_async_url("postgresql://u:@/d?host=/tmp/s") == "postgresql+asyncpg://u:@/d?host=/tmp/s"
    assert to_libpq_url("postgresql+asyncpg://u@h/d") == "postgresql://u@h/d"
    assert with_database("postgresql://u@/postgres?host=/s", "kefu") == "postgresql://u@/kefu?host=/s"
    with pytest.raises(ValueError):
        to_async_url("mysql://u@h/d")


def test_request_ids_from_callers_are_kept_only_when_harmless() -> None:
    assert sanitize_request_id("abc-123:x.y_z") == "abc-123:x.y_z"
    for bad in (None, "", "a b", "x" * 129, "inj\nected"):
        minted = sanitize_request_id(bad)
        assert minted != bad and len(minted) == 32


def test_proto_enums_round_trip_through_lower_case_names() -> None:
    assert enum_to_str(types_pb2.Severity, types_pb2.SEVERITY_CRITICAL) == "critical"
    assert enum_to_str(types_pb2.Severity, types_pb2.SEVERITY_UNSPECIFIED) is None
    assert enum_to_str(types_pb2.Severity, 99) is None
    assert str_to_enum(types_pb2.CustomerTier, "vip") == types_pb2.CUSTOMER_TIER_VIP
    assert "regulator" in enum_choices(types_pb2.Channel)
    assert "unspecified" not in enum_choices(types_pb2.Channel)


def test_escalation_levels_keep_the_domain_spelling() -> None:
    from kefu_common.protoconv import level_to_str

    assert level_to_str(types_pb2.ESCALATION_LEVEL_L3) == "L3"
    assert level_to_str(types_pb2.ESCALATION_LEVEL_UNSPECIFIED) == ""


def _all_settings_classes():
    from kefu_escalation.settings import EscalationSettings
    from kefu_scoring.settings import ScoringSettings

    return [TicketingSettings, GatewaySettings, EscalationSettings, ScoringSettings]


def test_settings_errors_never_echo_the_input_of_any_service(monkeypatch) -> None:
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "short-but-secret-TAIL42")  # < 32 chars: refused
    with pytest.raises(ValidationError) as raised:
        GatewaySettings()
    assert "TAIL42" not in str(raised.value)
    for cls in _all_settings_classes():
        assert cls.model_config.get("hide_input_in_errors") is True, cls.__name__
        monkeypatch.setenv("KEFU_ENV", "password-PW99")
        with pytest.raises(ValidationError) as raised:
            cls()
        assert "PW99" not in str(raised.value), cls.__name__
        monkeypatch.delenv("KEFU_ENV")


def test_every_secret_setting_is_a_secret_and_never_printed(monkeypatch) -> None:
    from kefu_escalation.settings import EscalationSettings

    monkeypatch.setenv("DATABASE_URL", "postgresql://kefu:db-PASSWORD-7@db:5432/kefu")
    monkeypatch.setenv("GATEWAY_JWT_SECRET", "j" * 40 + "JWT-TAIL")
    monkeypatch.setenv("ESCALATION_NOTIFY_WEBHOOK_URL", "https://hooks.example.com/kefu")
    monkeypatch.setenv("ESCALATION_NOTIFY_WEBHOOK_SECRET", "whsec_" + "w" * 20 + "HOOK-TAIL")
    gateway, escalation = GatewaySettings(), EscalationSettings()
    printed = repr(gateway) + str(gateway) + repr(escalation) + str(escalation)
    printed += str(gateway.model_dump()) + str(escalation.model_dump())
    for secret in ("db-PASSWORD-7", "JWT-TAIL", "HOOK-TAIL"):
        assert secret not in printed
    assert gateway.jwt_secret.get_secret_value().endswith("JWT-TAIL")
    assert escalation.notify_webhook_secret.get_secret_value().endswith("HOOK-TAIL")
    assert gateway.database_url.get_secret_value() == "postgresql://kefu:db-PASSWORD-7@db:5432/kefu"
