"""The report's figures for promises and planted disagreements, and the thresholds that hold
them, from measurements given by hand."""

from __future__ import annotations

from omnigraph.rehearsal.measure import Figures, report
from omnigraph.rehearsal.scenario import Phase, Scenario, Thresholds


def scenario(**limits: float) -> Scenario:
    return Scenario(
        name="by-hand",
        phases=[Phase(name="one", seconds=10), Phase(name="two", seconds=10)],
        thresholds=Thresholds(**limits),  # type: ignore[arg-type]
    )


def figures() -> Figures:
    measured = Figures(started=0.0)
    measured.phase_started("one", 0.0)
    measured.phase_started("two", 10.0)
    for phase, made, kept in (("one", 4, 4), ("two", 5, 3)):
        measured.count(phase, "promises made", made)
        measured.count(phase, "promises kept", kept)
    measured.count("two", "promises broken", 2)
    measured.count("two", "promises broken INSUFFICIENT_AVAILABILITY", 2)
    measured.count("one", "promises lapsed")
    measured.count("one", "disagreements planted", 3)
    measured.count("two", "disagreements planted", 1)
    measured.count("two", "disagreements undetected", 1)
    for ms in (4000.0, 6000.0, 5000.0):
        measured.detected("one", ms)
    measured.finished = 20.0
    return measured


def test_promises_and_disagreements_are_reported_per_phase_and_overall() -> None:
    body = report(scenario(), figures())
    one, two = body["phases"]
    assert one["promises"] == {
        "made": 4,
        "kept": 4,
        "broken": 0,
        "brokenCodes": {},
        "failed": 0,
        "lapsed": 1,
        "notMade": 0,
    }
    assert two["promises"]["broken"] == 2
    assert two["promises"]["brokenCodes"] == {"INSUFFICIENT_AVAILABILITY": 2}
    assert body["overall"]["promises"]["made"] == 9
    assert body["overall"]["promises"]["broken"] == 2
    assert one["disagreementToException"] == {
        "planted": 3,
        "raised": 3,
        "undetected": 0,
        "p50Ms": 5000.0,
        "p99Ms": 6000.0,
    }
    assert body["overall"]["disagreementToException"] == {
        "planted": 4,
        "raised": 3,
        "undetected": 1,
        "p50Ms": 5000.0,
        "p99Ms": 6000.0,
    }


def test_broken_promises_slow_or_missed_exceptions_fail_their_thresholds() -> None:
    body = report(
        scenario(
            broken_promises=0, disagreement_to_exception_p99_ms=5500, undetected_disagreements=0
        ),
        figures(),
    )
    verdicts = {v["name"]: (v["value"], v["passed"]) for v in body["thresholds"]}
    assert verdicts["broken_promises"] == (2, False)
    assert verdicts["disagreement_to_exception_p99_ms"] == (6000.0, False)
    assert verdicts["undetected_disagreements"] == (1, False)
    assert not body["passed"]
    held = report(
        scenario(
            broken_promises=2, disagreement_to_exception_p99_ms=6000, undetected_disagreements=1
        ),
        figures(),
    )
    assert held["passed"], held["thresholds"]
