"""Escalations: the `escalator` (levels, the escalation rows, acknowledgements, signals and the
notifications they queue) and one module per trigger with a registry (`triggers`)."""
