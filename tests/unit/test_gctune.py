"""The services' garbage-collector settings (kefu_common.gctune)."""

from __future__ import annotations

import gc

from kefu_common.gctune import GEN0_THRESHOLD, tune_gc


def test_tune_gc_freezes_startup_objects_and_raises_the_young_generation_threshold() -> None:
    before = gc.get_threshold()
    try:
        gc.unfreeze()
        tune_gc()
        assert gc.get_freeze_count() > 0  # start-up objects are never walked again
        assert gc.get_threshold()[0] == GEN0_THRESHOLD > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
