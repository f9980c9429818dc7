"""Concurrent reservations against a real ``omnigraph serve``: every answer counted, and the
ledger compared with the answers.

    .venv/bin/python benchmarks/concurrent_reservations.py [--reservations 305] [--threads 32]
        [--database-url URL] [--execution-timeout 30]

Starts ``omnigraph serve`` on a loopback port (development mode, the built-in demo systems, the
background workers on, as ``serve`` runs by default) on a fresh SQLite file, or on
``--database-url`` (a PostgreSQL database the script may write to), seeds one position with
room for every reservation, then sends ``--reservations`` ``reserveInventory`` mutations (one
unit each, each with its own idempotency key) from ``--threads`` client threads. It prints, as
JSON, what the clients were told (reserved, each error code, transport failures), what the
database holds (reservations of the SKU, units, idempotency keys) and the differences: a
reservation stored whose client was told something else (applied anyway), or one a client was
told about that is not stored (lost).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from processes import stop, wait_until_up
from sqlalchemy import func, select

from omnigraph.db.engine import create_engine, create_session_factory
from omnigraph.db.models import IdempotencyKeyRow, ReservationRow

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers import fresh_position

__all__ = ["main"]

SKU = "SKU-CONCURRENT-LOAD"
RESERVE = """
mutation($input: ReserveInventoryInput!) {
  reserveInventory(input: $input) { reservationId userErrors { code } }
}
"""


@contextmanager
def serving(database_url: str, execution_timeout: float) -> Iterator[str]:
    with socket.socket() as probe:  # a loopback port nothing listens on now
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {
        **os.environ,
        "OMNIGRAPH_DATABASE_URL": database_url,
        "OMNIGRAPH_HOST": "127.0.0.1",
        "OMNIGRAPH_PORT": str(port),
        "OMNIGRAPH_LOG_LEVEL": "error",
        "OMNIGRAPH_EXECUTION_TIMEOUT_SECONDS": str(execution_timeout),
    }
    omnigraph = shutil.which("omnigraph", path=str(Path(sys.executable).parent)) or "omnigraph"
    process = subprocess.Popen([omnigraph, "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/readyz", process, 120)
        yield url
    finally:
        stop(process, 30)


async def seed(database_url: str, units: int) -> None:
    """One position at dc-north with room for ``units`` web reservations (and none left)."""
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            # on hand only: safety stock and ring-fences stay far away
            await fresh_position(session, SKU, on_hand=units + 1_000)
    finally:
        await engine.dispose()


async def stored(database_url: str) -> dict[str, Any]:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            count, units = (
                await session.execute(
                    select(func.count(), func.coalesce(func.sum(ReservationRow.quantity), 0)).where(
                        ReservationRow.sku == SKU
                    )
                )
            ).one()
            keys = {
                row.key: str(row.response["reservationId"])
                for row in await session.scalars(
                    select(IdempotencyKeyRow).where(
                        IdempotencyKeyRow.scope == "reserveInventory",
                        IdempotencyKeyRow.key.like(f"{SKU}:%"),
                    )
                )
            }
            return {"reservations": int(count), "units": int(units), "keys": keys}
    finally:
        await engine.dispose()


def reserve(url: str, key: str) -> tuple[str, str | None]:
    """What the client was told: ``("reserved", id)``, an error or user-error code, or the
    transport failure."""
    variables = {
        "input": {
            "sku": SKU,
            "locationId": "dc-north",
            "channel": "web",
            "quantity": 1,
            "ttlSeconds": 3600,
            "idempotencyKey": key,
        }
    }
    try:
        response = httpx.post(
            f"{url}/graphql", json={"query": RESERVE, "variables": variables}, timeout=300
        )
    except httpx.TransportError as error:
        return f"transport:{type(error).__name__}", None
    if response.status_code != 200:
        return f"http:{response.status_code}", None
    body = response.json()
    if body.get("errors"):
        extensions = body["errors"][0].get("extensions") or {}
        code = str(extensions.get("code"))
        if "applied" in extensions:
            code += f" (applied: {str(extensions['applied']).lower()})"
        return code, None
    answer = body["data"]["reserveInventory"]
    if answer["userErrors"]:
        return "userError:" + answer["userErrors"][0]["code"], None
    return "reserved", str(answer["reservationId"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reservations", type=int, default=305)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--execution-timeout", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database_url = args.database_url or f"sqlite+aiosqlite:///{folder}/omnigraph.sqlite3"
        with serving(database_url, args.execution_timeout) as url:
            asyncio.run(seed(database_url, args.reservations))
            keys = [f"{SKU}:{i}" for i in range(args.reservations)]
            started = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                answers = dict(zip(keys, pool.map(lambda k: reserve(url, k), keys), strict=True))
            wall = time.perf_counter() - started
        database = asyncio.run(stored(database_url))
    told = collections.Counter(outcome for outcome, _ in answers.values())
    reserved = {key for key, (outcome, _) in answers.items() if outcome == "reserved"}
    in_database = set(database["keys"])
    report = {
        "reservations": args.reservations,
        "threads": args.threads,
        "database": "sqlite" if args.database_url is None else "given url",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(wall, 1),
        "answers": dict(sorted(told.items())),
        "errors": args.reservations - told["reserved"],
        "stored_reservations": database["reservations"],
        "stored_units": database["units"],
        "applied_but_told_otherwise": sorted(
            (key, answers[key][0]) for key in in_database - reserved
        ),
        "told_reserved_but_not_stored": sorted(reserved - in_database),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
