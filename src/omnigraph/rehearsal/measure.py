"""What a rehearsal measures, per phase and overall, and the report it makes of it.

>>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50)
3.0
>>> percentile([], 99) is None
True
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from omnigraph.rehearsal.scenario import Scenario

__all__ = ["Figures", "Sample", "latency", "percentile", "report", "verdicts"]


def percentile(values: list[float], rank: float) -> float | None:
    """The nearest-rank percentile of ``values``, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    index = max(0, math.ceil(rank / 100 * len(ordered)) - 1)
    return round(ordered[index], 1)


def latency(ms: list[float]) -> dict[str, float | None]:
    """The median and the 99th percentile of ``ms``, as every latency in the report states it.

    >>> latency([30.0, 10.0, 20.0])
    {'p50Ms': 20.0, 'p99Ms': 30.0}
    """
    return {"p50Ms": percentile(ms, 50), "p99Ms": percentile(ms, 99)}


@dataclass(frozen=True, slots=True)
class Sample:
    phase: str
    operation: str
    ms: float
    error: bool
    stale_ages: list[float]
    code: str | None = None  # the first error's extensions.code


@dataclass
class Figures:
    """Every measurement of one run, as it accumulates."""

    started: float
    finished: float | None = None
    samples: list[Sample] = field(default_factory=list)
    counts: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reflections: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # ms from a disagreement planted in a source to its exception, by the phase it was planted in
    detections: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    phases: dict[str, float] = field(default_factory=dict)
    scarce: dict[str, int] = field(default_factory=dict)
    raced: set[str] = field(default_factory=set)
    oversells: dict[str, dict[str, int]] = field(default_factory=dict)
    commands: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    timeline: list[dict[str, Any]] = field(default_factory=list)
    drain: dict[str, Any] = field(default_factory=dict)
    _seen: int = 0

    def graphql(self, sample: Sample) -> None:
        self.samples.append(sample)

    def count(self, phase: str, what: str, by: int = 1) -> None:
        self.counts[phase][what] += by

    def reflected(self, phase: str, ms: float) -> None:
        self.reflections[phase].append(ms)

    def detected(self, phase: str, ms: float) -> None:
        self.detections[phase].append(ms)

    def phase_started(self, name: str, at: float) -> None:
        self.phases[name] = round(at - self.started, 1)

    def drained(self, seconds: float, left: int) -> None:
        self.drain = {"seconds": seconds, "resolutionsLeft": left}

    def tick(
        self, phase: str, at: float, probes_waiting: int, backlog: int = 0, planted: int = 0
    ) -> None:
        """One point of the charts: the requests since the last point, their p99 and errors."""
        window = self.samples[self._seen :]
        self._seen = len(self.samples)
        self.timeline.append(
            {
                "second": round(at - self.started, 1),
                "phase": phase,
                "requests": len(window),
                "p99Ms": percentile([s.ms for s in window], 99),
                "errors": sum(1 for s in window if s.error),
                "stale": sum(1 for s in window if s.stale_ages),
                "movementsWaiting": probes_waiting,
                "resolutionsPending": backlog,
                "disagreementsWaiting": planted,
            }
        )

    def oversold(self, sku: str, reserved: int, allowed: int) -> None:
        self.oversells[sku] = {
            "reserved": reserved,
            "allowed": allowed,
            "oversold": max(0, reserved - allowed),
        }

    def command(self, kind: str, entry: dict[str, Any]) -> None:
        tally = self.commands[kind]
        tally["commands"] += 1
        tally["deliveries"] += int(entry.get("deliveries") or 0)
        tally["retried"] += 1 if int(entry.get("deliveries") or 0) > 1 else 0
        tally["appliedTwice"] += 1 if int(entry.get("applications") or 0) > 1 else 0
        tally[str(entry.get("status"))] += 1


def _graphql(samples: list[Sample]) -> dict[str, Any]:
    by_operation: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_operation[sample.operation].append(sample)
    ages = [age for s in samples for age in s.stale_ages]
    return {
        "requests": len(samples),
        "errors": sum(1 for s in samples if s.error),
        **latency([s.ms for s in samples]),
        "staleAnswers": sum(1 for s in samples if s.stale_ages),
        "staleAgeMaxSeconds": max(ages) if ages else None,
        "operations": {
            name: {
                "requests": len(group),
                "errors": sum(1 for s in group if s.error),
                "errorCodes": dict(Counter(s.code for s in group if s.code).most_common()),
                **latency([s.ms for s in group]),
            }
            for name, group in sorted(by_operation.items())
        },
    }


def _movements(reflections: list[float], counts: Counter[str]) -> dict[str, Any]:
    return {
        "moved": counts["movements"],
        "reflected": len(reflections),
        "unreflected": counts["movements unreflected"],
        **latency(reflections),
    }


def _promises(counts: Counter[str]) -> dict[str, Any]:
    prefix = "promises broken "
    return {
        "made": counts["promises made"],
        "kept": counts["promises kept"],
        "broken": counts["promises broken"],
        "brokenCodes": {
            what.removeprefix(prefix): n
            for what, n in sorted(counts.items())
            if what.startswith(prefix)
        },
        "failed": counts["promises failed"],
        "lapsed": counts["promises lapsed"],
        "notMade": counts["promises not made"],
    }


def _detections(detections: list[float], counts: Counter[str]) -> dict[str, Any]:
    return {
        "planted": counts["disagreements planted"],
        "raised": len(detections),
        "undetected": counts["disagreements undetected"],
        **latency(detections),
    }


def report(scenario: Scenario, figures: Figures) -> dict[str, Any]:
    """The run as a JSON-able report: per phase and overall, with each threshold's verdict."""
    phases = []
    total: Counter[str] = Counter()
    for name in [*figures.phases, "drain"]:
        counts = figures.counts.get(name, Counter())
        total.update(counts)
        samples = [s for s in figures.samples if s.phase == name]
        if (
            name == "drain"
            and not samples
            and not counts
            and not figures.reflections.get(name)
            and not figures.detections.get(name)
        ):
            continue
        phases.append(
            {
                "name": name,
                "startedAtSecond": figures.phases.get(name),
                "graphql": _graphql(samples),
                "movementToAvailability": _movements(figures.reflections.get(name, []), counts),
                "promises": _promises(counts),
                "disagreementToException": _detections(figures.detections.get(name, []), counts),
                "counts": dict(sorted(counts.items())),
            }
        )
    reflections = [ms for group in figures.reflections.values() for ms in group]
    detections = [ms for group in figures.detections.values() for ms in group]
    commands = {kind: dict(sorted(tally.items())) for kind, tally in figures.commands.items()}
    overall = {
        "oversells": sum(row["oversold"] for row in figures.oversells.values()),
        "doubleApplications": sum(t["appliedTwice"] for t in figures.commands.values()),
        "graphql": _graphql(figures.samples),
        "movementToAvailability": _movements(reflections, total),
        "promises": _promises(total),
        "disagreementToException": _detections(detections, total),
        "counts": dict(sorted(total.items())),
        "commands": commands,
        "races": figures.oversells,
        "drain": figures.drain,
        "resolutionBacklogMax": max((p["resolutionsPending"] for p in figures.timeline), default=0),
    }
    seconds = (figures.finished or figures.started) - figures.started
    body: dict[str, Any] = {
        "scenario": scenario.name,
        "description": scenario.description,
        "seconds": round(seconds, 1),
        "overall": overall,
        "phases": phases,
        "timeline": figures.timeline,
    }
    body["thresholds"] = verdicts(scenario, body)
    body["passed"] = all(v["passed"] for v in body["thresholds"])
    return body


def verdicts(scenario: Scenario, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Each threshold the scenario sets, the figure it is held against, and whether it held."""
    overall = body["overall"]
    graphql = overall["graphql"]
    requests = graphql["requests"] or 1
    figures: dict[str, float | None] = {
        "oversells": overall["oversells"],
        "double_applications": overall["doubleApplications"],
        "graphql_p99_ms": graphql["p99Ms"],
        "graphql_error_rate": round(graphql["errors"] / requests, 4),
        "movement_to_availability_p99_ms": overall["movementToAvailability"]["p99Ms"],
        "unreflected_movements": overall["movementToAvailability"]["unreflected"],
        "backlog_drain_seconds": (overall["drain"] or {}).get("seconds"),
        "stale_answer_age_max_seconds": graphql["staleAgeMaxSeconds"],
        "broken_promises": overall["promises"]["broken"],
        "disagreement_to_exception_p99_ms": overall["disagreementToException"]["p99Ms"],
        "undetected_disagreements": overall["disagreementToException"]["undetected"],
    }
    found = []
    for name, limit in scenario.thresholds.model_dump().items():
        if limit is None:
            continue
        value = figures[name]
        found.append(
            {
                "name": name,
                "limit": limit,
                "value": value,
                "passed": value is None or value <= limit,
            }
        )
    return found
