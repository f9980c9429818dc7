"""The conformance checks behind `omnigraph check-source` (omnigraph.sources.conformance).

The demo systems are the contract's reference implementations: every check passes against
each kind, schemathesis included. A deliberately broken shim (tests/fakes/broken_shim.py) breaks
one rule at a time, and exactly the check for that rule fails. Checks and shims talk over real
HTTP on loopback; the checks are synchronous, so they run in a thread beside the servers' loop.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.broken_shim import TOKEN, Fault, broken_shim, serve

from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.sources import conformance
from omnigraph.sources.conformance import (
    CHECKS,
    KINDS,
    CheckResult,
    Outcome,
    SchemathesisMissing,
    Shim,
    openapi_path,
    run_checks,
    schema_checks,
)

SEMANTIC = [check.name for check in CHECKS]
COMMAND_CHECKS = {check.name for check in CHECKS if check.sends_commands}
NOT_APPLICABLE = {
    "storefront": {"by-order-ref"},
    "erp": {"list-pages", "list-end"},
    "wms": set(),
    "payments": set(),
}

# a request may wait long on a loaded 2-core machine: a timeout would read as a failed check
SLOW_MACHINE = 60.0


@pytest.fixture(scope="module")
async def demo_with_token(world: DemoWorld) -> AsyncIterator[DemoSystems]:
    """Demo systems of this module's own: the command checks put records on their feeds."""
    async with DemoSystems(world, token=TOKEN) as systems:
        yield systems


def outcomes(results: list[CheckResult]) -> dict[str, Outcome]:
    return {result.name: result.outcome for result in results}


def failed(results: list[CheckResult]) -> set[str]:
    return {result.name for result in results if not result.passed}


def documented_operations(kind: str) -> list[str]:
    import yaml  # schemathesis' dependency

    spec = yaml.safe_load(openapi_path(kind).read_text())
    return [f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item]


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_demo_system_passes_every_check(
    demo_with_token: DemoSystems, kind: str
) -> None:
    results = await asyncio.to_thread(
        run_checks,
        demo_with_token.urls[kind],
        kind,
        token=TOKEN,
        commands=True,
        max_examples=3,
        timeout=SLOW_MACHINE,
    )
    assert [r for r in results if not r.passed] == [], "\n".join(
        f"{r.name}: {r.fix}" for r in results if not r.passed
    )
    schema_rows = [f"schema {operation}" for operation in documented_operations(kind)]
    assert [r.name for r in results] == schema_rows + SEMANTIC
    skipped = {r.name for r in results if r.outcome is Outcome.SKIP}
    assert skipped == NOT_APPLICABLE[kind]


async def test_checks_only_read_unless_commands_are_asked_for(
    demo_with_token: DemoSystems,
) -> None:
    url = demo_with_token.urls["wms"]
    async with httpx.AsyncClient(base_url=url) as client:
        before = (await client.get("/_commands")).json()["data"]
        results = await asyncio.to_thread(
            run_checks, url, "wms", token=TOKEN, max_examples=3, timeout=SLOW_MACHINE
        )
        after = (await client.get("/_commands")).json()["data"]
    assert after == before  # schemathesis and the semantic checks sent no command
    skipped = {r.name: r.fix for r in results if r.outcome is Outcome.SKIP}
    assert set(skipped) == COMMAND_CHECKS | {"schema POST /commands"}
    assert all("--commands" in why for why in skipped.values())
    assert failed(results) == set()


async def test_the_command_checks_resync_one_of_the_shims_own_records(
    demo_with_token: DemoSystems,
) -> None:
    url = demo_with_token.urls["erp"]
    async with httpx.AsyncClient(base_url=url) as client:
        before = len((await client.get("/_commands")).json()["data"])
        with Shim(url, "erp", TOKEN) as shim:
            results = await asyncio.to_thread(conformance.semantic_checks, shim, commands=True)
            sales_order = shim.sample_ids(shim.kind.collection("sales-orders"))[0]
        sent = (await client.get("/_commands")).json()["data"][before:]
    assert failed(results) == set()
    # command-replay's key, delivered twice and applied once; command-key-reuse's, whose other
    # body was refused (not counted); command-key-required's request never got that far
    assert [
        (
            entry["type"],
            entry["payload"],
            entry["status"],
            entry["deliveries"],
            entry["applications"],
        )
        for entry in sent
    ] == [
        ("record.resync", {"recordId": sales_order}, "accepted", 2, 1),
        ("record.resync", {"recordId": sales_order}, "accepted", 1, 1),
    ]


@pytest.mark.parametrize("kind", ["erp", "payments"])
async def test_each_generated_command_is_sent_under_a_key_of_its_own(
    world: DemoWorld, kind: str
) -> None:
    """An example's verdict may not hang on the examples before it: hypothesis repeats the
    values it generates, and a shim answers a key it has seen from memory (a replay, or 422
    with another body), so a repeated key made a failure that did not reproduce when replayed.
    Every command the desk received came once, under a key no other example used."""
    async with DemoSystems(world, token=TOKEN) as systems:
        url = systems.urls[kind]
        with Shim(url, kind, TOKEN, timeout=SLOW_MACHINE) as shim:
            results = await asyncio.to_thread(schema_checks, shim, commands=True, max_examples=5)
        async with httpx.AsyncClient(base_url=url) as client:
            received = (await client.get("/_commands")).json()["data"]
    assert outcomes(results)["schema POST /commands"] is Outcome.PASS
    assert len(received) >= 5  # the valid examples reached the desk
    assert {entry["deliveries"] for entry in received} == {1}
    assert all(entry["idempotencyKey"].startswith("omnigraph-conformance-") for entry in received)


@pytest.mark.parametrize(
    ("kind", "collection", "found_in"),
    [("erp", "items", "sales order lines"), ("payments", "refunds", "charges")],
)
async def test_records_are_found_on_lists_the_feed_and_inside_other_records(
    demo_with_token: DemoSystems, kind: str, collection: str, found_in: str
) -> None:
    with Shim(demo_with_token.urls[kind], kind, TOKEN) as shim:
        samples = await asyncio.to_thread(lambda: shim.samples)
    assert len(samples[collection]) == conformance.SAMPLES, found_in
    assert all(samples.values())  # something of every collection, disputes included
    # ids found inside other records are real: batch get serves every one
    ids = [record[KINDS[kind].collection(collection).id_field] for record in samples[collection]]
    async with httpx.AsyncClient(
        base_url=demo_with_token.urls[kind], headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        answer = (await client.post(f"/{collection}/batch", json={"ids": ids})).json()
    assert answer["missing"] == []


async def test_the_unbroken_shim_passes_everything(world: DemoWorld) -> None:
    """The broken shim's own plumbing breaks nothing: every failure below is its fault's."""
    async with serve(broken_shim(world, Fault.NONE)) as url:
        results = await asyncio.to_thread(
            run_checks,
            url,
            "payments",
            token=TOKEN,
            commands=True,
            max_examples=3,
            timeout=SLOW_MACHINE,
        )
    assert [r for r in results if r.outcome is not Outcome.PASS] == []


# What each fault's "what to fix" sentence must say.
FIXES = {
    Fault.HEALTH: 'GET /health must answer {"status": "ok", "kind": "payments"',
    Fault.AUTH: "GET /changes with a wrong bearer token must be answered 401; it was 200",
    Fault.BATCH_MISSING: "must list an id it does not hold in `missing`",
    Fault.BATCH_LIMIT: "with 501 ids must be answered 400..499; it was 200",
    Fault.BY_ORDER_REF: "must answer only records carrying an asked `metadata.order_ref`",
    Fault.LIST_PAGES: "GET /payouts must give the same page for the same cursor",
    Fault.LIST_END: "GET /payouts must give nextCursor null on the last page",
    Fault.CHANGES_ORDER: "GET /changes must give events in increasing sequence order",
    Fault.CHANGES_END: "GET /changes must say hasMore false on its last page",
    Fault.CHANGES_START: "GET /changes without `after` must start at the beginning of the feed",
    Fault.ERRORS: "GET /conformance-no-such-route-",
    Fault.COMMAND_REPLAY: "must mark a replayed answer with the header Idempotent-Replayed: true",
    Fault.COMMAND_KEY_REUSE: "reusing an Idempotency-Key with another body must be answered 422",
    Fault.COMMAND_KEY_REQUIRED: "without an Idempotency-Key header must be answered 400..499",
}


@pytest.mark.parametrize("fault", list(FIXES), ids=str)
async def test_each_broken_rule_fails_its_check_and_no_other(
    world: DemoWorld, fault: Fault
) -> None:
    async with serve(broken_shim(world, fault)) as url:
        results = await asyncio.to_thread(
            run_checks, url, "payments", token=TOKEN, commands=True, schema=False
        )
    assert [r.name for r in results] == SEMANTIC
    assert failed(results) == {fault.value}, [r for r in results if not r.passed]
    assert set(outcomes(results).values()) == {Outcome.PASS, Outcome.FAIL}
    (broken,) = [r for r in results if not r.passed]
    assert FIXES[fault] in broken.fix


async def test_the_schema_checks_catch_a_record_off_its_schema(world: DemoWorld) -> None:
    async with serve(broken_shim(world, Fault.SCHEMA)) as url:
        results = await asyncio.to_thread(
            run_checks, url, "payments", token=TOKEN, max_examples=3, timeout=SLOW_MACHINE
        )
    assert failed(results) == {"schema GET /payouts"}, "\n".join(
        f"{r.name}: {r.fix}" for r in results if not r.passed
    )
    (broken,) = [r for r in results if not r.passed]
    assert "Response violates schema" in broken.fix
    assert "curl -X GET" in broken.fix  # how to reproduce it


async def test_a_failure_that_does_not_repeat_is_reported_with_its_cause(
    world: DemoWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops once, on a `GET /health` example: hypothesis repeats the example,
    it passes, and hypothesis reports the run as unreliable; the result says what the first
    failure was (the connection), not only that the run was unreliable."""
    dropped = [False]
    call_case = conformance._call_case

    def drop_once(case: Any, **options: Any) -> None:
        if case.path == "/health" and not dropped[0]:
            dropped[0] = True
            raise ConnectionResetError("Connection reset by peer")
        call_case(case, **options)

    monkeypatch.setattr(conformance, "_call_case", drop_once)
    async with serve(broken_shim(world, Fault.NONE)) as url:
        with Shim(url, "payments", TOKEN, timeout=SLOW_MACHINE) as shim:
            results = await asyncio.to_thread(schema_checks, shim, max_examples=3)
    (health,) = [r for r in results if r.name == "schema GET /health"]
    assert health.outcome is Outcome.FAIL
    assert "unreliable" in health.fix
    assert "first failure: ConnectionResetError: Connection reset by peer" in health.fix, health.fix
    assert failed(results) == {"schema GET /health"}


async def test_without_a_token_the_auth_check_is_skipped(world: DemoWorld) -> None:
    async with serve(broken_shim(world, Fault.NONE, token=None)) as url:
        results = await asyncio.to_thread(run_checks, url, "payments", schema=False)
    skipped = {r.name: r.fix for r in results if r.outcome is Outcome.SKIP}
    assert set(skipped) == {"auth"} | COMMAND_CHECKS
    assert "no token given" in skipped["auth"]
    assert failed(results) == set()


def test_a_shim_that_does_not_answer_fails_with_why() -> None:
    with socket.socket() as sock:  # a port nothing listens on once this block closes it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    results = run_checks(f"http://127.0.0.1:{port}", "wms", schema=False)
    health = outcomes(results)["health"]
    assert health is Outcome.FAIL
    assert "GET /health got no answer (ConnectError" in results[0].fix


def test_schema_checks_say_how_to_install_schemathesis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "schemathesis", None)  # import schemathesis fails
    with Shim("http://127.0.0.1:9", "wms") as shim, pytest.raises(SchemathesisMissing) as raised:
        schema_checks(shim)
    assert "pip install 'omnigraph[conformance]'" in str(raised.value)
    assert "--no-schema" in str(raised.value)


# -- the OpenAPI files --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_checkout_finds_the_openapi_files_in_docs_sources(repo_root: Path, kind: str) -> None:
    assert openapi_path(kind) == repo_root / "docs" / "sources" / f"{kind}.yaml"


def test_an_installed_wheel_finds_its_own_copy_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = tmp_path / "omnigraph" / "sources" / "openapi"
    packaged.mkdir(parents=True)
    (packaged / "wms.yaml").write_text("openapi: 3.0.3\n")
    monkeypatch.setattr(conformance, "_PACKAGED", packaged)
    assert openapi_path("wms") == packaged / "wms.yaml"
    monkeypatch.setattr(conformance, "_REPOSITORY", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"erp\.yaml is neither in"):
        openapi_path("erp")
    with pytest.raises(ValueError, match="unknown source kind"):
        openapi_path("crm")


def test_the_wheel_carries_every_kinds_openapi_file(repo_root: Path) -> None:
    """pyproject's force-include puts docs/sources/<kind>.yaml where openapi_path looks."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())
    included = project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    packaged = Path(conformance.__file__).parent.relative_to(repo_root / "src") / "openapi"
    assert included == {f"docs/sources/{kind}.yaml": f"{packaged}/{kind}.yaml" for kind in KINDS}
    assert all((repo_root / source).is_file() for source in included)
    assert "schemathesis" in project["project"]["optional-dependencies"]["conformance"][0]


def test_the_docs_explain_every_check(repo_root: Path) -> None:
    readme = (repo_root / "docs" / "sources" / "README.md").read_text()
    section = readme.split("## Checking a shim", 1)[1]
    explained = re.findall(r"^\| `([a-z][a-z-]*)` \|", section, flags=re.MULTILINE)
    assert explained == [check.name for check in CHECKS]
