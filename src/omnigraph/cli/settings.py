"""``omnigraph settings [--markdown]``: the settings in force, or the reference of every setting
(docs/CONFIGURATION.md is this command's output, and a test keeps it so)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic_core import PydanticUndefined

from omnigraph.settings import Settings, SourceConfig, settings_reference

__all__ = ["EXAMPLE", "reference_markdown", "show_settings"]

# A whole file, loaded by a test; the tokens are read from the variables it names.
EXAMPLE = """\
mode = "production"
database_url = "postgresql+asyncpg://omnigraph@db.internal/omnigraph"
redis_url = "redis://cache.internal:6379/0"

[limits]
max_cost = 10000

[dispatch]
max_attempts = 5

[dispatch.breaker]
threshold = 3

[[sources]]
name = "web-store"
kind = "storefront"
base_url = "https://storefront-shim.internal"
token_env = "WEB_STORE_TOKEN"

[[sources]]
name = "erp"
kind = "erp"
base_url = "https://erp-shim.internal"
cache_ttl_seconds = 30

[[sources]]
name = "wms"
kind = "wms"
base_url = "https://wms-shim.internal"

[[sources]]
name = "stripe"
kind = "payments"
type = "stripe"
base_url = "https://api.stripe.com"
token_env = "STRIPE_SECRET_KEY"
webhook_secret_env = "STRIPE_WEBHOOK_SECRET"
"""

_INTRO = """\
# Configuration

<!-- Generated from src/omnigraph/settings.py by `omnigraph settings --markdown`; do not edit:
tests/cli/test_settings.py fails when this file and the model differ. -->

Each setting is read from, first to last:

1. a command's own option, where it has one (`omnigraph serve --port 9000`);
2. the environment: `OMNIGRAPH_<NAME>`, or a `.env` file in the working directory;
3. the TOML file named by `OMNIGRAPH_CONFIG` (or `--config FILE`);
4. its default, below.

The file holds the source systems (`[[sources]]`, below) and any other setting: a setting
named `limits.max_cost` below is `max_cost` in the file's `[limits]` table. Such a setting is
read from its flat variable (`OMNIGRAPH_MAX_COST`) and from the nested one
(`OMNIGRAPH_LIMITS__MAX_COST`), which wins when both are set. Without sources the built-in demo
systems start with the service. A value that is not valid stops the service at start-up with a
message naming the setting, and the file when it came from one. `omnigraph settings` prints the
settings in force (secrets hidden).

```toml
{example}```
"""


def _default(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, frozenset | set):
        value = sorted(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, datetime):
        value = value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if value == [] or value == {}:
        return "none"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def reference_markdown() -> str:
    """docs/CONFIGURATION.md: how settings are read, then every setting and every key of a
    ``[[sources]]`` table with its default."""
    lines = [_INTRO.format(example=EXAMPLE), "## Settings", ""]
    lines += ["| Setting | Environment | Default | What it does |", "| --- | --- | --- | --- |"]
    for setting in settings_reference():
        env = ", ".join(f"`{name}`" for name in setting.env)
        lines.append(
            f"| `{setting.name}` | {env} | {_cell(_default(setting.default))}"
            f" | {_cell(setting.description)} |"
        )
    lines += ["", "## Sources", "", "Each `[[sources]]` table of the file:", ""]
    lines += ["| Key | Default | What it is |", "| --- | --- | --- |"]
    for name, field in SourceConfig.model_fields.items():
        default = field.get_default(call_default_factory=True)
        lines.append(
            f"| `{name}` | {_cell(_default(default))} | {_cell(field.description or '')} |"
        )
    return "\n".join(lines) + "\n"


def show_settings(
    markdown: Annotated[
        bool, typer.Option(help="Print the reference of every setting (docs/CONFIGURATION.md).")
    ] = False,
) -> None:
    """Print the settings in force as JSON (secrets hidden), or the reference of every setting."""
    if markdown:
        typer.echo(reference_markdown(), nl=False)
        return
    typer.echo(Settings().model_dump_json(indent=2))
