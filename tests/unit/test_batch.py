"""A batch job collects garbage less often, and only while it runs."""

from __future__ import annotations

import gc

from omnigraph.batch import BATCH_THRESHOLD, batch_collection


def test_thresholds_are_raised_inside_the_job_and_restored_after() -> None:
    before = gc.get_threshold()
    with batch_collection():
        assert gc.get_threshold() == BATCH_THRESHOLD
        assert gc.get_freeze_count() > 0  # what was loaded before is not scanned again
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
