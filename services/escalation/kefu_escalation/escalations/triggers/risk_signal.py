"""``risk_signal``: `RaiseSignal` (scoring); regulator/media/legal straight to L3, other kinds
+1; key ``risk_signal:<kind>``, and once per conversation (the signal rules in escalations/escalator.py)."""

from __future__ import annotations

from kefu.escalation.v1 import escalation_pb2
from kefu_escalation.escalations.triggers.base import Proposal, Trigger

CRISIS_SIGNALS = frozenset({"regulator", "media", "legal"})


def proposal(cycle: int, kind: str, source: str, detail: str) -> Proposal:
    return Proposal(cycle, f"risk_signal:{kind}", f"{kind} signal from {source or 'unknown'}: {detail}"[:1000],
                    source or "signal", to_level="L3" if kind in CRISIS_SIGNALS else None)


TRIGGER = Trigger(escalation_pb2.ESCALATION_TRIGGER_RISK_SIGNAL, "RaiseSignal")
