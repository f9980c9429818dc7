"""Every bad HTTP request gets coded JSON with the right 4xx, in development and production
alike, through the real ASGI app; the answer's media type follows ``Accept`` as the
GraphQL-over-HTTP specification says (issue 18, points 4 and 7)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from omnigraph.demo import DemoSystems
from omnigraph.security.principal import Role
from tests.conftest import authorize
from tests.security.conftest import serve

GRAPHQL_RESPONSE = "application/graphql-response+json"
DEEP = 100_000


@pytest.fixture(scope="module", params=["development", "production"])
async def client(
    request: pytest.FixtureRequest, demo: DemoSystems, clean_database: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The service in each mode (with a key in production), app exceptions turned into 500s
    as a server would answer them, not raised into the test."""
    async for app, _ in serve(demo, clean_database, mode=request.param):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnigraph") as http:
            if request.param == "production":
                await authorize(app, http, *Role)
            yield http


def refusal(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one coded error of a JSON refusal with ``status``."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert "data" not in body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    return dict(error)


MALFORMED_BODIES = {
    "null": b"null",
    "a string": b'"{ __typename }"',
    "a number": b"42",
    "a boolean": b"true",
    "an array of numbers": b"[1, 2]",
    "not UTF-8": b'{"query": "{ __typename \xff }"}',
    "UTF-16": '{"query": "{ __typename }"}'.encode("utf-16"),
    "not JSON": b'{"query": ',
    f"an array nested {DEEP} deep": b"[" * DEEP + b"]" * DEEP,
    f"variables nested {DEEP} deep": b'{"query": "{ __typename }", "variables": {"v": '
    + b'{"a": ' * DEEP
    + b"1"
    + b"}" * DEEP
    + b"}}",
    "a lone surrogate in the query": b'{"query": "{ __typename \\ud800 }"}',
    "a lone surrogate in a variable": b'{"query": "{ __typename }", "variables": {"v": "\\udc00"}}',
}


@pytest.mark.parametrize("body", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
async def test_a_body_that_is_not_a_graphql_request_is_a_coded_400(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    error = refusal(response, 400, "BAD_REQUEST")
    assert "codec" not in error["message"]
    assert "Traceback" not in response.text


async def test_a_well_formed_request_still_runs(client: httpx.AsyncClient) -> None:
    """The strict decoding refuses only what is malformed: NaN and integers past 64 bits
    (which orjson refuses) and a valid surrogate pair still read as before."""
    body = b'{"query": "{ __typename }", "extensions": {"v": "\\ud83d\\ude00"}}'
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.json() == {"data": {"__typename": "Query"}}
    big = json.dumps({"query": "{ __typename }", "extensions": {"n": 2**70, "x": float("nan")}})
    response = await client.post(
        "/graphql", content=big, headers={"content-type": "application/json"}
    )
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/graphql", {"GET", "POST"}),
        ("DELETE", "/graphql", {"GET", "POST"}),
        ("PATCH", "/graphql", {"GET", "POST"}),
        ("OPTIONS", "/graphql", {"GET", "POST"}),
        ("DELETE", "/healthz", {"GET", "HEAD"}),
        ("PUT", "/examples", {"GET", "HEAD"}),
        ("GET", "/webhooks/stripe", {"POST"}),
        ("POST", "/reports/reconciliation.csv", {"GET", "HEAD"}),
    ],
)
async def test_a_method_a_route_does_not_take_is_a_coded_405_with_allow(
    client: httpx.AsyncClient, method: str, path: str, allowed: set[str]
) -> None:
    response = await client.request(method, path)
    refusal(response, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


async def test_head_on_graphql_is_a_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.head("/graphql")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_no_such_route_is_a_coded_404(client: httpx.AsyncClient) -> None:
    refusal(await client.get("/nowhere"), 404, "NOT_FOUND")


# -- Accept: application/graphql-response+json (point 7) ------------------------------------


async def post_accepting(
    client: httpx.AsyncClient, accept: str, body: dict[str, Any] | bytes
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(
        "/graphql", content=content, headers={"content-type": "application/json", "accept": accept}
    )


REQUEST_ERRORS = {
    "a document that does not parse": ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
    "a document that does not validate": ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    "a variable of the wrong type": (
        {
            "query": "query($n: Int!) { orders(first: $n) { edges { node { id } } } }",
            "variables": {"n": "abc"},
        },
        "BAD_USER_INPUT",
    ),
}


@pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS.values(), ids=list(REQUEST_ERRORS.keys()))
async def test_a_request_error_is_a_400_without_data_in_graphql_response_json(
    client: httpx.AsyncClient, body: dict[str, Any], code: str
) -> None:
    response = await post_accepting(client, f"{GRAPHQL_RESPONSE}, application/json;q=0.9", body)
    assert response.status_code == 400
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    answer = response.json()
    assert "data" not in answer
    assert [error["extensions"]["code"] for error in answer["errors"]] == [code]

    # the legacy media type keeps a 200 with "data": null for the same request
    legacy = await post_accepting(client, "application/json", body)
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == "application/json"
    assert legacy.json()["data"] is None
    assert [error["extensions"]["code"] for error in legacy.json()["errors"]] == [code]


async def test_an_executed_operation_is_a_200_in_graphql_response_json(
    client: httpx.AsyncClient,
) -> None:
    ok = await post_accepting(client, GRAPHQL_RESPONSE, {"query": "{ __typename }"})
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert ok.json() == {"data": {"__typename": "Query"}}
    # a field error is a partial answer: 200 with its data
    partial = await post_accepting(client, GRAPHQL_RESPONSE, {"query": '{ order(id: "x") { id } }'})
    assert partial.status_code == 200
    assert partial.json()["data"] == {"order": None}
    assert partial.json()["errors"][0]["extensions"]["code"] == "INVALID_ID"


async def test_a_body_refused_before_graphql_is_in_the_chosen_media_type(
    client: httpx.AsyncClient,
) -> None:
    response = await post_accepting(client, GRAPHQL_RESPONSE, b'{"query": ')
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in response.json()
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("text/html, */*;q=0.8", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"application/json;q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
    ],
)
async def test_the_answer_is_in_the_media_type_the_client_ranks_highest(
    client: httpx.AsyncClient, accept: str, media_type: str
) -> None:
    response = await post_accepting(client, accept, {"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*;q=0", "text/*"])
async def test_a_request_accepting_neither_media_type_is_a_coded_406(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await post_accepting(client, accept, {"query": "{ __typename }"})
    error = refusal(response, 406, "NOT_ACCEPTABLE")
    assert error["extensions"]["accepted"] == [GRAPHQL_RESPONSE, "application/json"]
