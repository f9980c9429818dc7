"""``omnigraph settings``: the reference in docs/CONFIGURATION.md is the model's, its example
loads, and the settings in force are printed without their secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnigraph.cli import app
from omnigraph.cli.settings import EXAMPLE, reference_markdown
from omnigraph.settings import Settings, settings_reference

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "CONFIGURATION.md"


pytestmark = pytest.mark.usefixtures("clean_environment")


def test_the_configuration_page_is_generated_from_the_model() -> None:
    assert DOC.read_text() == reference_markdown(), (
        "docs/CONFIGURATION.md is stale: omnigraph settings --markdown > docs/CONFIGURATION.md"
    )
    result = CliRunner().invoke(app, ["settings", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == DOC.read_text()


def test_the_page_lists_every_setting_with_its_variables_and_default() -> None:
    page = DOC.read_text()
    for setting in settings_reference():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{setting.name}` |"))
        for env in setting.env:
            assert f"`{env}`" in row
    assert (
        "| `limits.max_depth` | `OMNIGRAPH_MAX_DEPTH`, `OMNIGRAPH_LIMITS__MAX_DEPTH` | `10` |"
        in page
    )


def test_the_example_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "omnigraph.toml"
    path.write_text(EXAMPLE)
    settings = Settings(config=path)
    assert settings.is_production
    assert settings.limits.max_cost == 10_000
    assert settings.dispatch.breaker.threshold == 3
    assert [s.name for s in settings.sources] == ["web-store", "erp", "wms", "stripe"]


def test_the_settings_in_force_are_printed_without_secrets() -> None:
    env = {"OMNIGRAPH_JWT_SECRET": "hunter2", "OMNIGRAPH_MAX_COST": "1234"}
    result = CliRunner().invoke(app, ["settings"], env=env)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["limits"]["max_cost"] == 1234
    assert "hunter2" not in result.output


def test_a_bad_setting_stops_a_command_with_its_name_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "omnigraph.toml").write_text("[limits]\nmax_depth = -1\n")
    env = {**os.environ, "OMNIGRAPH_CONFIG": str(tmp_path / "omnigraph.toml")}
    done = subprocess.run(
        [sys.executable, "-m", "omnigraph", "settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "omnigraph.toml: limits.max_depth: Input should be greater than" in done.stderr
    assert "Traceback" not in done.stderr
