"""Serving: ``serve`` (the graph, or one subgraph) and ``export-schema`` (the SDL files under
``schema/``); ``demo`` is in :mod:`omnigraph.cli.demo`."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn

from omnigraph.cli.demo import AsOfOption
from omnigraph.settings import Settings, SubgraphName

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["bind", "export_schema", "serve", "worker_app"]

WORKERS_NEED_SOURCES = (
    "--workers needs configured sources: the built-in demo systems live inside one process;"
    " run `omnigraph demo` and point OMNIGRAPH_CONFIG at its sources, or serve one worker"
)


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
    as_of: AsOfOption = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes on the one port, sharing only the database and Redis.",
        ),
    ] = 1,
) -> None:
    """Serve the graph, or one subgraph of it; with no sources configured, the demo source
    systems start too."""
    options = {"host": host, "port": port, "config": config, "subgraph": subgraph}
    options["demo_as_of"] = as_of
    settings = Settings(**{k: v for k, v in options.items() if v})
    if workers > 1 and settings.serves_demo:
        typer.echo(f"omnigraph: {WORKERS_NEED_SOURCES}", err=True)
        raise typer.Exit(2)
    from omnigraph.app import check_configuration, create_app, demo_ports

    # everything that would stop start-up is found before anything is started or said
    check_configuration(settings)
    if not settings.is_production and not _loopback(settings.host):
        # development mode authenticates nobody: it is for one developer's machine
        typer.echo(
            f"omnigraph: development mode has no authentication and serves loopback only;"
            f" to serve on {settings.host}, set OMNIGRAPH_MODE=production (API keys required)",
            err=True,
        )
        raise typer.Exit(2)
    listening = bind(settings.host, settings.port, "--port or OMNIGRAPH_PORT")
    ports = demo_ports(settings) if settings.serves_demo else None
    for kind, demo_port in (ports or {}).items():  # taken here, before the database is touched
        bind(settings.demo_host, demo_port, f"the demo's {kind}: OMNIGRAPH_DEMO_BASE_PORT").close()

    served = f"the {settings.subgraph} subgraph" if settings.subgraph else "GraphiQL"
    typer.echo(f"omnigraph: {served} at http://{settings.host}:{settings.port}/graphql")
    if workers > 1:
        _serve_workers(options, workers, settings, listening)
        return
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            log_level=settings.log_level,
            log_config=None,  # uvicorn's lines go through configure_logging's handler too
        )
    )
    server.run(sockets=[listening])


def _serve_workers(
    options: Mapping[str, object], workers: int, settings: Settings, listening: socket.socket
) -> None:
    """uvicorn's supervisor: ``workers`` processes accepting on the one socket, each building
    the app from the environment (the command's options passed on as ``OMNIGRAPH_*``), each
    with its own caches and background loops. Start-up migrations take turns under the
    database's migration lock, and the singleton background tasks hold leases, so the
    processes share the database and Redis and nothing else."""
    from uvicorn.supervisors import Multiprocess

    for name, value in options.items():
        if value:
            os.environ[f"OMNIGRAPH_{name.upper()}"] = str(value)
    config = uvicorn.Config(
        "omnigraph.cli.serve:worker_app",
        factory=True,
        workers=workers,
        log_level=settings.log_level,
        log_config=None,
    )
    Multiprocess(config, sockets=[listening]).run()


def worker_app() -> Starlette:
    """The app of one ``serve --workers`` process: its settings from the environment, its
    logging set up as the command's."""
    from omnigraph.app import create_app
    from omnigraph.observability.logging import configure_logging

    settings = Settings()
    configure_logging(
        settings.effective_log_format,
        level=settings.log_level,
        show_locals=not settings.is_production,
    )
    return create_app(settings)


def bind(host: str, port: int, choose: str) -> socket.socket:
    """A listening socket on ``host:port``; exit 2 with what to do when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        reason = "it is in use" if error.errno == errno.EADDRINUSE else error.strerror or str(error)
        typer.echo(
            f"omnigraph: cannot listen on {host}:{port}: {reason} (another omnigraph serve?);"
            f" choose another port ({choose})",
            err=True,
        )
        raise typer.Exit(2) from None
    sock.set_inheritable(True)
    return sock


def export_schema(
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the SDL files (schema/; required with --subgraphs)."),
    ] = None,
    check: Annotated[bool, typer.Option(help="Fail if the files differ; write nothing.")] = False,
    subgraphs: Annotated[
        bool,
        typer.Option(
            help="Write the four federation subgraphs' SDL instead, what the gateway composes."
        ),
    ] = False,
) -> None:
    """Write (or check) the whole API's SDL, composing the federation subgraphs on the way;
    with --subgraphs, write each subgraph's SDL."""
    from omnigraph.api.export import CompositionError, write_subgraph_files

    if subgraphs:
        if out is None or check:
            raise typer.BadParameter("--subgraphs writes into the folder --out names")
        for path in write_subgraph_files(out):
            typer.echo(f"wrote {path}")
        return
    try:
        _export(out or Path("schema"), check)
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
