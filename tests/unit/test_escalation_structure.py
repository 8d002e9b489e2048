"""Structure of the escalation service (issue #15, "escalation by concept"): checkable rules."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kefu.escalation.v1 import escalation_pb2
from kefu.ticketing.v1 import ticketing_pb2
from kefu_escalation import triggers
from kefu_escalation.escalations import TriggerSettings
from kefu_escalation.triggers import Occasion, Proposal

ROOT = Path(__file__).resolve().parents[2]
TRIGGERS_DIR = ROOT / "services/escalation/kefu_escalation/triggers"
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
    path = re.match(r"# services/escalation/kefu_escalation/triggers/(\w+)\.py\n", module)
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
    source = (ROOT / "services/escalation/kefu_escalation/escalations.py").read_text()
    names = "|".join(triggers._MODULES)
    assert not re.findall(rf'trigger="({names})"', source)
