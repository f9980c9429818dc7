"""An export's life as its owner sees it: limited per key, cancelled, resumed after its runner
dies, downloaded in ranges by its key only, deleted once its retention ends."""

from __future__ import annotations

from typing import Any

import orjson
from strawberry.types import ExecutionResult

from omnigraph.bulk.operations import bulk_operation_key
from omnigraph.bulk.resolvers import BulkCaller
from omnigraph.bulk.runner import BulkCleanup
from omnigraph.bulk.store import BulkFiles
from omnigraph.graph.context import RequestContext
from omnigraph.security import api_keys
from omnigraph.security.principal import Role
from tests.bulk.conftest import CANCEL, CLAIM_SECONDS, RETENTION_SECONDS, Bulk
from tests.bulk.test_exports import ORDERS_EXPORT, listing, shopify_rows
from tests.conftest import Sources

EXCEPTIONS_EXPORT = "{ exceptions { edges { node { id kind status } } } }"


def row_id(operation: dict[str, Any]) -> str:
    return bulk_operation_key(operation["id"])


async def cleanup(bulk: Bulk) -> None:
    services = bulk.services
    await BulkCleanup(services.sessions, services.get(BulkFiles), clock=services.now).step()


async def test_a_key_has_at_most_two_exports_under_way_and_a_key_replays_its_export(
    bulk: Bulk,
) -> None:
    token = await bulk.key(Role.REPORTING)
    first = await bulk.start(token, ORDERS_EXPORT, key="first")
    second = await bulk.start(token, EXCEPTIONS_EXPORT, key="second")
    third = await bulk.start(token, EXCEPTIONS_EXPORT, key="third")
    assert [e["code"] for e in third["userErrors"]] == ["BULK_LIMIT_REACHED"]
    assert third["bulkOperation"] is None
    # the same key and input answer the export it started; other input is refused
    again = await bulk.start(token, ORDERS_EXPORT, key="first")
    assert again["bulkOperation"]["id"] == first["bulkOperation"]["id"]
    reused = await bulk.start(token, ORDERS_EXPORT, "CSV", key="second")
    assert [e["code"] for e in reused["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]
    # another key has its own allowance
    other = await bulk.key(Role.REPORTING)
    assert (await bulk.start(other, EXCEPTIONS_EXPORT))["userErrors"] == []
    # one ended, one more may start
    cancelled = await bulk.query(token, CANCEL, id=second["bulkOperation"]["id"])
    assert cancelled["data"]["cancelBulkOperation"]["bulkOperation"]["status"] == "CANCELED"
    assert (await bulk.start(token, EXCEPTIONS_EXPORT, key="third"))["userErrors"] == []


async def test_a_cancelled_export_stops_and_nothing_of_it_is_served(bulk: Bulk) -> None:
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    runner = bulk.runner()
    await runner.step()
    await runner.step()
    cancelled = (await bulk.query(token, CANCEL, id=operation["id"]))["data"]
    assert cancelled["cancelBulkOperation"]["bulkOperation"] == {
        "id": operation["id"],
        "status": "CANCELED",
        "url": None,
    }
    await bulk.run(runner)  # the runner finds it cancelled at its next page and stops
    status = await bulk.status(token, operation["id"])
    assert (status["status"], status["rootObjectCount"], status["url"]) == ("CANCELED", "80", None)
    url = f"/bulk/{operation['id']}/file"
    refused = await bulk.download(token, url)
    assert (refused.status_code, refused.json()["errors"][0]["extensions"]["code"]) == (
        409,
        "BULK_NOT_COMPLETED",
    )
    assert bulk.files_of(row_id(operation))  # the partial spool, until the cleanup
    await cleanup(bulk)
    assert bulk.files_of(row_id(operation)) == []
    again = (await bulk.query(token, CANCEL, id=operation["id"]))["data"]["cancelBulkOperation"]
    assert [e["code"] for e in again["userErrors"]] == ["BULK_OPERATION_FINISHED"]


async def test_an_export_whose_runner_died_resumes_from_its_last_page_elsewhere(
    bulk: Bulk,
) -> None:
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    doomed = bulk.runner("replica-a")
    for _ in range(3):
        await doomed.step()
    assert (await bulk.status(token, operation["id"]))["rootObjectCount"] == "120"
    # replica A dies in the middle of writing its fourth page: its checkpoint never lands
    [spool] = bulk.files_of(row_id(operation))
    torn = bulk.folder / spool
    torn.write_bytes(torn.read_bytes() + b'{"id": "half a page')

    heir = bulk.runner("replica-b")
    assert await heir.step() is False  # replica A's claim has not lapsed yet
    bulk.clock.advance(CLAIM_SECONDS + 1)
    await bulk.run(heir)

    done = await bulk.status(token, operation["id"])
    assert done["status"] == "COMPLETED"
    response = await bulk.download(token, done["url"])
    rows = [orjson.loads(line) for line in response.content.splitlines()]
    assert rows == shopify_rows(await listing(bulk, token))  # every order once, none torn
    # replica A wakes (a stalled process, not a dead one): it may not write any more
    await bulk.run(doomed)
    assert (await bulk.download(token, done["url"])).content == response.content
    # the spools are gone once the file is made: the file alone is left
    assert [name.endswith(".jsonl") for name in bulk.files_of(row_id(operation))] == [True]


async def test_only_the_key_that_started_an_export_sees_and_downloads_it_in_ranges(
    bulk: Bulk,
) -> None:
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    await bulk.run()
    url = (await bulk.status(token, operation["id"]))["url"]
    whole = (await bulk.download(token, url)).content

    part = await bulk.download(token, url, Range="bytes=100-199")
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"
    assert part.content == whole[100:200]
    tail = await bulk.download(token, url, Range="bytes=-10")
    assert tail.content == whole[-10:]
    beyond = await bulk.download(token, url, Range=f"bytes={len(whole) + 5}-")
    assert beyond.status_code == 416

    other = await bulk.key(Role.REPORTING)
    refused = await bulk.download(other, url)
    assert (refused.status_code, refused.json()["errors"][0]["extensions"]["code"]) == (
        404,
        "NOT_FOUND",
    )
    assert (await bulk.status(other, operation["id"])) is None
    cancel = (await bulk.query(other, CANCEL, id=operation["id"]))["data"]["cancelBulkOperation"]
    assert [e["code"] for e in cancel["userErrors"]] == ["NOT_FOUND"]
    # development mode: no token is the local developer, who did not start it either
    assert (await bulk.client.get(url)).status_code == 404
    wrong = await bulk.client.get(url, headers={"Authorization": "Bearer og_x_wrong"})
    assert wrong.status_code == 401


async def test_a_finished_file_expires_and_is_deleted(bulk: Bulk) -> None:
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, EXCEPTIONS_EXPORT))["bulkOperation"]
    await bulk.run()
    done = await bulk.status(token, operation["id"])
    assert done["url"] is not None
    await cleanup(bulk)
    assert bulk.files_of(row_id(operation))  # kept while its retention runs

    bulk.clock.advance(RETENTION_SECONDS + 1)
    expired = await bulk.status(token, operation["id"])
    assert (expired["status"], expired["url"]) == ("COMPLETED", None)
    gone = await bulk.download(token, done["url"])
    assert (gone.status_code, gone.json()["errors"][0]["extensions"]["code"]) == (
        410,
        "BULK_FILE_EXPIRED",
    )
    await cleanup(bulk)
    assert bulk.files_of(row_id(operation)) == []


async def test_a_page_whose_source_is_down_is_tried_again_then_fails_the_export(
    bulk: Bulk, sources: Sources
) -> None:
    token = await bulk.key(Role.REPORTING)
    recovers = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    runner = bulk.runner()
    async with sources.down("storefront"):
        assert await runner.step() is False  # the page waits for its retry
    assert (await bulk.status(token, recovers["id"]))["status"] == "RUNNING"
    bulk.clock.advance(bulk.services.settings.bulk.retry_seconds + 1)
    await bulk.run(runner)
    assert (await bulk.status(token, recovers["id"]))["status"] == "COMPLETED"

    fails = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    async with sources.down("storefront"):
        await bulk.run(runner)
        bulk.clock.advance(bulk.services.settings.bulk.retry_seconds + 1)
        await bulk.run(runner)  # the second try of two
    failed = await bulk.status(token, fails["id"])
    assert (failed["status"], failed["errorCode"], failed["url"]) == (
        "FAILED",
        "UPSTREAM_UNAVAILABLE",
        None,
    )


async def test_a_subscriber_sees_each_page_and_the_end(bulk: Bulk) -> None:
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    principal = await api_keys.principal_for_key(bulk.services.sessions, token)
    assert principal is not None
    schema = bulk.app.state.graphql.schema
    watching = await schema.subscribe(
        "subscription($id: ID!) { bulkOperationChanged(id: $id) { status rootObjectCount url } }",
        variable_values={"id": operation["id"]},
        context_value=RequestContext.for_request(bulk.services, BulkCaller(principal)),
    )
    assert not isinstance(watching, ExecutionResult)

    async def next_change() -> Any:
        result = await anext(watching)
        assert not result.errors, result.errors
        return result.data["bulkOperationChanged"]

    assert await next_change() == {"status": "CREATED", "rootObjectCount": "0", "url": None}
    runner = bulk.runner()
    seen = []
    for _ in range(3):
        await runner.step()
        seen.append(await next_change())
    assert seen == [
        {"status": "RUNNING", "rootObjectCount": str(n), "url": None} for n in (40, 80, 120)
    ]
    await bulk.run(runner)
    end = await next_change()
    assert (end["status"], end["rootObjectCount"]) == ("COMPLETED", "160")
    assert end["url"].endswith(f"/bulk/{operation['id']}/file")
    try:
        await anext(watching)
    except StopAsyncIteration:
        pass
    else:
        raise AssertionError("the subscription goes on after the export ended")
