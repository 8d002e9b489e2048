"""What a permitted caller may see (DOMAIN.md §5), next to `auth.PERMISSIONS` (what they may do).

* Staff see every ticket, unmasked.
* A partner sees only tickets created with its own credentials (`created_by = partner:<id>`).
* A customer sees only tickets whose customer id is the token subject.
* Neither sees unmasked personal data nor internal entries. Another caller's ticket is
  answered exactly like a missing one (404 `ticket_not_found`), so ids are never confirmed.
* Personal data written in free text (subject, description, progress text and next step,
  status reasons, webhook `changes`) is masked with `kefu_common.pii` (`free_text_mask`):
  resident IDs and bank cards for customers and partners, phones and e-mails for partners
  too. The owner's direct line is a field of its own and is shown as is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Path

from kefu.ticketing.v1 import ticketing_pb2
from kefu_common.errors import NotFound, PermissionDenied
from kefu_common.pii import BANK_CARD, CN_ID, EMAIL, PHONE, mask
from kefu_gateway.auth import Principal, current_principal, has_permission
from kefu_gateway.clients import ClientsDep
from kefu_gateway.convert import ticket_public
from kefu_gateway.schemas import (
    CaseProgress,
    CasePublic,
    ProgressTimelineEntry,
    StatusChangedTimelineEntry,
    TicketPublic,
    TimelinePublic,
)

TicketId = Annotated[str, Path(min_length=1, max_length=64, description="The ticket's id")]


def list_filter(principal: Principal) -> dict[str, str]:
    """ListTicketsRequest fields that confine a listing to what this caller may see; they
    override whatever the caller asked for."""
    if principal.is_staff:
        return {}
    if principal.role == "partner":
        return {"created_by": principal.actor}
    if principal.role == "customer":
        return {"customer_id": principal.subject}
    raise PermissionDenied("this caller may not list tickets", code="staff_only")


def can_see(principal: Principal, ticket: ticketing_pb2.Ticket) -> bool:
    if principal.is_staff:
        return True
    wanted = list_filter(principal)
    return all(
        (ticket.customer.id if field == "customer_id" else ticket.created_by) == value
        for field, value in wanted.items()
    )


def not_found(ticket_id: str) -> NotFound:
    # Same message and code as the ticketing service's own "no such ticket".
    return NotFound(f"ticket {ticket_id} not found", code="ticket_not_found")


async def accessible_ticket_id(
    principal: Annotated[Principal, Depends(current_principal)],
    ticket_id: TicketId,
    clients: ClientsDep,
) -> str:
    """The path's ticket id, once it is known to be one this caller may see. Staff need no
    extra read; others cost one GetTicket."""
    if not principal.is_staff:
        ticket = await clients.ticketing.GetTicket(
            ticketing_pb2.GetTicketRequest(id=ticket_id), timeout=clients.timeout
        )
        if not can_see(principal, ticket):
            raise not_found(ticket_id)
    return ticket_id


AccessibleTicketId = Annotated[str, Depends(accessible_ticket_id)]


def mask_phone(value: str) -> str:
    """`+86 138 0013 8000` -> `*********8000`: enough to recognise, not enough to dial."""
    digits = [c for c in value if c.isdigit()]
    return "" if not value else "*" * max(len(digits) - 4, 3) + "".join(digits[-4:])


def mask_email(value: str) -> str:
    """`wang.li@example.com` -> `w***@example.com`."""
    local, at, domain = value.partition("@")
    if not value:
        return ""
    return f"{local[:1]}***{at}{domain}" if at else "***"


# Kinds of personal data masked in free text, per audience (docs/decisions.md "PII in free
# text"): a customer reads back their own phone and e-mail, never a full ID or card number.
CUSTOMER_MASKED = frozenset({CN_ID, BANK_CARD})
PARTNER_MASKED = frozenset({CN_ID, BANK_CARD, PHONE, EMAIL})

TextMask = Callable[[str], str]


def _masker(kinds: frozenset[str]) -> TextMask:
    return lambda text: mask(text, kinds) if text else text


_MASK_FOR = {"customer": _masker(CUSTOMER_MASKED), "partner": _masker(PARTNER_MASKED)}


def free_text_mask(principal: Principal) -> TextMask | None:
    """How this caller's free text is masked; None for staff (they see what was written)."""
    if has_permission(principal, "tickets:internal"):
        return None
    return _MASK_FOR.get(principal.role, _MASK_FOR["partner"])  # unknown: the strictest


def ticket_view(principal: Principal, ticket: ticketing_pb2.Ticket) -> TicketPublic:
    """The ticket as this caller may see it. Without `tickets:internal` (partners): personal
    data masked, and the staff-only fields null — the customer's risk flag (`sensitive`), who
    owns the ticket (`owner`) and the internal escalation classification (`sla`: level, policy,
    matrix tier, which would name the risk flag again)."""
    public = ticket_public(ticket)
    if has_permission(principal, "tickets:internal"):
        return public
    customer = public.customer.model_copy(
        update={"phone": mask_phone(public.customer.phone), "email": mask_email(public.customer.email),
                "sensitive": None}
    )
    hide = free_text_mask(principal) or _MASK_FOR["partner"]
    return public.model_copy(update={"customer": customer, "owner": None, "sla": None,
                                     "subject": hide(public.subject), "description": hide(public.description)})


def timeline_view(principal: Principal, ticket: ticketing_pb2.Ticket, timeline: TimelinePublic) -> TimelinePublic:
    """The timeline as this caller may see it: the ticket through `ticket_view`, free text of
    its entries masked (progress text and next step, status reasons; the direct line kept)."""
    view = timeline.model_copy(update={"ticket": ticket_view(principal, ticket)})
    hide = free_text_mask(principal)
    if hide is None:
        return view
    entries = []
    for entry in view.entries:
        if isinstance(entry, ProgressTimelineEntry):
            p = entry.progress
            entry = entry.model_copy(
                update={"progress": p.model_copy(update={"text": hide(p.text), "next_step": hide(p.next_step)})}
            )
        elif isinstance(entry, StatusChangedTimelineEntry):
            c = entry.status_change
            entry = entry.model_copy(update={"status_change": c.model_copy(update={"reason": hide(c.reason)})})
        entries.append(entry)
    return view.model_copy(update={"entries": entries})


def case_view(case: CasePublic) -> CasePublic:
    """A case as its customer sees it: IDs and cards in the subject masked."""
    return case.model_copy(update={"subject": _MASK_FOR["customer"](case.subject)})


def case_progress_view(progress: CaseProgress) -> CaseProgress:
    """The customer's progress page: IDs and cards masked in the subject and in each entry's
    text and next step; the owner's direct line as is."""
    hide = _MASK_FOR["customer"]
    entries = [
        e.model_copy(update={"text": hide(e.text), "next_step": hide(e.next_step)}) if e.kind == "progress" else e
        for e in progress.entries
    ]
    return progress.model_copy(update={"case": case_view(progress.case), "entries": entries})


# What a partner's webhook may carry of each event's payload (an allow-list, like the
# customer's case view: a field added to an event later stays inside until it is added here).
# Left inside: the risk flag, team, assignee and the SLA classification (as in `ticket_view`),
# and who did something and why (staff ids, internal reasons; customer-visible words reach
# partners as progress entries).
PARTNER_EVENT_FIELDS: dict[str, frozenset[str]] = {
    "ticket.created": frozenset({"customer_id", "customer_tier", "channel", "severity", "category",
                                 "first_contact_at"}),
    "ticket.updated": frozenset({"changes"}),
    "ticket.assigned": frozenset(),  # that someone took the case, not who, which team or why
    "ticket.status_changed": frozenset({"action", "from_status", "to_status", "reopen_count"}),
    "ticket.progress_added": frozenset({"progress_id", "promised_at"}),
}


# Free-text fields of `changes` (ticket.updated), masked like the partner's REST view.
_FREE_TEXT_CHANGES = frozenset({"subject", "description"})


def partner_event_data(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The part of an event's payload a partner's webhook carries (nothing of unknown types),
    with personal data in free text masked."""
    allowed = PARTNER_EVENT_FIELDS.get(event_type, frozenset())
    data = {field: value for field, value in payload.items() if field in allowed}
    changes = data.get("changes")
    if isinstance(changes, dict):
        hide = _MASK_FOR["partner"]
        data["changes"] = {
            k: hide(v) if k in _FREE_TEXT_CHANGES and isinstance(v, str) else v for k, v in changes.items()
        }
    return data
