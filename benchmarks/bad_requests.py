"""Bad requests as a client or an attacker sends them (issue 18, points 4 to 7): what each gets.

Runs the service in-process (no network: ``httpx.ASGITransport``) in development and in
production mode, against the demo source systems on loopback, with a temporary SQLite database,
and prints one line per request: the HTTP status, the content type, the first error's code and
whether that is what the point asks for (a coded JSON 4xx, a client mistake coded
``BAD_USER_INPUT`` or more precisely, no internal text in production, ``Accept`` honoured), then
the count of those that hold, per mode::

    PYTHONPATH=src .venv/bin/python benchmarks/bad_requests.py

Bounded: about 60 requests per mode, each answered in milliseconds.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from omnigraph.app import BACKGROUND_SWITCHES, create_app, demo_sources_config
from omnigraph.demo import DemoSystems, build_world
from omnigraph.security import api_keys
from omnigraph.security.principal import Role
from omnigraph.settings import Settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }"
Check = Callable[[httpx.Response], bool]


def error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return None
    return str((errors[0].get("extensions") or {}).get("code"))


def coded_4xx(status: int) -> Check:
    def check(response: httpx.Response) -> bool:
        return (
            response.status_code == status
            and response.headers.get("content-type", "").startswith("application/json")
            and error_code(response) not in (None, "INTERNAL_SERVER_ERROR")
        )

    return check


CLIENT_CODES = {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED", "INVALID_ID"}


def client_mistake(response: httpx.Response) -> bool:
    """Coded as the client's mistake: not an internal error, masked or not, nor a source's."""
    return error_code(response) in CLIENT_CODES


def no_internal_text(*leaks: str) -> Check:
    def check(response: httpx.Response) -> bool:
        return error_code(response) is not None and not any(leak in response.text for leak in leaks)

    return check


@dataclass(frozen=True)
class Case:
    point: int
    name: str
    method: str
    path: str
    check: Check
    content: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    # masking is production's: development shows an unexpected error's text on purpose
    production_only: bool = False


def post(point: int, name: str, body: Any, check: Check, **headers: str) -> Case:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Case(
        point,
        name,
        "POST",
        "/graphql",
        check,
        content,
        (("content-type", "application/json"), *headers.items()),
    )


def query(text: str, **variables: Any) -> dict[str, Any]:
    return {"query": text, "variables": variables}


CASES = [
    post(4, "body null", b"null", coded_4xx(400)),
    post(4, "body string", b'"{ __typename }"', coded_4xx(400)),
    post(4, "body number", b"1", coded_4xx(400)),
    post(4, "body array of numbers", b"[1, 2]", coded_4xx(400)),
    post(4, "body not UTF-8", b'{"query": "{ __typename \xff }"}', coded_4xx(400)),
    post(4, "body UTF-16", '{"query": "{ __typename }"}'.encode("utf-16"), coded_4xx(400)),
    post(4, "array nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, coded_4xx(400)),
    post(
        4,
        "variables nested 100,000 deep",
        b'{"query": "{ __typename }", "variables": {"v": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}}",
        coded_4xx(400),
    ),
    *(Case(4, f"{m} /graphql", m, "/graphql", coded_4xx(405)) for m in ("PUT", "DELETE", "PATCH")),
    Case(4, "DELETE /healthz", "DELETE", "/healthz", coded_4xx(405)),
    Case(4, "PUT /examples", "PUT", "/examples", coded_4xx(405)),
    Case(4, "GET /nowhere", "GET", "/nowhere", coded_4xx(404)),
    post(
        5,
        '"abc" for Int!',
        query(
            "query($n: Int!) { orders(first: $n) { edges { node { id } } } }",
            n="abc",
        ),
        client_mistake,
    ),
    post(
        5,
        "naive DateTime variable",
        query(
            "query($d: DateTime) { exceptionOperations(resolvedFrom: $d) { asOf } }",
            d="2026-11-01T00:00:00",
        ),
        client_mistake,
    ),
    post(
        5,
        "naive DateTime literal",
        query('{ exceptionOperations(resolvedFrom: "2026-11-01T00:00:00") { asOf } }'),
        client_mistake,
    ),
    post(
        5,
        "naive openedBefore",
        query(
            "query($d: DateTime) { exceptions(first: 1, filter: {openedBefore: $d})"
            " { edges { node { id } } } }",
            d="2026-11-01T00:00:00",
        ),
        client_mistake,
    ),
    post(
        5,
        "naive placedFrom",
        query(
            "query($d: DateTime) { orders(first: 1, filter: {placedFrom: $d})"
            " { edges { node { id } } } }",
            d="2026-11-01",
        ),
        client_mistake,
    ),
    post(5, "_entities without __typename", query(ENTITIES, r=[{"id": "x"}]), client_mistake),
    post(
        5,
        "_entities unknown type",
        query(ENTITIES, r=[{"__typename": "Nope", "id": "x"}]),
        client_mistake,
    ),
    post(5, "_entities not objects", query(ENTITIES, r=["x", 1]), client_mistake),
    post(5, "_entities without key", query(ENTITIES, r=[{"__typename": "Order"}]), client_mistake),
    post(
        5,
        "_entities key of a wrong type",
        query(ENTITIES, r=[{"__typename": "Order", "id": 5}]),
        client_mistake,
    ),
    post(
        5,
        "_entities of a value type",
        query(ENTITIES, r=[{"__typename": "Money", "amount": "1"}]),
        client_mistake,
    ),
    post(
        5,
        "sku filter of 100,000 characters",
        query(
            "query($s: String) { orders(first: 1, filter: {sku: $s}) { edges { node { id } } } }",
            s="x" * 100_000,
        ),
        client_mistake,
    ),
    post(
        5,
        "channel filter of 100,000 characters",
        query(
            "query($s: String) { orders(first: 1, filter: {channel: $s})"
            " { edges { node { id } } } }",
            s="x" * 100_000,
        ),
        client_mistake,
    ),
    post(
        6,
        "lone surrogate in the query",
        b'{"query": "{ __typename \\ud800 }"}',
        no_internal_text("codec", "surrogates not allowed"),
    ),
    replace(
        post(6, "unknown fragment", query("query { ...Nope }"), no_internal_text("'Nope'")),
        production_only=True,
    ),
    post(
        7,
        "Accept graphql-response+json, invalid document",
        query("{ nope }"),
        lambda r: (
            r.status_code == 400
            and r.headers.get("content-type", "").startswith(GRAPHQL_RESPONSE)
            and "data" not in r.json()
        ),
        accept=GRAPHQL_RESPONSE,
    ),
    post(
        7,
        "Accept graphql-response+json, valid",
        query("{ __typename }"),
        lambda r: (
            r.status_code == 200 and r.headers.get("content-type", "").startswith(GRAPHQL_RESPONSE)
        ),
        accept=GRAPHQL_RESPONSE,
    ),
    post(
        7,
        "Accept application/json, invalid document",
        query("{ nope }"),
        lambda r: (
            r.status_code == 200
            and r.headers.get("content-type", "").startswith("application/json")
        ),
        accept="application/json",
    ),
    post(7, "Accept text/html only", query("{ __typename }"), coded_4xx(406), accept="text/html"),
]


def log_has_locals(log: str) -> bool:
    return '"locals"' in log or "locals =" in log


async def run_mode(demo: DemoSystems, database_url: str, mode: str) -> tuple[int, int]:
    app = create_app(
        Settings(
            database_url=database_url,
            mode=mode,
            **dict.fromkeys(BACKGROUND_SWITCHES, False),
        ),
        sources=demo_sources_config(demo.urls),
    )
    held = 0
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnigraph") as client:
            if mode == "production":
                issued = await api_keys.create_key(
                    app.state.services.sessions,
                    name="bad-requests",
                    roles=frozenset(Role),
                    channel=None,
                    now=datetime.now(UTC),
                )
                client.headers["Authorization"] = f"Bearer {issued.secret}"
            for case in (c for c in CASES if mode == "production" or not c.production_only):
                response = await client.request(
                    case.method, case.path, content=case.content, headers=dict(case.headers)
                )
                ok = case.check(response)
                held += ok
                kind = response.headers.get("content-type", "-").split(";")[0]
                print(
                    f"{mode:11} p{case.point} {case.name:50} {response.status_code} {kind:34}"
                    f" {error_code(response) or '-':28} {'ok' if ok else 'NO'}"
                )
    return held, sum(1 for c in CASES if mode == "production" or not c.production_only)


async def main() -> None:
    from omnigraph.observability.logging import configure_logging

    stream = io.StringIO()
    configure_logging("json", stream=stream)
    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'omnigraph.sqlite3'}"
        async with DemoSystems(build_world(seed=7, orders=40)) as demo:
            totals = {
                mode: await run_mode(demo, url, mode) for mode in ("development", "production")
            }
    for mode, (held, count) in totals.items():
        print(f"{mode}: {held} of {count} bad requests answered as points 4-7 ask")
    locals_logged = log_has_locals(stream.getvalue())
    print(f"JSON log lines carry frame locals: {'yes' if locals_logged else 'no'}")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
