"""Heavy single requests against a running service, and how long a light one waits meanwhile
(issue 18, points 1-3). Loopback only; each attack is sent once.

    omnigraph serve --port 8765 &          # development mode, the demo systems
    .venv/bin/python benchmarks/attacks.py --url http://127.0.0.1:8765/graphql \\
        --levels 18,20,22 --references 1000,12000

For each attack it prints the document's size, the HTTP status, the error code (or ``data``),
the seconds the attack took, and the seconds a ``{ __typename }`` sent 0.1 s after it took.

- ``fanout N``: fragments ``F1..FN``, each spreading the previous one twice (2^N expansions);
- ``entities N``: federation ``_entities`` given N references to one payout;
- ``repeated``: documents of about 2,000 tokens (the default cap) that repeat one field, the
  worst the field-merging validation rule meets.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

LIGHT = {"query": "{ __typename }"}


def fanout(levels: int) -> dict[str, Any]:
    """The doubling-fragment document: ``F0`` selects a page of one order, each ``Fi`` spreads
    ``F(i-1)`` twice, the operation spreads ``FN``."""
    fragments = ["fragment F0 on Query { orders(first: 1) { edges { node { id } } } }"]
    fragments += [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return {"query": f"query Fanout {{ ...F{levels} }}\n" + "\n".join(fragments)}


def entities(payout_id: str, references: int) -> dict[str, Any]:
    query = (
        "query Entities($reps: [_Any!]!) { _entities(representations: $reps) {"
        " ... on Payout { id status amount { amount currency } } } }"
    )
    reps = [{"__typename": "Payout", "id": payout_id}] * references
    return {"query": query, "variables": {"reps": reps}}


REPEATED = {
    "repeated typename": "{" + " __typename" * 1990 + " }",
    "repeated alias": "{" + " a: __typename" * 660 + " }",
    "repeated orders": "{" + " orders(first: 1) { pageInfo { hasNextPage } }" * 100 + " }",
}


def outcome(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:60]
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        return str(errors[0].get("extensions", {}).get("code"))
    return "data"


async def attack(client: httpx.AsyncClient, url: str, name: str, body: dict[str, Any]) -> None:
    async def timed(payload: dict[str, Any]) -> tuple[float, httpx.Response]:
        start = time.perf_counter()
        response = await client.post(url, json=payload)
        return time.perf_counter() - start, response

    heavy = asyncio.create_task(timed(body))
    await asyncio.sleep(0.1)
    light_seconds, _ = await timed(LIGHT)
    heavy_seconds, response = await heavy
    size = len(httpx.Request("POST", url, json=body).content)
    print(
        f"{name:<18} {size:>9} B  HTTP {response.status_code}  {outcome(response):<26}"
        f" {heavy_seconds:8.3f} s   light request {light_seconds:7.3f} s"
        f"   answer {len(response.content):>10} B",
        flush=True,
    )


async def main(url: str, levels: list[int], references: list[int], repeated: bool) -> None:
    async with httpx.AsyncClient(timeout=None) as client:
        page = (
            await client.post(
                url, json={"query": "{ payouts(first: 1) { edges { node { id } } } }"}
            )
        ).json()
        payout_id = page["data"]["payouts"]["edges"][0]["node"]["id"]
        for n in levels:
            await attack(client, url, f"fanout {n}", fanout(n))
        for count in references:
            await attack(client, url, f"entities {count}", entities(payout_id, count))
        if repeated:
            for name, query in REPEATED.items():
                await attack(client, url, name, {"query": query})


def numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8765/graphql")
    parser.add_argument("--levels", type=numbers, default=[18, 20, 22])
    parser.add_argument("--references", type=numbers, default=[1000, 12000])
    parser.add_argument("--repeated", action="store_true", help="also the repeated fields")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.levels, args.references, args.repeated))
