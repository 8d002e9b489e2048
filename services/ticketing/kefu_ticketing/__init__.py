"""Ticketing: tickets from every channel, contacts, progress, reopen, events, metrics."""
