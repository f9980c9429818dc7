"""The ``omnigraph`` command line, assembled in one place from its groups:

- ``serve``, ``demo``, ``export-schema`` (:mod:`omnigraph.cli.serve`);
- ``dispatch``, ``detect``, ``sync wms | payments | exceptions``, ``db upgrade``
  (:mod:`omnigraph.cli.jobs`);
- ``keys create | list | revoke`` (:mod:`omnigraph.cli.keys`);
- ``documents register | list``, the trusted documents (:mod:`omnigraph.cli.documents`);
- ``settings [--markdown]``, the settings in force or their reference
  (:mod:`omnigraph.cli.settings`);
- ``catalogue [--markdown]``, the exception kinds and what decides raising them
  (:mod:`omnigraph.cli.catalogue`);
- ``check-source``, whether a shim speaks the source contract (:mod:`omnigraph.cli.check_source`).
"""

from __future__ import annotations

import typer

from omnigraph.cli import jobs, serve
from omnigraph.cli.catalogue import show_catalogue
from omnigraph.cli.check_source import check_source
from omnigraph.cli.documents import documents_app
from omnigraph.cli.keys import keys_app
from omnigraph.cli.settings import show_settings
from omnigraph.core.errors import ConfigurationError
from omnigraph.observability.logging import configure_logging
from omnigraph.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(help="One GraphQL data layer over storefront, ERP, WMS and payments.")
app.command()(serve.serve)
app.command()(serve.demo)
app.command("export-schema")(serve.export_schema)
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
        typer.echo(str(error), err=True)
        raise SystemExit(2) from None
