"""``omnigraph export QUERY_FILE --format parquet --out FILE``: one bulk export, start to file.

It starts the export (``runBulkQuery``), shows its progress (rows written, and the download's
bytes) with a progress bar, and writes the file to ``--out`` once it is complete (under a
temporary name first: an interrupted run leaves no half file under the name asked for). With
``--url`` it asks that service, with ``--token`` as its key; without, the service runs inside
the command for the export's duration, on the configured database and sources, or the
built-in demo systems, as ``serve`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from omnigraph.cli.demo import AsOfOption
from omnigraph.cli.jobs import ConfigOption

__all__ = ["export"]

START = """mutation($input: RunBulkQueryInput!) { runBulkQuery(input: $input) {
  bulkOperation { id status } userErrors { code field message } } }"""
STATUS = """query($id: ID!) { bulkOperation(id: $id) {
  id status objectCount rootObjectCount fileSize url errorCode errorMessage } }"""
FINISHED = ("COMPLETED", "FAILED", "CANCELED")


class Format(enum.StrEnum):
    jsonl = "jsonl"
    csv = "csv"
    parquet = "parquet"


class ExportFailed(Exception):
    """The service refused the export or it did not complete: the message says why."""


def export(
    query_file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="The bulk query (a .graphql file)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the file.")],
    format: Annotated[Format, typer.Option(help="jsonl, csv (a zip) or parquet.")] = Format.jsonl,
    url: Annotated[
        str | None,
        typer.Option(help="The service to ask (http://host:8000); none: run one inside this."),
    ] = None,
    token: Annotated[str | None, typer.Option(help="The API key to export as.")] = None,
    poll: Annotated[float, typer.Option(help="Seconds between two looks at the export.")] = 0.5,
    config: ConfigOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Export a bulk query's whole data set to a file, with a progress bar."""
    query = query_file.read_text()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    key = f"cli-{uuid.uuid4().hex}"

    async def run() -> dict[str, Any]:
        async with _client(url, headers, config, as_of) as client:
            return await _export(client, query, format.value.upper(), key, out, poll)

    try:
        done = asyncio.run(run())
    except ExportFailed as failed:
        typer.echo(f"omnigraph: {failed}", err=True)
        raise typer.Exit(1) from None
    except httpx.HTTPError as error:
        typer.echo(f"omnigraph: the service did not answer: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"wrote {out}: {done['rootObjectCount']} nodes, {done['objectCount']} rows,"
        f" {done['fileSize']} bytes ({format.value})"
    )


@contextlib.asynccontextmanager
async def _client(
    url: str | None, headers: dict[str, str], config: Path | None, as_of: str | None
) -> AsyncIterator[httpx.AsyncClient]:
    if url:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:
            yield client
        return
    from omnigraph.app import check_configuration, create_app
    from omnigraph.settings import Settings

    options = {"config": config, "demo_as_of": as_of}
    settings = Settings(**{k: v for k, v in options.items() if v is not None})
    check_configuration(settings)
    # this process runs the export it asks for, whatever the settings say of its runners
    settings = settings.model_copy(
        update={"bulk": settings.bulk.model_copy(update={"enabled": True})}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://omnigraph", headers=headers, timeout=60
        ) as client:
            yield client


async def _graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("errors"):
        error = (body.get("errors") or [{}])[0]
        code = (error.get("extensions") or {}).get("code", response.status_code)
        raise ExportFailed(f"{code}: {error.get('message', response.text)}")
    data: dict[str, Any] = body["data"]
    return data


async def _export(
    client: httpx.AsyncClient, query: str, format: str, key: str, out: Path, poll: float
) -> dict[str, Any]:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    started = (
        await _graphql(
            client, START, input={"query": query, "format": format, "idempotencyKey": key}
        )
    )["runBulkQuery"]
    if started["userErrors"]:
        problem = started["userErrors"][0]
        raise ExportFailed(f"{problem['code']}: {problem['message']}")
    operation = started["bulkOperation"]["id"]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()) as bar:
        rows = bar.add_task("created", total=None)
        while True:
            status = (await _graphql(client, STATUS, id=operation))["bulkOperation"]
            bar.update(
                rows,
                description=f"{status['status'].lower()}: {int(status['rootObjectCount']):,}"
                f" nodes, {int(status['objectCount']):,} rows",
            )
            if status["status"] in FINISHED:
                break
            await asyncio.sleep(poll)
    if status["status"] != "COMPLETED":
        raise ExportFailed(
            f"the export {status['status'].lower()}: {status['errorCode'] or ''}"
            f" {status['errorMessage'] or ''}".rstrip()
        )
    partial = out.with_name(out.name + ".part")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns) as bar:
        download = bar.add_task(f"downloading {out.name}", total=int(status["fileSize"]))
        async with client.stream("GET", status["url"]) as response:
            if response.status_code != 200:
                await response.aread()
                raise ExportFailed(f"the download was refused: HTTP {response.status_code}")
            with partial.open("wb") as file:
                async for chunk in response.aiter_bytes():
                    file.write(chunk)
                    bar.advance(download, len(chunk))
    partial.replace(out)
    return dict(status)
