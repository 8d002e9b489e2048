"""Text search over tickets for staff (issue #13): which tickets a query's words occur in.

Searched: the subject, the description, customer-visible progress entries and the customer's
own words (inbound contact summaries) — what the customer and the agent said about the
problem. Internal notes are not searched. Matching is a case-insensitive substring (so Chinese
written without spaces matches any part of a sentence), every whitespace-separated word must
occur somewhere in the ticket, and `%`, `_` and `\\` are plain characters. Trigram indexes
(migration 0006) serve words of three characters or more.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select, union
from sqlmodel import col

from kefu_common.errors import InvalidArgument
from kefu_ticketing.models import Contact, ProgressEntry, Ticket

MAX_QUERY_CHARS = 100
MAX_WORDS = 5


def words(text: str) -> list[str]:
    found = text.split()
    if len(text) > MAX_QUERY_CHARS or len(found) > MAX_WORDS:
        raise InvalidArgument(
            f"a text search has at most {MAX_QUERY_CHARS} characters and {MAX_WORDS} words",
            code="invalid_search",
        )
    return found


def _pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _occurs(word: str) -> Any:
    """Tickets the word occurs in, as `id IN (a union of four index scans)`: each branch is served
    by its own trigram index, where an OR of correlated EXISTS would scan every ticket."""
    pattern = _pattern(word)
    where_ticket = select(Ticket.id).where(or_(
        col(Ticket.subject).ilike(pattern, escape="\\"),
        col(Ticket.description).ilike(pattern, escape="\\"),
    ))
    in_progress = select(ProgressEntry.ticket_id).where(col(ProgressEntry.text).ilike(pattern, escape="\\"))
    in_contacts = select(Contact.ticket_id).where(
        col(Contact.direction) == "inbound", col(Contact.summary).ilike(pattern, escape="\\")
    )
    return col(Ticket.id).in_(union(where_ticket, in_progress, in_contacts))


def matching(text: str) -> Any:
    """The WHERE condition of tickets in which every word of `text` occurs (None: no words)."""
    found = words(text)
    return and_(*(_occurs(w) for w in found)) if found else None
