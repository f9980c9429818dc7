"""Drives a scenario against a running service and its sources, and measures what held.

The driver speaks only HTTP: GraphQL to the service (as the storefront would), the demo
systems' test switches (``/_control/...``) to move stock, delay acknowledgements and take a
system down, and their ``/_commands`` logs to count what was applied. The one figure it does not
take over HTTP is the oversell check, which compares the reservations the service stored with
what the ledger allowed, read from the service's database.

Per phase it runs, at the scenario's rates: orders per channel (a reservation, then half of
them committed and half left to be cancelled late), availability reads (a quarter of them
customers reading their orders through to the sources), agents resolving open exceptions (each
click sent twice), WMS movements with a
probe that times how long until availability reflects each one, returned units, late
cancellations, one race of reservations for scarce SKUs, promises (a figure published to a
shopper, then an order for no more than it before its cut-off: refused, it is broken) and
disagreements planted in the storefront, each timed until its exception is raised.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import InvalidId
from omnigraph.core.ids import decode_global_id
from omnigraph.db.models import InventoryPositionRow, ReservationRow
from omnigraph.rehearsal.measure import Figures, Sample
from omnigraph.rehearsal.scenario import Phase, Scenario

__all__ = ["Progress", "Rehearsal", "Target"]

AVAILABILITY = """query Availability(
    $skus: [String!]!, $channel: String!, $at: [ID!], $publish: Boolean! = false) {
  availability(skus: $skus, channel: $channel, locationIds: $at, publish: $publish) {
    sku locationId availableQuantity } }"""
RESERVE = """mutation Reserve($input: ReserveInventoryInput!) {
  reserveInventory(input: $input) { reservationId userErrors { code } } }"""
COMMIT = """mutation Commit($id: ID!) {
  commitReservation(id: $id) { reservationId userErrors { code } } }"""
RELEASE = """mutation Release($id: ID!) {
  releaseReservation(id: $id) { reservationId userErrors { code } } }"""
OPEN_EXCEPTIONS = """query Open($statuses: [ExceptionStatus!]) {
  exceptions(first: 100, filter: {statuses: $statuses}) {
    edges { node { id allowedResolutions } } } }"""
RESOLVE = """mutation Resolve($input: ResolveExceptionInput!) {
  resolveException(input: $input) { exception { status } userErrors { code } } }"""
ORDERS = """query Orders { orders(first: 5) { edges { node { name state } } } }"""
# orders the WMS has released and the storefront still holds open, with nothing in dispute:
# cancelling one in the storefront now is a disagreement the detector must raise
RELEASED_ORDERS = """query Released($after: String) {
  orders(first: 100, after: $after, filter: {
      states: [RELEASED, PICKED, PACKED, PARTIALLY_SHIPPED, SHIPPED],
      hasDisagreement: false, hasOpenException: false}) {
    edges { node { id } } pageInfo { hasNextPage endCursor } } }"""
# what a cancellation in the storefront after release raises (orders.detector)
CANCELLATION_KINDS = ["LATE_CANCELLATION", "STATE_DISAGREEMENT"]
RAISED = """query Raised($kinds: [ExceptionKind!], $after: String) {
  exceptions(first: 100, after: $after, filter: {kinds: $kinds}) {
    edges { node { subject } } pageInfo { hasNextPage endCursor } } }"""
LIVE = ("ACTIVE", "COMMITTED")
# the idempotency keys of the disagreements the driver plants (not omnigraph's commands)
PLANTED_KEY = "rehearse-plant-"
TICK = 0.1
CONCURRENCY = 32
PROBE_POLL = 0.1
PROBE_TIMEOUT = 30.0
DETECTION_POLL = 0.25
DETECTION_TIMEOUT = 60.0
PROMISE_MAX_UNITS = 3
READY_TIMEOUT = 120.0

Progress = Callable[[str, float, Figures], None]


@dataclass
class Target:
    """What a rehearsal runs against: the service's GraphQL (``graph``, a client whose base
    URL is the service), the source systems' base URLs by kind (their test switches are used
    when they answer), and the service's database sessions for the oversell check."""

    graph: httpx.AsyncClient
    systems: dict[str, str]
    sessions: async_sessionmaker[AsyncSession]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Stock:
    scarce: dict[str, int]  # sku -> units the web could still promise before the race
    probes: list[str]
    plentiful: list[str]
    # SKUs nothing but the promises draws on, so only omnigraph stands between a published
    # figure and the order that relies on it
    promised: list[str] = field(default_factory=list)
    # storefront orders (source, id) released by the WMS, open at the storefront, in no dispute
    releasable: list[tuple[str, str]] = field(default_factory=list)


@dataclass(eq=False)
class Rehearsal:
    scenario: Scenario
    target: Target
    _: KW_ONLY
    progress: Progress | None = None
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    seed: int = 23
    rng: random.Random = field(init=False)
    figures: Figures = field(init=False)
    phase: str = field(init=False, default="setup")
    _keys: itertools.count[int] = field(init=False, default_factory=lambda: itertools.count(1))
    _run: str = field(init=False)
    _gate: asyncio.Semaphore = field(
        init=False, default_factory=lambda: asyncio.Semaphore(CONCURRENCY)
    )
    _tasks: set[asyncio.Task[None]] = field(init=False, default_factory=set)
    # reservations left ACTIVE, for late cancellations
    _pending: list[str] = field(init=False, default_factory=list)
    _probing: set[str] = field(init=False, default_factory=set)
    _resolved: set[str] = field(init=False, default_factory=set)
    _probe_cycle: itertools.cycle[str] | None = field(init=False, default=None)
    _promise_cycle: itertools.cycle[str] | None = field(init=False, default=None)
    _promising: set[str] = field(init=False, default_factory=set)
    # planted disagreements waiting for their exception: subject -> (phase, planted at)
    _planted: dict[str, tuple[str, float]] = field(init=False, default_factory=dict)
    _watching: bool = field(init=False, default=False)
    _control: httpx.AsyncClient = field(
        init=False, default_factory=lambda: httpx.AsyncClient(timeout=10)
    )

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.figures = Figures(started=self.monotonic())
        self._run = f"{self.seed}-{int(time.time())}"

    # -- talking to the service ---------------------------------------------------------------

    async def graphql(self, name: str, query: str, **variables: Any) -> dict[str, Any] | None:
        began = self.monotonic()
        error, stale_ages, code = False, [], None
        data: dict[str, Any] | None = None
        try:
            answer = await self.target.graph.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers=self.target.headers,
            )
            body = answer.json()
            error = answer.status_code != 200 or bool(body.get("errors"))
            for problem in body.get("errors") or []:
                code = str(((problem or {}).get("extensions") or {}).get("code") or "UNCODED")
                break
            else:
                code = None if not error else f"HTTP_{answer.status_code}"
            data = body.get("data")
            for read in (body.get("extensions") or {}).get("stale") or []:
                if isinstance(read, dict):
                    stale_ages.append(float(read.get("ageSeconds") or 0))
        except (httpx.HTTPError, ValueError) as failure:
            error, code = True, type(failure).__name__
        self.figures.graphql(
            Sample(self.phase, name, (self.monotonic() - began) * 1000, error, stale_ages, code)
        )
        return data

    async def available(
        self, skus: list[str], channel: str = "web", *, publish: bool = False
    ) -> dict[str, int]:
        data = await self.graphql(
            "availability",
            AVAILABILITY,
            skus=skus,
            channel=channel,
            at=[self.location],
            publish=publish,
        )
        found: dict[str, int] = {}
        for row in (data or {}).get("availability") or []:
            found[row["sku"]] = found.get(row["sku"], 0) + int(row["availableQuantity"])
        return found

    async def reserve(
        self, sku: str, channel: str, location: str | None, quantity: int = 1
    ) -> str | None:
        made, _ = await self.reserve_or_refusal(sku, channel, location, quantity)
        return made

    async def reserve_or_refusal(
        self, sku: str, channel: str, location: str | None, quantity: int = 1
    ) -> tuple[str | None, str | None]:
        """The reservation made, or why not: its userError's code (None when it failed with
        an error instead, which the GraphQL figures count)."""
        payload = {
            "sku": sku,
            "channel": channel,
            "quantity": quantity,
            "ttlSeconds": 86400,
            "idempotencyKey": f"rehearse-{self._run}-{next(self._keys)}",
        }
        if location is not None:
            payload["locationId"] = location
        data = await self.graphql("reserveInventory", RESERVE, input=payload)
        made = (data or {}).get("reserveInventory") or {}
        refused = made.get("userErrors") or []
        if refused:
            self.figures.count(self.phase, "reservations refused")
            return None, str(refused[0].get("code") or "UNCODED")
        return made.get("reservationId"), None

    @property
    def location(self) -> str:
        return self.scenario.location

    # -- talking to the sources' test switches ------------------------------------------------

    async def switch(self, kind: str, path: str, body: dict[str, Any]) -> bool:
        url = self.target.systems.get(kind)
        if url is None:
            return False
        try:
            answer = await self._control.post(f"{url}{path}", json=body)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200

    async def move(self, movement: dict[str, Any]) -> bool:
        return await self.switch("wms", "/_control/movements", {"movements": [movement]})

    async def cancel_in_storefront(self, order_id: str) -> bool:
        """A customer cancels in the storefront (its contract's ``order.cancel``), whatever the
        warehouse has done: whether the storefront accepted it."""
        url = self.target.systems.get("storefront")
        if url is None:
            return False
        try:
            answer = await self._control.post(
                f"{url}/commands",
                json={
                    "type": "order.cancel",
                    "payload": {"orderId": order_id, "reason": "rehearsal: cancelled late"},
                },
                headers={"Idempotency-Key": f"{PLANTED_KEY}{self._run}-{next(self._keys)}"},
            )
        except httpx.HTTPError:
            return False
        return answer.is_success and answer.json().get("status") == "accepted"

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> Figures:
        try:
            stock = await self._survey()
            for phase in self.scenario.phases:
                await self._phase(phase, stock)
            self.phase = "drain"
            await self._drain()
            for planted_in, _ in self._planted.values():  # still waiting when the drain ended
                self.figures.count(planted_in, "disagreements undetected")
            self._planted.clear()
            await self._settle(stock)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for kind in self.target.systems:
                await self.switch(kind, "/_control/outage", {"down": False})
                await self.switch(kind, "/_control/latency", {"seconds": 0})
            await self._control.aclose()
        self.figures.finished = self.monotonic()
        return self.figures

    async def _survey(self) -> _Stock:
        """Which SKUs are scarce (fewer units than a race asks for), which can show a movement
        (some units to spare), and which are plentiful enough for the orders."""
        skus = self.scenario.skus()
        units: dict[str, int] = {}
        # the service reads the WMS into its ledger on its own: wait (bounded) until it has,
        # two reads in a row agreeing
        deadline = self.monotonic() + READY_TIMEOUT
        while self.monotonic() < deadline:
            seen: dict[str, int] = {}
            for start in range(0, len(skus), 100):
                seen.update(await self.available(skus[start : start + 100]))
            if seen and seen == units:
                break
            units = seen
            await self.sleep(1)
        self.figures.samples.clear()  # the wait is not part of the load
        wanted = max(
            (p.race.attempts * p.race.quantity for p in self.scenario.phases if p.race),
            default=0,
        )
        races = sum(p.race.skus for p in self.scenario.phases if p.race)
        ordered = sorted(units, key=lambda sku: units[sku])
        scarce = {sku: units[sku] for sku in ordered if 1 <= units[sku] < wanted}
        scarce = dict(itertools.islice(scarce.items(), races))
        rest = [sku for sku in ordered if sku not in scarce and units[sku] >= 1]
        probes = rest[: max(1, len(rest) // 4)]
        plentiful = [sku for sku in rest[len(probes) :] if units[sku] >= 20] or rest
        promised: list[str] = []
        if any(p.promises_per_second for p in self.scenario.phases) and len(plentiful) > 1:
            # the best stocked, so that a promise is rarely too small to make
            promised = plentiful[-max(1, len(plentiful) // 6) :]
            plentiful = plentiful[: -len(promised)]
        self.figures.scarce = dict(scarce)
        self._probe_cycle = itertools.cycle(probes)
        self._promise_cycle = itertools.cycle(promised) if promised else None
        releasable = []
        if any(p.disagreements_per_second for p in self.scenario.phases):
            releasable = await self._releasable()
            self.rng.shuffle(releasable)
        self.figures.samples.clear()  # nor is finding the orders to plant disagreements on
        return _Stock(scarce, probes, plentiful, promised, releasable)

    async def _releasable(self) -> list[tuple[str, str]]:
        """Storefront orders the WMS has released, with no disagreement and no exception, ever
        (an exception raised before would be found again, not raised anew)."""
        disputed: set[str] = set()
        after = None
        while True:
            data = await self.graphql("exceptions", RAISED, kinds=CANCELLATION_KINDS, after=after)
            page = (data or {}).get("exceptions") or {}
            disputed.update(edge["node"]["subject"] for edge in page.get("edges") or [])
            after = (page.get("pageInfo") or {}).get("endCursor")
            if not (page.get("pageInfo") or {}).get("hasNextPage") or after is None:
                break
        found: list[tuple[str, str]] = []
        after = None
        while True:
            data = await self.graphql("orders", RELEASED_ORDERS, after=after)
            page = (data or {}).get("orders") or {}
            for edge in page.get("edges") or []:
                try:
                    _, parts = decode_global_id(edge["node"]["id"], expected_type="Order")
                except InvalidId:
                    continue
                if len(parts) == 2 and ":".join(parts) not in disputed:
                    found.append((parts[0], parts[1]))
            after = (page.get("pageInfo") or {}).get("endCursor")
            if not (page.get("pageInfo") or {}).get("hasNextPage") or after is None:
                break
        return found

    async def _phase(self, phase: Phase, stock: _Stock) -> None:
        self.phase = phase.name
        self.figures.phase_started(phase.name, self.monotonic())
        await self.switch("wms", "/_control/latency", {"seconds": phase.wms_ack_delay_seconds})
        for outage in phase.outages:
            self._spawn(self._outage(outage.system, outage.start_seconds, outage.seconds))
        if phase.race is not None:
            race_skus = [sku for sku in stock.scarce if sku not in self.figures.raced]
            self._spawn(self._race(race_skus[: phase.race.skus], phase))
        rates: dict[str, float] = {
            **{f"order:{channel}": rate for channel, rate in phase.orders_per_second.items()},
            "read": phase.availability_reads_per_second,
            "movement": phase.wms_movements_per_second,
            "return": phase.returns_per_second,
            "cancel": phase.late_cancellations_per_second,
            "resolve": phase.resolutions_per_second,
            "promise": phase.promises_per_second,
            "disagree": phase.disagreements_per_second,
        }
        owed = dict.fromkeys(rates, 0.0)
        began = self.monotonic()
        last_report = began
        while (elapsed := self.monotonic() - began) < phase.seconds:
            for kind, rate in rates.items():
                owed[kind] += rate * TICK
                while owed[kind] >= 1:
                    owed[kind] -= 1
                    self._spawn(self._act(kind, stock))
            now = self.monotonic()
            if now - last_report >= 1:
                last_report = now
                self.figures.tick(
                    self.phase, now, len(self._probing), await self._backlog(), len(self._planted)
                )
                if self.progress is not None:
                    self.progress(phase.name, min(1.0, elapsed / phase.seconds), self.figures)
            await self.sleep(TICK)
        await self.switch("wms", "/_control/latency", {"seconds": 0})
        self.figures.tick(
            self.phase,
            self.monotonic(),
            len(self._probing),
            await self._backlog(),
            len(self._planted),
        )

    def _spawn(self, work: Awaitable[None]) -> None:
        async def bounded() -> None:
            async with self._gate:
                await work

        task = asyncio.ensure_future(bounded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _act(self, kind: str, stock: _Stock) -> None:
        if kind.startswith("order:"):
            channel = kind.partition(":")[2]
            sku = self.rng.choice(stock.plentiful)
            made = await self.reserve(sku, channel, None)
            self.figures.count(self.phase, f"orders {channel}")
            if made is not None:
                if self.rng.random() < 0.5:
                    await self.graphql("commitReservation", COMMIT, id=made)
                else:
                    self._pending.append(made)
        elif kind == "read" and self.rng.random() < 0.25:
            # a customer looking at their orders: read through to the sources, so an outage
            # shows as errors or as stale answers with their age
            await self.graphql("orders", ORDERS)
        elif kind == "read":
            picked = self.rng.sample(stock.plentiful, min(5, len(stock.plentiful)))
            await self.available(picked, self.rng.choice(("web", "marketplace")))
        elif kind == "movement":
            await self._probe()
        elif kind == "return":
            sku = self.rng.choice(stock.plentiful)
            moved = await self.move(
                {
                    "movement": "return_receipt",
                    "sku": sku,
                    "locationId": self.location,
                    "quantity": 1,
                    "orderRef": f"REH-RETURN-{next(self._keys)}",
                    "fulfilmentOrderId": None,
                    "disposition": "inspect",
                }
            )
            self.figures.count(self.phase, "returns received" if moved else "returns refused")
        elif kind == "resolve":
            await self._resolve()
        elif kind == "promise":
            await self._promise()
        elif kind == "disagree":
            await self._disagree(stock)
        elif kind == "cancel" and self._pending:
            made = self._pending.pop(self.rng.randrange(len(self._pending)))
            await self.graphql("releaseReservation", RELEASE, id=made)
            self.figures.count(self.phase, "late cancellations")

    async def _open(self, *statuses: str) -> list[dict[str, Any]]:
        data = await self.graphql("exceptions", OPEN_EXCEPTIONS, statuses=list(statuses))
        edges = ((data or {}).get("exceptions") or {}).get("edges") or []
        return [edge["node"] for edge in edges]

    async def _resolve(self) -> None:
        """An agent resolves one open exception, and the click arrives twice (same key)."""
        candidates = [
            node
            for node in await self._open("OPEN", "ACKNOWLEDGED")
            if node["allowedResolutions"] and node["id"] not in self._resolved
        ]
        if not candidates:
            return
        node = self.rng.choice(candidates)
        self._resolved.add(node["id"])
        payload = {
            "id": node["id"],
            "resolution": node["allowedResolutions"][0],
            "note": "rehearsal",
            "idempotencyKey": f"rehearse-{self._run}-{next(self._keys)}",
        }
        await asyncio.gather(
            self.graphql("resolveException", RESOLVE, input=payload),
            self.graphql("resolveException", RESOLVE, input=payload),
        )
        self.figures.count(self.phase, "exceptions resolved")

    async def _backlog(self) -> int:
        """Resolutions still waiting on their owner (capped at a page of 100)."""
        return len(await self._open("RESOLUTION_PENDING"))

    async def _probe(self) -> None:
        """Move one unit into a probe SKU at the WMS and time until availability shows it."""
        assert self._probe_cycle is not None
        sku = next(self._probe_cycle)
        if sku in self._probing:
            return
        self._probing.add(sku)
        phase = self.phase
        try:
            before = (await self.available([sku])).get(sku)
            if before is None:
                return
            movement = {"movement": "adjustment", "sku": sku, "locationId": self.location}
            began = self.monotonic()
            if not await self.move({**movement, "quantity": 1}):
                self.figures.count(phase, "movements refused")
                return
            self.figures.count(phase, "movements")
            while self.monotonic() - began < PROBE_TIMEOUT + self._longest_outage():
                await self.sleep(PROBE_POLL)
                if (await self.available([sku])).get(sku, 0) > before:
                    self.figures.reflected(phase, (self.monotonic() - began) * 1000)
                    return
            self.figures.count(phase, "movements unreflected")
        finally:
            self._probing.discard(sku)

    async def _promise(self) -> None:
        """A shopper is shown what the channel may promise of a SKU here (published: the
        figure is recorded as told to the channel), thinks, and orders no more than it before
        the promise's cut-off. Nothing else draws on these SKUs: a refusal is a broken promise.
        The storefront then shows the figure left (published again)."""
        if self._promise_cycle is None:
            return
        sku = next(self._promise_cycle)
        if sku in self._promising:
            return
        self._promising.add(sku)
        phase = self.phase
        channel = self.rng.choice(("web", "marketplace"))
        try:
            shown = (await self.available([sku], channel, publish=True)).get(sku, 0)
            if shown < 1:
                self.figures.count(phase, "promises not made")
                return
            published = self.monotonic()
            await self.sleep(self.rng.uniform(0, self.scenario.promise_seconds / 2))
            if self.monotonic() - published >= self.scenario.promise_seconds:
                self.figures.count(phase, "promises lapsed")
                return
            self.figures.count(phase, "promises made")
            quantity = self.rng.randint(1, min(shown, PROMISE_MAX_UNITS))
            made, refusal = await self.reserve_or_refusal(sku, channel, self.location, quantity)
            if made is not None:
                self.figures.count(phase, "promises kept")
                self._pending.append(made)  # the late cancellations give the units back
            elif refusal is not None:
                self.figures.count(phase, "promises broken")
                self.figures.count(phase, f"promises broken {refusal}")
            else:
                self.figures.count(phase, "promises failed")
            await self.available([sku], channel, publish=True)
        finally:
            self._promising.discard(sku)

    async def _disagree(self, stock: _Stock) -> None:
        """Plant a disagreement: a customer cancels in the storefront an order the WMS has
        released. The detector must raise it as an exception; a watcher times how long."""
        if not stock.releasable:
            self.figures.count(self.phase, "disagreements not planted")
            return
        source, order_id = stock.releasable.pop()
        if not await self.cancel_in_storefront(order_id):
            self.figures.count(self.phase, "disagreements refused")
            return
        self.figures.count(self.phase, "disagreements planted")
        self._planted[f"{source}:{order_id}"] = (self.phase, self.monotonic())
        if not self._watching:
            self._watching = True
            self._spawn(self._watch_exceptions())

    async def _watch_exceptions(self) -> None:
        """Poll the newest exceptions until every planted disagreement has one (or has waited
        past the timeout): the first sight of each is its time to exception."""
        try:
            while self._planted:
                await self.sleep(DETECTION_POLL)
                data = await self.graphql("exceptions", RAISED, kinds=CANCELLATION_KINDS)
                page = (data or {}).get("exceptions") or {}
                now = self.monotonic()
                for edge in page.get("edges") or []:
                    planted = self._planted.pop(edge["node"]["subject"], None)
                    if planted is not None:
                        self.figures.detected(planted[0], (now - planted[1]) * 1000)
                limit = DETECTION_TIMEOUT + self._longest_outage()
                for subject, (phase, at) in list(self._planted.items()):
                    if now - at > limit:
                        del self._planted[subject]
                        self.figures.count(phase, "disagreements undetected")
        finally:
            self._watching = False

    def _longest_outage(self) -> float:
        return max(
            (o.seconds for p in self.scenario.phases for o in p.outages if o.system == "wms"),
            default=0.0,
        )

    async def _outage(self, system: str, start: float, seconds: float) -> None:
        phase = self.phase
        await self.sleep(start)
        if await self.switch(system, "/_control/outage", {"down": True, "seconds": seconds}):
            self.figures.count(phase, f"outage {system} (s)", round(seconds))
            await self.sleep(seconds)
        await self.switch(system, "/_control/outage", {"down": False})

    async def _race(self, skus: list[str], phase: Phase) -> None:
        assert phase.race is not None
        race = phase.race
        for sku in skus:
            self.figures.raced.add(sku)
            made = await asyncio.gather(
                *(
                    self.reserve(sku, "web", self.location, race.quantity)
                    for _ in range(race.attempts)
                )
            )
            self.figures.count(self.phase, "race winners", sum(1 for m in made if m))
            self.figures.count(self.phase, "race attempts", race.attempts)

    async def _drain(self) -> None:
        """Wait (bounded) for the in-flight work: probes still waiting for the ledger, and
        resolutions whose commands the owners have not acknowledged yet; how long that takes
        is the backlog's drain time."""
        began = self.monotonic()
        deadline = began + max(PROBE_TIMEOUT, DETECTION_TIMEOUT) + self._longest_outage()
        backlog = await self._backlog()
        while (self._tasks or backlog) and self.monotonic() < deadline:
            await self.sleep(1)
            backlog = await self._backlog()
            self.figures.tick(
                self.phase, self.monotonic(), len(self._probing), backlog, len(self._planted)
            )
        self.figures.drained(round(self.monotonic() - began, 1), backlog)

    async def _settle(self, stock: _Stock) -> None:
        """The invariants, from independent sources: the reservations the service stored for
        each raced SKU against what the ledger allowed before the race, and each source's own
        log of the commands it received against the ones it applied."""
        async with self.target.sessions() as session:
            for sku in sorted(self.figures.raced):
                reserved = await session.scalar(
                    select(func.coalesce(func.sum(ReservationRow.quantity), 0)).where(
                        ReservationRow.sku == sku,
                        ReservationRow.location_id == self.location,
                        ReservationRow.status.in_(LIVE),
                    )
                )
                position = await session.get(InventoryPositionRow, (sku, self.location))
                free = (
                    position.on_hand
                    - position.committed
                    - position.damaged
                    - position.quality_control
                    if position is not None
                    else 0
                )
                allowed = min(stock.scarce[sku], max(free, 0))
                self.figures.oversold(sku, int(reserved or 0), allowed)
        for kind, url in self.target.systems.items():
            try:
                answer = await self._control.get(f"{url}/_commands")
            except httpx.HTTPError:
                continue
            if answer.status_code != 200:
                continue
            for entry in answer.json().get("data", []):
                if not str(entry.get("idempotencyKey") or "").startswith(PLANTED_KEY):
                    self.figures.command(kind, entry)
