"""What the dispatcher leaves behind for the people watching it: each command's attempts,
last error and next attempt, the owner's answer, the tally ``omnigraph dispatch`` prints,
the log lines, and the background tasks it runs as. Time is the injected clock; the backoff's
random draw is pinned to the top of its window, so each wait is the policy's exact bound."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
import tenacity.wait
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import SourceContractViolation, UpstreamUnavailable
from omnigraph.core.ids import decode_global_id, encode_global_id
from omnigraph.db.models import ExceptionRow, OutboxCommandRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import take_in
from omnigraph.exceptions.lifecycle import ExceptionStatus
from omnigraph.exceptions.resolution import _move
from omnigraph.runtime.services import Services
from omnigraph.sources.contract import CommandReceipt
from tests.conftest import Sources
from tests.exceptions.conftest import RESOLVE, Outbox, resolve_input
from tests.helpers import short_pick

COMMANDS = """
query($id: ID!) {
  exception(id: $id) {
    status lastError
    commands { status attempts nextAttemptAt lastError ownerAnswer }
  }
}
"""

ANSWERS = """
query($id: ID!) {
  exception(id: $id) {
    status lastError resolvedAt
    history { status actor note }
    commands { status attempts deliveredAt lastError ownerAnswer }
  }
}
"""


@pytest.fixture(autouse=True)
async def own_commands_only(services: Services) -> AsyncIterator[None]:
    """Commands other tests of the module left pending wait until after this test, so each
    test here counts only the commands it made; then they are due as they were."""
    async with services.sessions() as session, session.begin():
        rows = await session.execute(
            select(OutboxCommandRow.id, OutboxCommandRow.next_attempt_at).where(
                OutboxCommandRow.status == "PENDING"
            )
        )
        waiting = {command_id: due for command_id, due in rows}
        if waiting:
            await session.execute(
                update(OutboxCommandRow)
                .where(OutboxCommandRow.id.in_(waiting))
                .values(next_attempt_at=datetime(2100, 1, 1, tzinfo=UTC))
            )
    yield
    async with services.sessions() as session, session.begin():
        for command_id, due in waiting.items():
            await session.execute(
                update(OutboxCommandRow)
                .where(OutboxCommandRow.id == command_id)
                .values(next_attempt_at=due)
            )


@pytest.fixture
def top_of_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full jitter draws a wait uniformly below the window; here, the window itself."""
    monkeypatch.setattr(tenacity.wait, "random", SimpleNamespace(uniform=lambda low, high: high))


async def command_of(outbox: Outbox, exception_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    shown = await outbox.exception(exception_id, COMMANDS)
    (command,) = shown["commands"]
    return shown, command


@pytest.mark.usefixtures("top_of_window")
async def test_a_failing_owner_is_retried_after_each_backoff_then_dead_lettered(
    outbox: Outbox, esources: Sources
) -> None:
    """Backoff 10 s doubling, capped at 15 s, three attempts: tried at once, after 10 s, after
    15 more (20 capped), then given up; never before its next attempt is due."""
    exception_id = await outbox.backordered("k-backoff")
    clock = outbox.clock
    worker = outbox.dispatcher(
        max_attempts=3,
        backoff_seconds=10,
        backoff_max_seconds=15,
        breaker={"threshold": 100},
    )
    async with esources.down("wms"):
        with structlog.testing.capture_logs() as logs:
            for wait in (10, 15):
                assert await worker.run_once() == 1
                shown, command = await command_of(outbox, exception_id)
                assert command["status"] == "PENDING"
                assert "HTTP 503" in command["lastError"]
                assert shown["lastError"] == command["lastError"]
                due = datetime.fromisoformat(command["nextAttemptAt"])
                assert due == clock.at + timedelta(seconds=wait)
                clock.advance(wait - 0.001)
                assert await worker.run_once() == 0  # not due yet: the owner is left alone
                clock.advance(0.001)
            assert await worker.run_once() == 1
    shown, command = await command_of(outbox, exception_id)
    assert (shown["status"], command["status"], command["attempts"]) == (
        "RESOLUTION_FAILED",
        "DEAD",
        3,
    )
    assert command["lastError"].startswith("gave up after 3 attempts: ")
    assert "HTTP 503" in command["lastError"]
    assert worker.outcomes == Counter(retry=2, dead=1)
    logs = [line for line in logs if str(line["event"]).startswith("command_")]
    seen = [(line["event"], line["log_level"], line["owner"]) for line in logs]
    assert seen == [
        ("command_postponed", "warning", "wms"),
        ("command_postponed", "warning", "wms"),
        ("command_dead_lettered", "error", "wms"),
    ]
    assert all("HTTP 503" in line["error"] for line in logs)
    assert logs[-1]["error"] == command["lastError"]


async def test_a_command_for_an_owner_not_configured_is_dead_lettered_at_its_first_attempt(
    outbox: Outbox,
) -> None:
    exception_id = await outbox.backordered("k-no-owner")
    worker = outbox.dispatcher(owners={})  # no source configured at all
    assert await worker.run_once() == 1
    shown, command = await command_of(outbox, exception_id)
    assert (command["status"], command["attempts"]) == ("DEAD", 1)
    assert command["lastError"] == "owner 'wms' is not configured"
    assert shown["status"] == "RESOLUTION_FAILED"
    assert worker.outcomes == Counter(dead=1)


async def test_as_background_tasks_it_delivers_while_commands_are_due_and_sweeps_old_keys(
    outbox: Outbox,
) -> None:
    """Two tasks: ``dispatcher`` on every replica (it claims its commands), woken early by a
    resolution, going on at once while it delivers; ``idempotency_keys``, a singleton every
    ten minutes, forgetting keys past their day."""
    exception_id = await outbox.backordered("k-periodic")
    worker = outbox.dispatcher()
    resolved = asyncio.Event()
    delivering, sweeping = worker.periodic(wakeup=resolved, poll_seconds=2.5, jitter=0.2)
    context = {"worker": "test"}
    assert (delivering.name, delivering.interval, delivering.singleton) == (
        "dispatcher",
        2.5,
        False,
    )
    assert (delivering.wakeup, delivering.jitter, dict(delivering.context)) == (
        resolved,
        0.2,
        context,
    )
    assert (sweeping.name, sweeping.interval, sweeping.singleton) == (
        "idempotency_keys",
        600,
        True,
    )
    assert (sweeping.wakeup, sweeping.jitter, dict(sweeping.context)) == (None, 0.2, context)
    # as `omnigraph dispatch` runs it: every half second when idle, no jitter
    plain, _ = worker.periodic()
    assert (plain.interval, plain.jitter, plain.wakeup) == (0.5, 0.0, None)

    assert await delivering.step() is True  # one delivered: look again at once
    assert await delivering.step() is False  # nothing due: wait for the interval
    shown, command = await command_of(outbox, exception_id)
    assert (shown["status"], command["status"]) == ("RESOLVED", "DELIVERED")

    again = resolve_input(exception_id, "BACKORDER", "k-periodic")
    resolved_again = await outbox.graph.query(RESOLVE, input=again)
    assert resolved_again["data"]["resolveException"]["userErrors"] == []  # the key replays
    outbox.clock.advance(timedelta(days=1, minutes=1).total_seconds())
    await sweeping.step()
    forgotten = await outbox.graph.query(RESOLVE, input=again)
    codes = [e["code"] for e in forgotten["data"]["resolveException"]["userErrors"]]
    assert codes == ["INVALID_TRANSITION"]  # the key is gone: the request is judged afresh


class HeldOwner:
    """An owner that answers each command only when the test lets it: a delivery in flight,
    held open without any timing. It records every command with its idempotency key."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.arrived = asyncio.Event()
        self.received: list[tuple[str, str]] = []

    async def reached(self, count: int, delivering: asyncio.Future[int]) -> None:
        """Until ``count`` commands have reached the owner; fails at once when ``delivering``
        (the run to send the last of them) ends first, having claimed too few."""
        while len(self.received) < count:
            self.arrived.clear()
            arrived = asyncio.ensure_future(self.arrived.wait())
            await asyncio.wait({arrived, delivering}, return_when=asyncio.FIRST_COMPLETED)
            if not arrived.done():
                arrived.cancel()
                raise AssertionError(
                    f"{len(self.received)} of {count} commands reached the owner;"
                    f" the run ended having handled {delivering.result()}"
                )

    async def command(
        self, command_type: str, payload: dict[str, Any], idempotency_key: str
    ) -> CommandReceipt:
        self.received.append((command_type, idempotency_key))
        self.arrived.set()
        await self.gate.wait()
        replayed = self.received.count((command_type, idempotency_key)) > 1
        return CommandReceipt(True, "", f"cmd-{len(self.received)}", replayed)


async def test_a_command_in_flight_is_its_claimers_until_the_lease_ends(
    outbox: Outbox,
) -> None:
    """Lease 30 s: while the first dispatcher waits on the owner, a second finds nothing to
    deliver, also at the lease's last instant; after it, the second delivers again with the
    same idempotency key (the owner replays it)."""
    exception_id = await outbox.backordered("k-lease")
    clock = outbox.clock
    owner = HeldOwner()
    first, second = (
        outbox.dispatcher(owners={"wms": owner}, worker=name, lease_seconds=30)
        for name in ("first", "second")
    )
    in_flight = asyncio.ensure_future(first.run_once())
    await owner.reached(1, in_flight)
    assert await second.run_once() == 0
    clock.advance(30)
    assert await second.run_once() == 0  # the lease's last instant is still the first's
    clock.advance(0.001)
    again = asyncio.ensure_future(second.run_once())
    await owner.reached(2, again)
    owner.gate.set()
    assert (await in_flight, await again) == (1, 1)
    (command_type, key), resent = owner.received
    assert resent == (command_type, key)
    shown, command = await command_of(outbox, exception_id)
    assert (shown["status"], command["status"]) == ("RESOLVED", "DELIVERED")
    history = (await outbox.exception(exception_id, ANSWERS))["history"]
    # the owner said nothing: the history says what became of the command; the second
    # delivery's answer finds the exception resolved and leaves it be
    assert history[-1] == {"status": "RESOLVED", "actor": "wms", "note": "delivered"}
    assert [h["status"] for h in history].count("RESOLVED") == 1


async def test_answers_are_recorded_on_the_command_and_the_exception_and_tallied(
    outbox: Outbox,
) -> None:
    """One command the owner applies, one it refuses: each records its single attempt, when
    it was answered and the owner's words; only the applied one resolves its exception."""
    applied_id = await outbox.backordered("k-applied")
    refused_id = await outbox.backordered("k-refused-2", quantity=10_000)  # more than it holds
    worker = outbox.dispatcher()
    with structlog.testing.capture_logs() as logs:
        assert await worker.run_once() == 2
    answered_at = outbox.clock.at

    applied = await outbox.exception(applied_id, ANSWERS)
    (done,) = applied["commands"]
    assert (applied["status"], applied["lastError"]) == ("RESOLVED", None)
    assert datetime.fromisoformat(applied["resolvedAt"]) == answered_at
    assert (done["status"], done["attempts"], done["lastError"]) == ("DELIVERED", 1, None)
    assert datetime.fromisoformat(done["deliveredAt"]) == answered_at
    assert done["ownerAnswer"]
    assert applied["history"][-1] == {
        "status": "RESOLVED",
        "actor": "wms",
        "note": done["ownerAnswer"],
    }

    refused = await outbox.exception(refused_id, ANSWERS)
    (no,) = refused["commands"]
    assert "left, not 10000" in no["ownerAnswer"]
    assert (refused["status"], refused["resolvedAt"], refused["lastError"]) == (
        "RESOLUTION_FAILED",
        None,
        no["ownerAnswer"],
    )
    assert (no["status"], no["attempts"], no["lastError"]) == ("REJECTED", 1, no["ownerAnswer"])
    assert datetime.fromisoformat(no["deliveredAt"]) == answered_at

    assert worker.outcomes == Counter(delivered=1, rejected=1)
    answered = sorted(
        (line["accepted"], line["owner"], line["command"], line["replayed"])
        for line in logs
        if line["event"] == "command_answered"
    )
    assert answered == [
        (False, "wms", "fulfilment.backorder", False),
        (True, "wms", "fulfilment.backorder", False),
    ]


async def test_a_batch_takes_the_longest_waiting_commands_first(outbox: Outbox) -> None:
    older_id = await outbox.short_pick()
    newer_id = await outbox.short_pick()
    await outbox.backorder(newer_id, "k-newer")
    await outbox.backorder(older_id, "k-older")
    worker = outbox.dispatcher(batch_size=1)
    assert await worker.run_once() == 1
    statuses = [
        (await command_of(outbox, exception_id))[1]["status"]
        for exception_id in (newer_id, older_id)
    ]
    assert statuses == ["DELIVERED", "PENDING"]  # the newer id was resolved first
    assert await worker.run_once() == 1
    assert (await command_of(outbox, older_id))[1]["status"] == "DELIVERED"
    assert worker.outcomes == Counter(delivered=2)


class ScriptedOwner:
    """An owner whose answers are written in advance: an error to raise, or a receipt."""

    def __init__(self, *answers: Exception | None) -> None:
        self.answers = list(answers)

    async def command(
        self, command_type: str, payload: dict[str, Any], idempotency_key: str
    ) -> CommandReceipt:
        answer = self.answers.pop(0)
        if answer is not None:
            raise answer
        return CommandReceipt(True, "applied", "cmd-1", False)


async def test_only_an_owner_that_cannot_answer_opens_its_circuit_for_the_reset_time(
    outbox: Outbox,
) -> None:
    """Breaker: 2 failures in a row, reset 20 s. Two answers outside the contract dead-letter
    their commands but leave the circuit closed; two outages open it, and the owner is left
    alone until 20 s have passed, then asked again."""
    ids = [await outbox.backordered(f"k-br-{n}") for n in range(3)]
    clock = outbox.clock
    garbled = SourceContractViolation("wms", "no receipt in the answer")
    down = UpstreamUnavailable("wms", "HTTP 503")
    owner = ScriptedOwner(garbled, garbled, down, down, None)
    worker = outbox.dispatcher(
        owners={"wms": owner},
        batch_size=1,
        max_attempts=10,
        backoff_max_seconds=0.01,
        breaker={"threshold": 2, "reset_seconds": 20},
    )
    for _ in range(2):  # the first two commands: answered outside the contract
        assert await worker.run_once() == 1
    for exception_id in ids[:2]:
        _, dead = await command_of(outbox, exception_id)
        assert (dead["status"], dead["lastError"]) == ("DEAD", garbled.message)
    for _ in range(2):  # the third: the owner is down, twice
        assert await worker.run_once() == 1
        clock.advance(0.01)
    assert await worker.run_once() == 1  # the circuit is open: not asked, put off
    shown, command = await command_of(outbox, ids[2])
    assert command["attempts"] == 2
    assert shown["lastError"] == "circuit open for wms: not calling it for now"
    assert datetime.fromisoformat(command["nextAttemptAt"]) == clock.at + timedelta(seconds=20)
    clock.advance(20)
    assert await worker.run_once() == 1  # half open: asked again, and it answers
    shown, command = await command_of(outbox, ids[2])
    assert (shown["status"], command["status"], command["attempts"]) == (
        "RESOLVED",
        "DELIVERED",
        3,
    )
    assert owner.answers == []


class PromptOwner:
    """An owner that applies each command at once, recording its idempotency key."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def command(
        self, command_type: str, payload: dict[str, Any], idempotency_key: str
    ) -> CommandReceipt:
        self.received.append(idempotency_key)
        return CommandReceipt(True, "applied", f"cmd-{len(self.received)}", False)


class RefusingOwner:
    """An owner that answers every command, and says no."""

    def __init__(self, detail: str) -> None:
        self.detail = detail

    async def command(
        self, command_type: str, payload: dict[str, Any], idempotency_key: str
    ) -> CommandReceipt:
        return CommandReceipt(False, self.detail, "", False)


KEYS = "query($id: ID!) { exception(id: $id) { commands { idempotencyKey } } }"


async def key_of(outbox: Outbox, exception_id: str) -> str:
    (command,) = (await outbox.exception(exception_id, KEYS))["commands"]
    key: str = command["idempotencyKey"]
    return key


_stand_ins = itertools.count(1)


async def stand_in_short_pick(services: Services, owner: str = "wms") -> str:
    """A short pick whose command goes to a stand-in for ``owner`` (a test's own owner), so it
    uses up none of the demo WMS's open lines."""
    n = next(_stand_ins)
    report = short_pick(
        f"SF-STAND-IN-{n}",
        dedupe_key=f"test:stand-in:{owner}:{n}",
        details={"fulfilmentOrderId": f"FO-STAND-IN-{n}", "sku": "SKU-STAND-IN", "quantity": 1},
    )
    row, _ = await take_in(
        services.sessions, services.get(ExceptionCatalogue), replace(report, owner_source=owner)
    )
    return encode_global_id("Exception", row.id)


async def test_an_open_circuit_holds_back_its_own_owners_commands_only(
    outbox: Outbox, services: Services
) -> None:
    """Two warehouses own short picks; one is down and its circuit opens (2 failures in a
    row): the other's commands still go out at once."""
    north_id = await stand_in_short_pick(services, "wms")
    east_id = await stand_in_short_pick(services, "wms-east")
    await outbox.backorder(north_id, "k-circuit-north")
    down = UpstreamUnavailable("wms", "HTTP 503")
    north, east = ScriptedOwner(down, down), PromptOwner()
    worker = outbox.dispatcher(
        owners={"wms": north, "wms-east": east},
        max_attempts=10,
        backoff_max_seconds=0.01,
        breaker={"threshold": 2, "reset_seconds": 20},
    )
    for _ in range(2):
        assert await worker.run_once() == 1
        outbox.clock.advance(0.01)
    assert north.answers == []  # down twice: its circuit is open

    await outbox.backorder(east_id, "k-circuit-east")
    outbox.clock.advance(0.01)
    assert await worker.run_once() == 2  # the north command is put off, the east one sent
    east_shown, east_command = await command_of(outbox, east_id)
    assert (east_shown["status"], east_command["status"]) == ("RESOLVED", "DELIVERED")
    assert east.received == [await key_of(outbox, east_id)]
    north_shown, north_command = await command_of(outbox, north_id)
    assert (north_command["status"], north_command["attempts"]) == ("PENDING", 2)
    assert north_shown["lastError"] == "circuit open for wms: not calling it for now"


async def test_a_claim_passes_over_a_command_leased_to_its_last_instant(
    outbox: Outbox, services: Services
) -> None:
    """One command a batch. The first dispatcher holds the longest-waiting command (its owner
    has not answered yet); a second one, at the lease's last instant, takes the next command
    rather than none."""
    first_id = await stand_in_short_pick(services)
    second_id = await stand_in_short_pick(services)
    await outbox.backorder(first_id, "k-last-1")
    await outbox.backorder(second_id, "k-last-2")
    held, prompt = HeldOwner(), PromptOwner()
    policy = {"lease_seconds": 30, "batch_size": 1}
    holder = outbox.dispatcher(owners={"wms": held}, worker="holder", **policy)
    holding = asyncio.ensure_future(holder.run_once())
    await held.reached(1, holding)
    clock = outbox.clock
    later = outbox.build_dispatcher(
        lambda: clock.at + timedelta(seconds=30), owners={"wms": prompt}, worker="later", **policy
    )
    assert await later.run_once() == 1
    assert prompt.received == [await key_of(outbox, second_id)]
    held.gate.set()
    assert await holding == 1
    assert [key for _, key in held.received] == [await key_of(outbox, first_id)]
    for exception_id in (first_id, second_id):
        assert (await command_of(outbox, exception_id))[1]["status"] == "DELIVERED"


class LookThenClaim:
    """A dispatcher's sessions with ``meanwhile`` run once its claim has looked for due
    commands and before it claims the first: what another dispatcher does in that window, made
    to happen there. On SQLite a claim is a look, then a conditional update per command;
    PostgreSQL claims in one statement (``FOR UPDATE SKIP LOCKED``) and has no such window."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        meanwhile: Callable[[], Awaitable[None]],
    ) -> None:
        self.sessions = sessions
        self.meanwhile = meanwhile
        self.opened = 0

    def __call__(self) -> Any:
        self.opened += 1
        return self._after_meanwhile() if self.opened == 2 else self.sessions()

    @contextlib.asynccontextmanager
    async def _after_meanwhile(self) -> AsyncIterator[AsyncSession]:
        await self.meanwhile()
        async with self.sessions() as session:
            yield session


def claims_in_one_statement(database_url: str) -> bool:
    return database_url.startswith("postgresql")


async def test_a_command_delivered_by_another_dispatcher_after_the_look_is_not_sent_again(
    outbox: Outbox, services: Services, database_url: str
) -> None:
    if claims_in_one_statement(database_url):
        pytest.skip("PostgreSQL claims in one statement: nothing comes between look and claim")
    exception_id = await stand_in_short_pick(services)
    await outbox.backorder(exception_id, "k-raced-done")
    owner = PromptOwner()
    other = outbox.dispatcher(owners={"wms": owner}, worker="other")

    async def other_delivers() -> None:
        assert await other.run_once() == 1

    worker = outbox.dispatcher(owners={"wms": owner})
    worker.sessions = LookThenClaim(worker.sessions, other_delivers)  # type: ignore[assignment]
    assert await worker.run_once() == 0
    assert owner.received == [await key_of(outbox, exception_id)]  # sent once
    _, command = await command_of(outbox, exception_id)
    assert (command["status"], command["attempts"]) == ("DELIVERED", 1)


async def test_a_command_claimed_by_another_dispatcher_after_the_look_is_left_to_it(
    outbox: Outbox, services: Services, database_url: str
) -> None:
    """The other dispatcher's clock is a lease behind this one's: its lease ends at this
    one's very instant, and is still its own."""
    if claims_in_one_statement(database_url):
        pytest.skip("PostgreSQL claims in one statement: nothing comes between look and claim")
    exception_id = await stand_in_short_pick(services)
    await outbox.backorder(exception_id, "k-raced-held")
    held, prompt = HeldOwner(), PromptOwner()
    other = outbox.dispatcher(owners={"wms": held}, worker="other", lease_seconds=30)
    delivering: list[asyncio.Future[int]] = []

    async def other_claims() -> None:
        delivering.append(asyncio.ensure_future(other.run_once()))
        await held.reached(1, delivering[-1])

    clock = outbox.clock
    worker = outbox.build_dispatcher(
        lambda: clock.at + timedelta(seconds=30), owners={"wms": prompt}, lease_seconds=30
    )
    worker.sessions = LookThenClaim(worker.sessions, other_claims)  # type: ignore[assignment]
    assert await worker.run_once() == 0
    assert prompt.received == []
    held.gate.set()
    assert await delivering[0] == 1
    assert [key for _, key in held.received] == [await key_of(outbox, exception_id)]
    assert (await command_of(outbox, exception_id))[1]["status"] == "DELIVERED"


OPERATIONS = """
query($from: DateTime!, $to: DateTime!) {
  exceptionOperations(resolvedFrom: $from, resolvedTo: $to) { failed }
}
"""


async def test_a_refused_resolution_counts_as_failed_when_the_owner_refused_it(
    outbox: Outbox, services: Services
) -> None:
    """Asked now, refused by the owner three days later: the operations view counts the
    failure in the period of the refusal, not of the request."""
    exception_id = await stand_in_short_pick(services)
    await outbox.backorder(exception_id, "k-failed-late")
    clock = outbox.clock
    asked = clock.at
    clock.advance(timedelta(days=3).total_seconds())
    refused = clock.at
    second = timedelta(seconds=1)
    worker = outbox.dispatcher(owners={"wms": RefusingOwner("only 0 left")})

    async def failed(around: datetime) -> int:
        period = {"from": (around - second).isoformat(), "to": (around + second).isoformat()}
        body = await outbox.graph.query(OPERATIONS, **period)
        count: int = body["data"]["exceptionOperations"]["failed"]
        return count

    before = {"asked": await failed(asked), "refused": await failed(refused)}
    assert await worker.run_once() == 1
    shown, command = await command_of(outbox, exception_id)
    assert (shown["status"], shown["lastError"]) == ("RESOLUTION_FAILED", "only 0 left")
    assert command["status"] == "REJECTED"
    assert await failed(refused) == before["refused"] + 1
    assert await failed(asked) == before["asked"]


async def test_an_agents_change_read_before_a_refused_resolution_is_refused_after_it(
    outbox: Outbox, services: Services
) -> None:
    """Agent A reads the exception; agent B resolves it and the owner refuses. A's change,
    made on what it read, must not go through: the owner's answer moved the exception on, so
    the version A read is not the one it has now (on PostgreSQL A's read and write may have
    those transactions between them)."""
    exception_id = await stand_in_short_pick(services)
    (row_id,) = decode_global_id(exception_id, expected_type="Exception")[1]
    async with services.sessions() as session:
        read_by_a = await session.get(ExceptionRow, row_id)
        assert read_by_a is not None
        session.expunge(read_by_a)
    await outbox.backorder(exception_id, "k-b-resolves")
    assert await outbox.dispatcher(owners={"wms": RefusingOwner("only 0 left")}).run_once() == 1
    assert (await outbox.exception(exception_id))["status"] == "RESOLUTION_FAILED"
    async with services.sessions() as session, session.begin():
        moved = await _move(
            session,
            read_by_a,
            ExceptionStatus.ACKNOWLEDGED,
            actor="agent-a",
            note=None,
            now=outbox.clock.at,
        )
    assert moved is False
    assert (await outbox.exception(exception_id))["status"] == "RESOLUTION_FAILED"
