"""Serving: ``serve`` (the graph, or one subgraph), ``demo`` (the demo source systems alone)
and ``export-schema`` (the SDL files under ``schema/``)."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from omnigraph.settings import Settings, SubgraphName

__all__ = ["demo", "export_schema", "serve"]


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (OMNIGRAPH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (OMNIGRAPH_PORT).")] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="Settings and sources TOML (OMNIGRAPH_CONFIG); none = demo systems."),
    ] = None,
    subgraph: Annotated[
        SubgraphName | None,
        typer.Option(help="Serve only this federation subgraph (OMNIGRAPH_SUBGRAPH)."),
    ] = None,
) -> None:
    """Serve the graph, or one subgraph of it; with no sources configured, the demo source
    systems start too."""
    options = {"host": host, "port": port, "config": config, "subgraph": subgraph}
    settings = Settings(**{k: v for k, v in options.items() if v})
    from omnigraph.app import NO_SOURCES_IN_PRODUCTION, create_app

    if not settings.sources and not settings.serves_demo:
        typer.echo(f"omnigraph: {NO_SOURCES_IN_PRODUCTION}", err=True)
        raise typer.Exit(2)
    if not settings.is_production and not _loopback(settings.host):
        # development mode authenticates nobody: it is for one developer's machine
        typer.echo(
            f"omnigraph: development mode has no authentication and serves loopback only;"
            f" to serve on {settings.host}, set OMNIGRAPH_MODE=production (API keys required)",
            err=True,
        )
        raise typer.Exit(2)

    served = f"the {settings.subgraph} subgraph" if settings.subgraph else "GraphiQL"
    typer.echo(f"omnigraph: {served} at http://{settings.host}:{settings.port}/graphql")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through configure_logging's handler too
    )


def demo(
    seed: Annotated[
        int | None, typer.Option(help="Seed for the demo business (OMNIGRAPH_DEMO_SEED).")
    ] = None,
    orders: Annotated[
        int | None, typer.Option(help="How many orders to seed (OMNIGRAPH_DEMO_ORDERS).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Loopback address to bind (OMNIGRAPH_DEMO_HOST).")
    ] = None,
    base_port: Annotated[
        int, typer.Option(help="Storefront port; ERP, WMS and payments take the next three.")
    ] = 8101,
    truth: Annotated[
        Path | None, typer.Option(help="Write the planted disagreements (ground truth) here.")
    ] = None,
) -> None:
    """Run only the four demo source systems (storefront, ERP, WMS, payments)."""
    from omnigraph.demo import build_world, run_forever

    options = {"demo_seed": seed, "demo_orders": orders, "demo_host": host}
    settings = Settings(**{k: v for k, v in options.items() if v is not None})
    host = settings.demo_host
    world = build_world(seed=settings.demo_seed, orders=settings.demo_orders)
    if truth is not None:
        import json
        from dataclasses import asdict

        truth.write_text(json.dumps([asdict(p) for p in world.planted], indent=2))
    kinds = ("storefront", "erp", "wms", "payments")
    ports = {kind: base_port + i for i, kind in enumerate(kinds)}
    for kind, port in ports.items():
        typer.echo(f"{kind:<11} http://{host}:{port}")
    asyncio.run(run_forever(world, host=host, ports=ports))


def export_schema(
    out: Annotated[Path, typer.Option(help="Folder for the SDL files.")] = Path("schema"),
    check: Annotated[bool, typer.Option(help="Fail if the files differ; write nothing.")] = False,
) -> None:
    """Write the SDL of each subgraph, the single-process graph and the composed supergraph."""
    from omnigraph.api.export import CompositionError

    try:
        _export(out, check)
    except CompositionError as error:
        typer.echo(f"composition failed:\n{error}", err=True)
        raise typer.Exit(1) from None


def _export(out: Path, check: bool) -> None:
    from omnigraph.api.export import stale_schema_files, write_schema_files

    if check:
        stale = stale_schema_files(out)
        if stale:
            typer.echo("stale: " + ", ".join(str(p) for p in stale), err=True)
            raise typer.Exit(1)
        typer.echo("schema files are up to date")
        return
    for path in write_schema_files(out):
        typer.echo(f"wrote {path}")


def _loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
