"""Escalation: the tier x severity matrix, SLA policies and (issue #4) durable SLA clocks."""
