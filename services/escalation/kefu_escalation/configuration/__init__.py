"""Configuration: business calendars (`calendars`, `cn_holidays`), policies, the matrix and
ResolveSla (`service`), the published matrix answered from memory (`published_sla`) and the
re-resolution of a reclassified ticket (`reclassify`)."""
