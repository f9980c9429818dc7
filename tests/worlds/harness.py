"""Run omnigraph's detection against a generated world served over HTTP, and score it.

Detection is what the service runs in its workers: the disagreement detector over every order
(through a ``SourceRegistry``), the inventory ledger reader and the drift monitor, the WMS's
exception reports, and the payments sync, reconciler and return sweep. Everything runs twice:
the second pass must raise nothing new (a duplicate counts against precision).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.db.models import ExceptionRow, ReconciliationLineRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.source_reports import SourceReportReader
from omnigraph.inventory.drift import DriftMonitor
from omnigraph.inventory.ledger import LedgerReader
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.detector import DisagreementDetector
from omnigraph.payouts.reconciler import Reconciler
from omnigraph.payouts.returns import ReturnSweep
from omnigraph.payouts.sync import PaymentsReader
from omnigraph.settings import SourcesConfig
from omnigraph.sources.registry import SourceRegistry
from tests.conftest import make_settings

from .generator import DRIFT_GRACE, RETURN_GRACE, World, build_world
from .servers import ContractServers

NAMES = {"storefront": "gen-store", "erp": "gen-erp", "wms": "gen-wms", "payments": "gen-psp"}


def sources_config(urls: dict[str, str]) -> SourcesConfig:
    return SourcesConfig.model_validate(
        {"sources": [{"name": NAMES[k], "kind": k, "base_url": url} for k, url in urls.items()]}
    )


async def migrated_template(path: Path) -> Path:
    """A database migrated once; each world starts from a copy of it."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()
    return path


def exception_key(row: ExceptionRow) -> str:
    """What an exception is about, in the ground truth's terms."""
    details: dict[str, Any] = row.details or {}
    if row.kind == "PRICE_DISAGREEMENT" and "sku" in details:  # a line's price: which line
        line = "" if details.get("lineNo") else " (no line number)"
        return f"{row.order_ref}|lines[{details['sku']}].unitPrice{line}"
    if row.kind in ("STATE_DISAGREEMENT", "LATE_CANCELLATION", "PRICE_DISAGREEMENT"):
        return f"{row.order_ref}|{details.get('field')}"
    if row.kind == "INVENTORY_DRIFT":
        return row.subject
    if row.kind in ("SHORT_PICK", "DAMAGE", "MISSED_PICKUP"):
        return str(details.get("id"))
    if row.kind == "PAYOUT_MISMATCH":
        return str(details.get("payoutId"))
    if row.kind == "AMOUNT_MISMATCH":  # about a refund, or else a charge
        return str(details.get("refundId") or details.get("chargeId"))
    if row.kind == "REFUND_WITHOUT_RETURN":
        return str(details.get("refundId"))
    if row.kind == "RETURN_WITHOUT_REFUND":
        return str(details.get("returnId"))
    return row.subject


@dataclass
class Raised:
    kind: str
    key: str
    summary: str
    subject: str = ""
    subject_type: str = ""
    order: str | None = None  # "source:ref" of the order it is about, when it names one


@dataclass
class Outcome:
    world: World
    raised: list[Raised]
    lines: dict[str, str]  # flagged reconciliation lines: key -> status
    new_on_second_pass: int
    requests: dict[str, Counter[str]] = field(default_factory=dict)


def registry_for(servers: ContractServers, database_url: str) -> SourceRegistry:
    """One registry for every world the servers serve (no record cache: each world is new)."""
    return SourceRegistry(sources_config(servers.urls), make_settings(database_url))


async def detect(
    world: World,
    servers: ContractServers,
    registry: SourceRegistry,
    template: Path,
    workdir: Path,
) -> Outcome:
    database = workdir / f"world-{world.seed}.sqlite3"
    shutil.copyfile(template, database)
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    sessions = create_session_factory(engine)
    servers.load(world)
    catalogue, rules = ExceptionCatalogue.load(), AuthorityRules.load()
    now = world.now
    moment = [now]

    def clock() -> datetime:
        return moment[0]

    counts: list[int] = []
    try:
        for _ in range(2):
            moment[0] = now
            detector = DisagreementDetector(sessions, registry, rules, catalogue, page_size=15)
            await detector.scan(now=now)
            await LedgerReader(sessions, registry, page_size=120, clock=clock).sync_once()
            drift = DriftMonitor(sessions, registry, catalogue, grace=DRIFT_GRACE, clock=clock)
            await drift.check()
            moment[0] = now + DRIFT_GRACE + timedelta(minutes=1)
            await drift.check()
            moment[0] = now
            await SourceReportReader(sessions, registry, catalogue, page_size=150).sync_once()
            await PaymentsReader(sessions, registry, page_size=40, clock=clock).sync_once()
            await Reconciler(sessions, registry, catalogue, clock=clock).reconcile_pending()
            await ReturnSweep(
                sessions, registry, catalogue, grace=RETURN_GRACE, clock=clock
            ).sweep()
            async with sessions() as session:
                counts.append(len(list(await session.scalars(select(ExceptionRow.id)))))
        async with sessions() as session:
            rows = list(await session.scalars(select(ExceptionRow)))
            lines = {
                line.key: line.status
                for line in await session.scalars(
                    select(ReconciliationLineRow).where(ReconciliationLineRow.status != "MATCHED")
                )
            }
    finally:
        await engine.dispose()
        database.unlink(missing_ok=True)
    return Outcome(
        world=world,
        raised=[
            Raised(
                r.kind,
                exception_key(r),
                r.summary,
                r.subject,
                r.subject_type,
                f"{r.order_source}:{r.order_ref}" if r.order_source and r.order_ref else None,
            )
            for r in rows
        ],
        lines=lines,
        new_on_second_pass=counts[1] - counts[0],
        requests=servers.requests(),
    )


@dataclass
class Tally:
    planted: int = 0
    raised: int = 0
    hits: int = 0
    misses: list[str] = field(default_factory=list)
    false: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.hits / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return self.hits / self.raised if self.raised else 1.0


def score(outcomes: list[Outcome]) -> tuple[dict[str, Tally], dict[str, Tally]]:
    """Recall and precision per exception kind, and per flagged reconciliation-line status."""
    kinds: dict[str, Tally] = {}
    statuses: dict[str, Tally] = {}
    for outcome in outcomes:
        seed = outcome.world.seed
        expected = {(e.kind, e.key): e.scenario for e in outcome.world.expected}
        for kind, _ in expected:
            kinds.setdefault(kind, Tally()).planted += 1
        seen: set[tuple[str, str]] = set()
        for raised in outcome.raised:
            tally = kinds.setdefault(raised.kind, Tally())
            tally.raised += 1
            pair = (raised.kind, raised.key)
            if pair in expected and pair not in seen:
                tally.hits += 1
                seen.add(pair)
            else:
                why = "duplicate" if pair in seen else "not planted"
                tally.false.append(f"world {seed}: {raised.key} ({why}): {raised.summary}")
        for pair, scenario in expected.items():
            if pair not in seen:
                kinds[pair[0]].misses.append(f"world {seed}: {pair[1]} ({scenario})")
        for status in outcome.world.expected_lines.values():
            statuses.setdefault(status, Tally()).planted += 1
        for key, status in outcome.lines.items():
            tally = statuses.setdefault(status, Tally())
            tally.raised += 1
            if outcome.world.expected_lines.get(key) == status:
                tally.hits += 1
            else:
                tally.false.append(f"world {seed}: {key} flagged {status}")
        for key, status in outcome.world.expected_lines.items():
            got = outcome.lines.get(key, "MATCHED")
            if got != status:
                statuses[status].misses.append(f"world {seed}: {key} expected {status}, got {got}")
    return kinds, statuses


def table(title: str, tallies: dict[str, Tally]) -> str:
    rows = [
        f"{title:<24} {'planted':>8} {'raised':>7} {'found':>6} {'recall':>8} {'precision':>10}"
    ]
    for name, t in sorted(tallies.items()):
        rows.append(
            f"{name:<24} {t.planted:>8} {t.raised:>7} {t.hits:>6}"
            f" {t.recall:>8.1%} {t.precision:>10.1%}"
        )
    return "\n".join(rows)


def report(outcomes: list[Outcome]) -> str:
    kinds, statuses = score(outcomes)
    benign: Counter[str] = Counter()
    planted: Counter[str] = Counter()
    for outcome in outcomes:
        benign.update(outcome.world.benign)
        planted.update(outcome.world.planted)
    parts = [
        f"{len(outcomes)} generated worlds, {sum(len(o.world.orders) for o in outcomes)} orders",
        table("exception kind", kinds),
        table("reconciliation line", statuses),
        "planted: " + ", ".join(f"{k} {v}" for k, v in sorted(planted.items())),
        "benign: " + ", ".join(f"{k} {v}" for k, v in sorted(benign.items())),
    ]
    problems = [
        f"{name}: {entry}"
        for tallies in (kinds, statuses)
        for name, t in sorted(tallies.items())
        for entry in (*(f"MISSED {m}" for m in t.misses), *(f"FALSE {f}" for f in t.false))
    ]
    if problems:
        parts.append("problems:\n  " + "\n  ".join(problems))
    return "\n\n".join(parts)


async def measure(
    seeds: Sequence[int], workdir: Path, *, pending: bool = False
) -> tuple[list[Outcome], str]:
    """Build, serve and detect every world of ``seeds`` (with the cases the service cannot
    find yet when ``pending``); the outcomes and their report."""
    template = await migrated_template(workdir / "template.sqlite3")
    outcomes = []
    async with ContractServers() as servers:
        registry = registry_for(servers, f"sqlite+aiosqlite:///{template}")
        try:
            for seed in seeds:
                world = build_world(seed, pending=pending)
                outcomes.append(await detect(world, servers, registry, template, workdir))
        finally:
            await registry.aclose()
    return outcomes, report(outcomes)
