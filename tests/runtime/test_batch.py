"""A batch job collects garbage less often, and only while it runs."""

from __future__ import annotations

import gc

from omnigraph.runtime.batch import BATCH_THRESHOLD, batch_collection


def test_thresholds_are_raised_inside_the_job_and_restored_after() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with batch_collection():
        assert gc.get_threshold() == BATCH_THRESHOLD
        assert gc.get_freeze_count() > 0  # what was loaded before is not scanned again
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_a_freeze_held_by_someone_else_is_left_to_them() -> None:
    held = gc.get_freeze_count() > 0  # a service another test started may hold one already
    if not held:
        gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with batch_collection():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        if not held:
            gc.unfreeze()
