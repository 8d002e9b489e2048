"""Structure of the escalation service (issue #15, "escalation by concept"): checkable rules."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kefu.escalation.v1 import escalation_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_escalation.escalations import triggers
from kefu_escalation.escalations.escalator import TriggerSettings
from kefu_escalation.escalations.triggers import Occasion, Proposal

ROOT = Path(__file__).resolve().parents[2]
TRIGGERS_DIR = ROOT / "services/escalation/kefu_escalation/escalations/triggers"
DOCS = ROOT / "docs/escalation.md"


def test_every_escalation_trigger_enum_value_has_exactly_one_registered_module() -> None:
    values = [v for n, v in escalation_pb2.EscalationTrigger.items() if not n.endswith("_UNSPECIFIED")]
    registered = [t.enum for t in triggers.REGISTRY]
    assert sorted(registered) == sorted(values)
    assert len(set(registered)) == len(registered)


def test_every_module_of_the_triggers_package_is_in_the_registry_once_and_named_by_its_trigger() -> None:
    modules = sorted(p.stem for p in TRIGGERS_DIR.glob("*.py") if p.stem not in ("__init__", "base"))
    assert sorted(triggers._MODULES) == modules
    assert len(set(triggers._MODULES)) == len(triggers._MODULES)
    assert [t.name for t in triggers.REGISTRY] == list(triggers._MODULES)


def _adding_a_trigger_section() -> str:
    text = DOCS.read_text()
    match = re.search(r"^### Adding a trigger\n(.*?)(?=^##)", text, re.S | re.M)
    assert match, "docs/escalation.md has no 'Adding a trigger' section"
    return match.group(1)


def test_docs_show_a_new_trigger_as_one_module_plus_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    section = _adding_a_trigger_section()
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    assert [lang for lang, _ in blocks] == ["python", "diff"]
    module, registry = blocks[0][1], blocks[1][1]
    path = re.match(r"# services/escalation/kefu_escalation/escalations/triggers/(\w+)\.py\n", module)
    assert path, "the example module names its file in triggers/"
    added = [line for line in registry.splitlines() if line.startswith("+")]
    removed = [line for line in registry.splitlines() if line.startswith("-")]
    assert added == [f'+    "{path.group(1)}",'] and removed == []
    # The example is real code against the package's API: it runs and proposes what it says.
    monkeypatch.setattr(escalation_pb2, "ESCALATION_TRIGGER_REPEAT_CALLER", 10, raising=False)
    namespace: dict[str, object] = {}
    exec(compile(module, path.group(0), "exec"), namespace)  # noqa: S102 - our own docs
    trigger = namespace["TRIGGER"]
    assert isinstance(trigger, triggers.Trigger) and trigger.reacts_to == {"contact_logged"}
    event = ticketing_pb2.Event(contact_logged=ticketing_pb2.ContactLogged(
        direction=ticketing_pb2.CONTACT_DIRECTION_INBOUND))
    occasion = Occasion(uuid.uuid4(), event, "contact_logged", datetime(2026, 1, 5, tzinfo=UTC), 1,
                        TriggerSettings(), {"inbound_contacts": 5})
    assert trigger.propose(occasion) == Proposal(1, "repeat_caller", "5 customer-initiated contacts",
                                                 "repeat-caller", to_level="L2")
    fewer = Occasion(*[getattr(occasion, f) for f in ("ticket_id", "event", "change", "at", "cycle", "settings")],
                     {"inbound_contacts": 4})
    assert trigger.propose(fewer) is None


def test_the_escalator_names_no_trigger_by_a_literal_outside_the_triggers_package() -> None:
    source = (ROOT / "services/escalation/kefu_escalation/escalations/escalator.py").read_text()
    names = "|".join(triggers._MODULES)
    assert not re.findall(rf'trigger="({names})"', source)


# ------------------------------------------------------------------------------ one writer per table

PACKAGE = ROOT / "services/escalation/kefu_escalation"
_SQL_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+escalation\.(\w+)", re.I)
_ORM_WRITE = re.compile(r"\bsession\.(?:add|add_all|delete|merge)\(")
_CORE_WRITE = re.compile(r"\b(?:insert|update|delete)\((\w+)\)")
_MODEL_IMPORT = re.compile(r"from kefu_escalation\.models import (\([^)]*\)|[^\n]*)")


def _model_tables() -> dict[str, str]:
    from kefu_escalation import models
    return {name: obj.__tablename__ for name, obj in vars(models).items()
            if isinstance(obj, type) and hasattr(obj, "__tablename__") and obj.__module__ == models.__name__}


def writers(sources: dict[str, str], model_tables: dict[str, str]) -> dict[str, set[str]]:
    """Table -> the modules that write it: raw SQL INSERT/UPDATE/DELETE on ``escalation.<table>``,
    SQLAlchemy core insert/update/delete of a model, and ORM session writes (attributed to the
    models the module imports)."""
    out: dict[str, set[str]] = {}
    for module, source in sources.items():
        tables = set(_SQL_WRITE.findall(source))
        tables |= {model_tables[m] for m in _CORE_WRITE.findall(source) if m in model_tables}
        if _ORM_WRITE.search(source):
            imported = {n.strip(" ()\n") for m in _MODEL_IMPORT.findall(source) for n in m.split(",")}
            tables |= {model_tables[n] for n in imported if n in model_tables}
        for table in tables:
            out.setdefault(table, set()).add(module)
    return out


def _package_sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text() for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def test_the_writer_scan_sees_raw_sql_core_and_orm_writes_and_two_writers_of_one_table() -> None:
    sources = {
        "a.py": 'x = "UPDATE escalation.clock_ticket SET level = 1"',
        "b.py": 'y = "INSERT INTO escalation.clock_ticket (ticket_id) VALUES (1)"\nstmt = delete(SlaPolicy)',
        "c.py": "from kefu_escalation.models import Calendar\nsession.add(row)",
        "d.py": 'z = "SELECT 1 FROM escalation.clock_ticket FOR UPDATE SKIP LOCKED"',
    }
    found = writers(sources, {"SlaPolicy": "sla_policy", "Calendar": "calendar"})
    assert found == {"clock_ticket": {"a.py", "b.py"}, "sla_policy": {"b.py"}, "calendar": {"c.py"}}


def test_each_escalation_table_is_written_by_exactly_one_module() -> None:
    found = writers(_package_sources(), _model_tables())
    assert {t: sorted(m) for t, m in found.items() if len(m) != 1} == {}
    owners = {t: next(iter(m)) for t, m in found.items()}
    assert owners["clock_ticket"] == "clocks/store.py"
    assert owners["consumer_cursor"] == "cursors.py"
    assert owners["notification"] == "notifications.py"
    assert owners["escalation"] == "escalations/store.py"
    assert owners["risk_signal"] == "escalations/escalator.py"
    assert set(owners) >= {"ticket_event", "clock_event", "sla_policy", "matrix_version", "matrix_entry", "calendar"}


def test_the_escalation_models_are_only_of_tables_written_through_the_orm() -> None:
    """Dead models (tables written by raw SQL, the model never used) are gone."""
    assert set(_model_tables().values()) == {"sla_policy", "matrix_version", "matrix_entry", "calendar"}
