"""Singleton background tasks on many replicas: four runners, each with an engine of its own on
one database (SQLite, and PostgreSQL when the suite has one), all given the same tasks. Exactly
one runs each singleton task at each tick; when it stops renewing another takes over within a
lease, and when it stops cleanly at the next tick. Time is one clock the test moves: nothing
here sleeps."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from structlog.testing import capture_logs

from omnigraph.app import background_tasks
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.db.leases import LeaseStore
from omnigraph.runtime.periodic import PeriodicRunner, PeriodicTask
from tests.conftest import make_settings, services_of

EPOCH = 1_800_000_000.0
LEASE = 30.0  # seconds; renewed every 10
TICK = 1.0
REPLICAS = 4


class SharedClock:
    """One clock for every replica: a sleep ends when the test has moved the time past it."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: dict[asyncio.Future[None], float] = {}
        self._asleep = asyncio.Condition()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return EPOCH + self.now

    def wall(self) -> datetime:
        """The replicas' wall clock (``Services.now``), on the same time."""
        return datetime.fromtimestamp(EPOCH + self.now, UTC)

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers[woken] = self.now + seconds
        async with self._asleep:
            self._asleep.notify_all()
        try:
            await woken
        finally:
            self._sleepers.pop(woken, None)

    async def advance(self, seconds: float, sleepers: int) -> None:
        """Move the time on, wake the sleeps that are due, and return once ``sleepers`` loops
        (all of them) are waiting again: every run of the tick is over."""
        self.now += seconds
        for woken, deadline in list(self._sleepers.items()):
            if deadline <= self.now:
                del self._sleepers[woken]
                woken.set_result(None)
        await self.settled(sleepers)

    async def settled(self, sleepers: int) -> None:
        async with asyncio.timeout(20), self._asleep:
            await self._asleep.wait_for(lambda: len(self._sleepers) >= sleepers)


class Severed:
    """A replica's leases until :meth:`cut`; after it, the database never answers it (the
    replica is frozen, killed or partitioned: it stops renewing)."""

    def __init__(self, store: LeaseStore) -> None:
        self.store = store
        self.holder = store.holder
        self.cut_off = False

    def cut(self) -> None:
        self.cut_off = True

    async def acquire(self, name: str, seconds: float) -> bool:
        if self.cut_off:
            raise ConnectionError("the database does not answer")
        return await self.store.acquire(name, seconds)

    async def release(self, name: str) -> None:
        if self.cut_off:
            raise ConnectionError("the database does not answer")
        await self.store.release(name)


@dataclasses.dataclass
class Fleet:
    """The replicas' runners, and who ran what at which time."""

    clock: SharedClock
    leases: list[Severed]
    runners: list[PeriodicRunner]
    ran: dict[str, dict[float, list[int]]]
    singleton: str

    @property
    def sleepers(self) -> int:
        """Loops of the running replicas: two tasks and the lease keeper each."""
        return sum(len(runner._running) for runner in self.runners)

    async def tick(self, times: int = 1) -> None:
        for _ in range(times):
            await self.clock.advance(TICK, self.sleepers)

    def singleton_runs(self) -> dict[float, list[int]]:
        return self.ran[self.singleton]


def recorder(
    ran: dict[str, dict[float, list[int]]], task: str, replica: int, clock: SharedClock
) -> Callable[[], Any]:
    async def step() -> None:
        ran[task].setdefault(clock.now, []).append(replica)

    return step


@pytest.fixture
async def engines(clean_database: str) -> AsyncIterator[list[AsyncEngine]]:
    """One engine per replica (a pool of its own, as a process has) on the suite's database."""
    first = create_engine(clean_database)
    await upgrade_database(first)
    engines = [first, *(create_engine(clean_database) for _ in range(REPLICAS - 1))]
    yield engines
    for engine in engines:
        await engine.dispose()


@pytest.fixture
async def fleet(engines: list[AsyncEngine]) -> AsyncIterator[Fleet]:
    clock = SharedClock()
    singleton = f"test-singleton-{uuid.uuid4().hex[:8]}"  # this test's own lease row
    ran: dict[str, dict[float, list[int]]] = defaultdict(dict)
    leases: list[Severed] = []
    runners: list[PeriodicRunner] = []
    for replica, engine in enumerate(engines):
        store = LeaseStore(create_session_factory(engine), f"replica-{replica}", clock.wall)
        leases.append(Severed(store))
        tasks = [
            PeriodicTask(singleton, recorder(ran, singleton, replica, clock), TICK, singleton=True),
            PeriodicTask("everywhere", recorder(ran, "everywhere", replica, clock), TICK),
        ]
        runners.append(PeriodicRunner(tasks, clock=clock, leases=leases[-1], lease_seconds=LEASE))
    fleet = Fleet(clock, leases, runners, ran, singleton)
    with capture_logs():
        for runner in runners:
            runner.start()
        try:
            await clock.settled(fleet.sleepers)
            yield fleet
        finally:
            for runner in runners:
                if runner._running:
                    await runner.stop()


def one_each_tick(runs: dict[float, list[int]]) -> None:
    assert {at: len(replicas) for at, replicas in runs.items() if len(replicas) != 1} == {}


async def test_exactly_one_replica_runs_a_singleton_task_at_each_tick(fleet: Fleet) -> None:
    await fleet.tick(45)  # past four renewals of the lease
    runs = fleet.singleton_runs()
    assert sorted(runs) == [float(t) for t in range(46)]  # it ran at every tick...
    one_each_tick(runs)  # ...in exactly one replica...
    assert len({replicas[0] for replicas in runs.values()}) == 1  # ...always the same one
    # a task that is not a singleton (the dispatcher) runs in every replica
    assert all(sorted(r) == list(range(REPLICAS)) for r in fleet.ran["everywhere"].values())
    assert len(fleet.ran["everywhere"]) == 46


async def test_when_the_holder_stops_renewing_another_replica_takes_over_within_a_lease(
    fleet: Fleet,
) -> None:
    await fleet.tick(5)
    holder = fleet.singleton_runs()[5.0][0]
    fleet.leases[holder].cut()  # frozen, killed or cut off: it renews no more
    cut_at = fleet.clock.now
    await fleet.tick(int(LEASE) + 10)
    runs = fleet.singleton_runs()
    one_each_tick(runs)  # never two at once, even while the lease changes hands
    after = {at: replicas[0] for at, replicas in runs.items() if at > cut_at}
    # cut off, it acts on its lease only until its next renewal fails (within two thirds of a
    # lease), so it has stopped before the lease lapses in the database...
    last_run = max(at for at, replica in after.items() if replica == holder)
    assert last_run < cut_at + LEASE * 2 / 3
    # ...and once it has lapsed the next tick of another replica takes it over
    successors = {at: replica for at, replica in after.items() if replica != holder}
    taken_over = min(successors)
    assert last_run < taken_over <= cut_at + LEASE + TICK
    assert set(successors) == {float(t) for t in range(int(taken_over), int(fleet.clock.now) + 1)}
    assert len(set(successors.values())) == 1  # then one replica again, at every tick


async def test_a_replica_stopping_cleanly_hands_its_tasks_over_at_the_next_tick(
    fleet: Fleet,
) -> None:
    await fleet.tick(3)
    holder = fleet.singleton_runs()[3.0][0]
    await fleet.runners[holder].stop()  # releases its leases
    await fleet.tick(2)
    runs = fleet.singleton_runs()
    one_each_tick(runs)
    assert runs[4.0] != [holder]
    assert runs[5.0] == runs[4.0]


async def test_a_lapsed_lease_goes_to_exactly_one_of_the_replicas_asking_at_once(
    engines: list[AsyncEngine],
) -> None:
    clock = SharedClock()
    name = f"test-race-{uuid.uuid4().hex[:8]}"
    stores = [
        LeaseStore(create_session_factory(engine), f"racer-{i}", clock.wall)
        for i, engine in enumerate(engines)
    ]
    for _ in range(5):  # five rounds: a fresh lease, then each time a lapsed one
        taken = await asyncio.gather(*(store.acquire(name, LEASE) for store in stores))
        assert taken.count(True) == 1
        winner = stores[taken.index(True)]
        assert await stores[0].holders() == {name: winner.holder} | {
            n: h for n, h in (await stores[0].holders()).items() if n != name
        }
        clock.now += LEASE / 2
        again = await asyncio.gather(*(store.acquire(name, LEASE) for store in stores))
        assert again == [store is winner for store in stores]  # renewed by its holder only
        clock.now += LEASE  # the holder stops renewing: it lapses
        assert name not in await stores[0].holders()


def test_the_background_tasks_that_must_run_once_are_singletons(app: Starlette) -> None:
    services = services_of(app)
    everything = dataclasses.replace(
        services,
        settings=make_settings(
            services.settings.database_url,
            dispatcher_enabled=True,
            report_feed_enabled=True,
            ledger_enabled=True,
            drift_enabled=True,
            detector_enabled=True,
            reconcile_enabled=True,
            bulk={"enabled": True},
        ),
    )
    kinds = {task.name: task.singleton for task in background_tasks(everything)}
    assert kinds == {
        "dispatcher": False,  # claims its commands: every replica may deliver
        "idempotency_keys": True,
        "report_feed": True,
        "ledger": True,
        "drift": True,
        "detector": True,
        "detector_changes": True,
        "reconcile": True,
        "returns_sweep": True,
        # each replica's own sockets; and an idempotent sweep that also clears this
        # replica's memory of what it deletes
        "websocket_recheck": False,
        "persisted_documents_expiry": False,
        # each runner claims its export: every replica may run exports
        "bulk_runner": False,
        "bulk_cleanup": True,
    }
