"""The ``omnigraph`` command line, assembled in one place from its groups:

- ``serve``, ``export-schema`` (:mod:`omnigraph.cli.serve`), ``demo``
  (:mod:`omnigraph.cli.demo`);
- ``export QUERY_FILE``, one bulk export to a file (:mod:`omnigraph.cli.export`);
- ``dispatch``, ``detect``, ``sync wms | payments | exceptions``, ``db upgrade``
  (:mod:`omnigraph.cli.jobs`);
- ``keys create | list | revoke`` (:mod:`omnigraph.cli.keys`);
- ``documents register | list``, the trusted documents (:mod:`omnigraph.cli.documents`);
- ``settings [--markdown]``, the settings in force or their reference
  (:mod:`omnigraph.cli.settings`);
- ``catalogue [--markdown]``, the exception kinds and what decides raising them
  (:mod:`omnigraph.cli.catalogue`);
- ``check-source``, whether a shim speaks the source contract (:mod:`omnigraph.cli.check_source`);
- ``rehearse``, a peak-season rehearsal from a scenario file (:mod:`omnigraph.cli.rehearse`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import typer

from omnigraph.cli import demo, jobs, serve
from omnigraph.cli.catalogue import show_catalogue
from omnigraph.cli.check_source import check_source
from omnigraph.cli.documents import documents_app
from omnigraph.cli.export import export
from omnigraph.cli.keys import keys_app
from omnigraph.cli.rehearse import rehearse
from omnigraph.cli.settings import show_settings
from omnigraph.core.errors import ConfigurationError
from omnigraph.observability.logging import configure_logging, show_library_lines
from omnigraph.settings import Settings

__all__ = ["app", "main", "refusing_bad_configuration"]

app = typer.Typer(help="One GraphQL data layer over storefront, ERP, WMS and payments.")


@app.callback()
def options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Also the libraries' info lines (each database migration)."
        ),
    ] = False,
) -> None:
    """One GraphQL data layer over storefront, ERP, WMS and payments."""
    if verbose:
        show_library_lines()


app.command()(serve.serve)
app.command()(demo.demo)
app.command("export-schema")(serve.export_schema)
app.command("export")(export)
app.command()(jobs.dispatch)
app.command()(jobs.detect)

sync_app = typer.Typer(help="Read source change feeds now.")
sync_app.command("wms")(jobs.sync_wms)
sync_app.command("payments")(jobs.sync_payments)
sync_app.command("exceptions")(jobs.sync_exceptions)
app.add_typer(sync_app, name="sync")

db_app = typer.Typer(help="Omnigraph's own database.")
db_app.command("upgrade")(jobs.db_upgrade)
app.add_typer(db_app, name="db")

app.add_typer(keys_app, name="keys")
app.add_typer(documents_app, name="documents")
app.command("settings")(show_settings)
app.command("catalogue")(show_catalogue)
app.command("check-source")(check_source)
app.command("rehearse")(rehearse)


def refusing_bad_configuration(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` as every command runs: the settings read before it does anything (a bad
    one stops it), and a bad setting or data file, whenever found, said as its message alone
    (one line on stderr, no traceback), with exit status 2."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            if kwargs.get("config") is None:  # a command given --config reads that file
                Settings()
            return command(*args, **kwargs)
        except ConfigurationError as error:
            typer.echo(f"omnigraph: {error}", err=True)
            raise typer.Exit(2) from None

    return run


def _guard(group: typer.Typer) -> None:
    for command in group.registered_commands:
        assert command.callback is not None
        command.callback = refusing_bad_configuration(command.callback)
    for subgroup in group.registered_groups:
        assert subgroup.typer_instance is not None
        _guard(subgroup.typer_instance)


_guard(app)


def main() -> None:
    try:
        settings = Settings()
    except ConfigurationError:  # the command reading the settings reports them
        settings = Settings.model_construct()
    configure_logging(
        settings.effective_log_format,
        level=settings.log_level,
        show_locals=not settings.is_production,  # frame locals hold request data
    )
    try:
        app()
    except ConfigurationError as error:  # a bad setting or data file: its message is enough
        typer.echo(f"omnigraph: {error}", err=True)
        raise SystemExit(2) from None
