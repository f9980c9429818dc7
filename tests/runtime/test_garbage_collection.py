"""The collector tuning the service applies while it runs, and undoes when it stops."""

from __future__ import annotations

import gc

import pytest

from omnigraph.runtime import garbage_collection
from omnigraph.runtime.garbage_collection import tuned_collector


@pytest.fixture(autouse=True)
def no_app_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a process of its own: apps other tests left running do not count here."""
    monkeypatch.setattr(garbage_collection, "_active", 0)
    monkeypatch.setattr(garbage_collection, "_tuning", None)


def test_the_young_threshold_is_raised_and_start_up_frozen_while_it_runs() -> None:
    gc.unfreeze()  # as in a fresh process
    before = gc.get_threshold()
    with tuned_collector(50_000):
        assert gc.get_threshold() == (50_000, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_freeze_someone_else_holds_is_left_to_them() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with tuned_collector(50_000):
            assert gc.get_threshold()[0] == 50_000
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_overlapping_apps_share_one_tuning_undone_by_the_last() -> None:
    before = gc.get_threshold()
    first = tuned_collector(50_000)
    second = tuned_collector(20_000)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == 50_000  # the second app still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


def test_zero_leaves_the_collector_alone() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with tuned_collector(0):
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == frozen
