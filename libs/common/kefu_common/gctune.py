"""Garbage-collector settings for long-running services: one call, once the process is built.

CPython's cyclic collector stops the whole process while it walks the objects of the
generation it collects; in a service with a large, long-lived object graph (modules, compiled
protobuf descriptors, SQLAlchemy metadata, caches) the older-generation walks show up as
latency spikes of tens of milliseconds. `tune_gc` moves everything alive at start-up into the
permanent generation (`gc.freeze`, never walked again) and lets the young generation grow larger
before a collection, so collections are rarer and walk only what the service allocated since.
Measured on the SLA timer (bench/sla_timer_bench.py, 2,000 due/s): p99 lag ~105 ms -> ~40-45 ms.
Memory cost: up to `gen0` more young objects between collections (a few MB).
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000  # CPython's default is 700 (2,000 from 3.13)
GEN1_THRESHOLD = 50
GEN2_THRESHOLD = 100


def tune_gc() -> None:
    """Collect once, freeze what survives, raise the thresholds. Call after start-up work."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
