"""Answers are written as compact UTF-8 JSON; a value the fast encoder cannot write (an
integer past 64 bits in a JSON scalar, a string holding a lone surrogate) still goes out whole,
as ``json`` writes it, never as a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import strawberry
from strawberry.scalars import JSON

from omnigraph.graph.view import LimitedGraphQL


@strawberry.type
class Query:
    @strawberry.field
    def city(self) -> str:
        return "Zoë's shop, 東京"

    @strawberry.field
    def details(self) -> JSON:
        return {"reference": 2**70, "note": "ok"}

    @strawberry.field
    def broken_text(self) -> str:
        return "half \ud800 a character"


async def post(query: str) -> httpx.Response:
    view: LimitedGraphQL[Any, None] = LimitedGraphQL(
        strawberry.Schema(Query), execution_timeout=30.0
    )
    transport = httpx.ASGITransport(app=view)
    async with httpx.AsyncClient(transport=transport, base_url="http://omnigraph") as client:
        return await client.post("/graphql", json={"query": query})


async def test_text_goes_out_as_utf_8_in_compact_json() -> None:
    response = await post("{ city }")
    assert response.status_code == 200
    assert response.content == '{"data":{"city":"Zoë\'s shop, 東京"}}'.encode()


async def test_what_the_fast_encoder_cannot_write_goes_out_whole() -> None:
    big = await post("{ details city }")
    assert big.status_code == 200
    assert json.loads(big.content) == {
        "data": {"details": {"reference": 2**70, "note": "ok"}, "city": "Zoë's shop, 東京"}
    }
    surrogate = await post("{ brokenText }")
    assert surrogate.status_code == 200
    assert b"\\ud800" in surrogate.content
    assert json.loads(surrogate.content) == {"data": {"brokenText": "half \ud800 a character"}}
