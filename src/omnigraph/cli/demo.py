"""The built-in demo on the command line: ``omnigraph demo`` (its four systems, and the sources
file naming them), and :func:`sources_for`, which gives every job the configured sources or,
without any, the demo systems started in this process for the job's duration."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from omnigraph.core.errors import ConfigurationError
from omnigraph.settings import Settings, SourcesConfig

__all__ = ["AsOfOption", "Sources", "demo", "demo_sources_toml", "sources_for"]

AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="The demo's instant: 2026-11-20T12:00:00Z, a date, now (OMNIGRAPH_DEMO_AS_OF).",
    ),
]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def demo_sources_toml(urls: Mapping[str, str], settings: Settings) -> str:
    """A sources file naming the demo systems at ``urls``, with the demo's instant (so the
    service's clock agrees with the demo's data): for ``--config`` or ``OMNIGRAPH_CONFIG``."""
    from omnigraph.app import DEMO_SOURCE_NAMES

    lines = [
        "# The built-in demo systems, as `omnigraph demo` serves them"
        f" (seed {settings.demo_seed}, {settings.demo_orders} orders).",
        "# Every command given this file (--config FILE or OMNIGRAPH_CONFIG) uses them while"
        " they run.",
        "# The demo's instant: the service's clock starts here, as the demo's data does.",
        f'demo_as_of = "{_iso(settings.demo_as_of)}"',
    ]
    for kind, url in urls.items():
        lines += [
            "",
            "[[sources]]",
            f'name = "{DEMO_SOURCE_NAMES[kind]}"',
            f'kind = "{kind}"',
            f'base_url = "{url}"',
        ]
    return "\n".join(lines) + "\n"


def demo(
    seed: Annotated[
        int | None, typer.Option(help="Seed for the demo business (OMNIGRAPH_DEMO_SEED).")
    ] = None,
    orders: Annotated[
        int | None, typer.Option(help="How many orders to seed (OMNIGRAPH_DEMO_ORDERS).")
    ] = None,
    as_of: AsOfOption = None,
    host: Annotated[
        str | None, typer.Option(help="Loopback address to bind (OMNIGRAPH_DEMO_HOST).")
    ] = None,
    base_port: Annotated[
        int, typer.Option(help="Storefront port; ERP, WMS and payments take the next three.")
    ] = 8101,
    write: Annotated[
        Path | None,
        typer.Option(help="Write the sources file naming the systems here (else print it)."),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Write the planted disagreements (ground truth) here.")
    ] = None,
) -> None:
    """Run only the four demo source systems (storefront, ERP, WMS, payments) until Ctrl-C,
    and print (or --write) the sources file naming them, for --config."""
    from omnigraph.app import service_clock
    from omnigraph.demo import KINDS, build_world, run_forever

    options = {"demo_seed": seed, "demo_orders": orders, "demo_host": host, "demo_as_of": as_of}
    settings = Settings(**{k: v for k, v in options.items() if v is not None})
    world = build_world(
        seed=settings.demo_seed, orders=settings.demo_orders, anchor=settings.demo_as_of
    )
    if truth is not None:
        import json
        from dataclasses import asdict

        truth.write_text(json.dumps([asdict(p) for p in world.planted], indent=2))
    ports = {kind: base_port + i for i, kind in enumerate(KINDS)}

    def ready(urls: Mapping[str, str]) -> None:
        text = demo_sources_toml(urls, settings)
        if write is None:
            typer.echo(text, nl=False)
        else:
            write.write_text(text)
            typer.echo(f"omnigraph: wrote {write}: the sources file for these systems", err=True)
        typer.echo(
            f"omnigraph: demo systems as of {_iso(settings.demo_as_of)} on"
            f" {settings.demo_host}:{base_port}..{base_port + 3}; Ctrl-C stops them",
            err=True,
        )

    try:
        asyncio.run(
            run_forever(
                world,
                host=settings.demo_host,
                ports=ports,
                clock=service_clock(settings, built_in_demo=True),
                ready=ready,
            )
        )
    except OSError as error:
        typer.echo(f"omnigraph: cannot serve the demo systems: {error}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


@dataclass(frozen=True, slots=True)
class Sources:
    """What a job runs against: its sources, the clock, and whether they are the demo's."""

    config: SourcesConfig
    clock: Callable[[], datetime]
    demo: bool


@contextlib.asynccontextmanager
async def sources_for(settings: Settings) -> AsyncIterator[Sources]:
    """The configured sources; without any (and where the demo may stand in, as for
    ``serve``), the built-in demo systems, started in this process on loopback for the block
    and stopped after it. Says so on stderr."""
    from omnigraph.app import (
        NO_SOURCES_IN_PRODUCTION,
        demo_ports,
        demo_sources_config,
        service_clock,
    )

    configured = settings.sources_config
    if configured is not None:
        yield Sources(configured, service_clock(settings, built_in_demo=False), demo=False)
        return
    if not settings.serves_demo:
        raise ConfigurationError(NO_SOURCES_IN_PRODUCTION)
    from omnigraph.demo import DemoSystems, build_world

    clock = service_clock(settings, built_in_demo=True)
    world = await asyncio.to_thread(
        build_world,
        seed=settings.demo_seed,
        orders=settings.demo_orders,
        anchor=settings.demo_as_of,
    )
    async with DemoSystems(
        world, host=settings.demo_host, ports=demo_ports(settings), clock=clock
    ) as systems:
        typer.echo(
            "omnigraph: no sources configured: the built-in demo systems"
            f" (seed {settings.demo_seed}, {settings.demo_orders} orders, as of"
            f" {_iso(settings.demo_as_of)}) run in this process for this command"
            " (`omnigraph demo --write FILE` keeps them running for several)",
            err=True,
        )
        yield Sources(demo_sources_config(systems.urls), clock, demo=True)
