"""Levels and the parties they go to (DOMAIN.md §2, §5): ``L0 < L1 < L2 < L3``; L1 the senior
specialist, L2 the team lead, L3 the crisis team. Who may acknowledge, and who is told at once."""

from __future__ import annotations

__all__ = [
    "ACK_ANY_ROLE",
    "LEVELS",
    "NOT_ESCALATED_PARTY",
    "PARTIES",
    "ROLE_LEVELS",
    "is_higher",
    "may_acknowledge",
    "notified_at_once",
    "raise_level",
]

LEVELS = ("L0", "L1", "L2", "L3")
PARTIES = {"L0": "agent", "L1": "senior_specialist", "L2": "team_lead", "L3": "crisis_team"}
# Who may acknowledge (DOMAIN.md §5): the party escalated to — its level's role or above — or an
# admin. The level each staff role holds (the gateway's roles): a specialist is the senior
# specialist (L1), a lead the team lead (L2); no role but admin speaks for the crisis team (L3).
ROLE_LEVELS = {"agent": "L0", "specialist": "L1", "lead": "L2"}
ACK_ANY_ROLE = "admin"
NOT_ESCALATED_PARTY = "not_escalated_party"  # the error code of an acknowledgement by another party


def raise_level(level: str, steps: int = 1) -> str:
    """`steps` levels above `level`, at most L3."""
    return LEVELS[min(len(LEVELS) - 1, LEVELS.index(level) + steps)]


def is_higher(a: str, b: str) -> bool:
    return LEVELS.index(a) > LEVELS.index(b)


def notified_at_once(level: str) -> bool:
    """The crisis team (L3) is told at once; the parties below L3 in the staff's working hours."""
    return level == "L3"


def may_acknowledge(role: str, level: str) -> bool:
    """Whether a staff `role` may acknowledge an escalation to `level` (see ROLE_LEVELS)."""
    if role == ACK_ANY_ROLE:
        return True
    held = ROLE_LEVELS.get(role)
    return held is not None and LEVELS.index(held) >= LEVELS.index(level)
