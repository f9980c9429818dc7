"""Every example in the user documentation is a test: README.md and every Markdown file under
docs/ are read for worked examples (the convention: tests/docs/examples.py, and
docs/ARCHITECTURE.md), each is run against the demo world at its fixed instant through the
real app, as ``omnigraph serve`` serves it once its first background rounds are done, and the
answer shown must be the answer given, exactly. A document that drifts fails here.

Each document gets a demo world and a database of its own, its examples run in order (a
mutation's effects are seen by the examples after it: the background work runs after each).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest

from omnigraph.app import catch_up
from tests.docs.examples import Example, Fence, find_examples, mismatch
from tests.helpers import served_demo

ROOT = Path(__file__).resolve().parents[2]


def documents() -> list[Path]:
    """The user documentation: the README and every Markdown file under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


WITH_EXAMPLES = [path for path in documents() if find_examples(path)]


async def answer(client: httpx.AsyncClient, example: Example) -> httpx.Response:
    if example.query is not None:
        body = {"query": example.query, "variables": example.variables or {}}
        return await client.post("/graphql", json=body)
    assert example.path is not None
    return await client.get(example.path)


def test_the_readme_holds_examples() -> None:
    """The machinery finds the README's worked examples (a convention nobody follows any more
    would pass every document silently)."""
    assert find_examples(ROOT / "README.md")


@pytest.mark.parametrize("document", WITH_EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
async def test_every_example_shows_the_answer_it_gets(document: Path, tmp_path: Path) -> None:
    problems = []
    async with served_demo(tmp_path) as (app, client):
        for example in find_examples(document):
            response = await answer(client, example)
            problem = mismatch(example, response.status_code, response.text)
            if problem is not None:
                problems.append(problem)
            if example.is_mutation:
                await catch_up(app.state.services)  # commands delivered, feeds read
    assert not problems, "\n\n".join(problems)


SAMPLE = textwrap.dedent(
    """\
    A query with its answer:

    ```graphql
    { order(id: "x") { name } }
    ```

    ```json
    {"data": {"order": null}}
    ```

    A fragment, no answer:

    ```graphql
    mutation { acknowledgeException(id: "RXhj...") { exception { status } } }
    ```

    With variables:

    ```graphql
    query($id: ID!) { payout(id: $id) { ref } }
    ```
    ```json variables
    {"id": "UGF5b3V0"}
    ```
    ```json
    {"data": {"payout": null}}
    ```

    ```sh
    curl -H "Authorization: Bearer $KEY" \\
      "http://127.0.0.1:8000/reports/reconciliation.csv?from=2026-11-01&to=2026-11-20" -o r.csv
    ```

    ```csv
    payout_id,payout_status
    po_1,RECONCILED
    ...
    ```

    A query, then prose, then JSON that is not its answer:

    ```graphql
    { __typename }
    ```
    Some words.
    ```json
    {"data": {"__typename": "Query"}}
    ```
    """
)


def test_the_convention_finds_queries_variables_and_curls(tmp_path: Path) -> None:
    path = tmp_path / "sample.md"
    path.write_text(SAMPLE)
    found = find_examples(path)
    assert [(e.line, e.query, e.variables, e.path) for e in found] == [
        (3, '{ order(id: "x") { name } }\n', None, None),
        (19, "query($id: ID!) { payout(id: $id) { ref } }\n", {"id": "UGF5b3V0"}, None),
        (29, None, None, "/reports/reconciliation.csv?from=2026-11-01&to=2026-11-20"),
    ]
    assert [e.answer.language for e in found] == ["json", "json", "csv"]
    assert not found[0].is_mutation


def test_a_drifted_answer_is_reported_and_an_exact_one_passes(tmp_path: Path) -> None:
    shown = Fence("json", '{"data": {"order": {"name": "#100248", "total": 1}}}\n', 10, 12)
    example = Example(tmp_path / "README.md", 9, shown, query="{ order }")
    assert mismatch(example, 200, '{"data":{"order":{"total":1,"name":"#100248"}}}') is None
    drifted = mismatch(example, 200, '{"data":{"order":{"total":2,"name":"#100248"}}}')
    assert drifted is not None
    assert drifted.startswith("README.md:9: the answer differs")
    assert '"total": 2' in drifted
    # true is not 1: exact means exact
    assert mismatch(example, 200, '{"data":{"order":{"total":true,"name":"#100248"}}}')
    assert mismatch(example, 500, "boom") == "README.md:9: HTTP 500: boom"


def test_a_text_answer_ending_in_dots_shows_the_first_lines(tmp_path: Path) -> None:
    shown = Fence("csv", "a,b\n1,2\n...\n", 5, 9)
    example = Example(tmp_path / "doc.md", 4, shown, path="/r.csv")
    assert mismatch(example, 200, "a,b\n1,2\n3,4\n") is None
    assert mismatch(example, 200, "a,b\n1,3\n3,4\n") is not None
    whole = Example(tmp_path / "doc.md", 4, Fence("csv", "a,b\n1,2\n", 5, 8), path="/r.csv")
    assert mismatch(whole, 200, "a,b\n1,2\n3,4\n") is not None
