"""Scenarios are data: the shipped ones load, a user's own file too, and a bad file is a coded
error naming what is wrong (and exit status 2 on the command line, before anything starts)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnigraph.cli import app as cli
from omnigraph.rehearsal.scenario import SCENARIOS, ScenarioError, load_scenario


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_shipped_scenario_loads_and_runs_at_most_five_minutes(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert 0 < scenario.seconds <= 300
    assert scenario.thresholds.oversells == scenario.thresholds.double_applications == 0
    assert round(scenario.scaled_to(1).seconds) == 60


def test_a_users_own_file_is_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\n[[phases]]\nname = "only"\nseconds = 2\n'
        "orders_per_second = { web = 1 }\n"
        'outages = [{ system = "wms", seconds = 1 }]\n'
    )
    scenario = load_scenario(path)
    assert [(p.name, p.orders_per_second) for p in scenario.phases] == [("only", {"web": 1})]


@pytest.mark.parametrize(
    ("text", "code", "says"),
    [
        ("name = 'x'\n", "SCENARIO_INVALID", "phases: Field required"),
        (
            "name = 'x'\n[[phases]]\nname = 'p'\nseconds = 5\norders_per_second = { shop = 1 }\n",
            "SCENARIO_INVALID",
            "phases.0.orders_per_second.shop.[key]",
        ),
        (
            "name = 'x'\n[[phases]]\nname = 'p'\nseconds = 5\n"
            "outages = [{ system = 'wms', start_seconds = 9, seconds = 1 }]\n",
            "SCENARIO_INVALID",
            "starts after the phase ends",
        ),
        (
            "name = 'x'\n[[phases]]\nname = 'p'\nseconds = 5\nspeed = 3\n",
            "SCENARIO_INVALID",
            "phases.0.speed: Extra inputs are not permitted",
        ),
        ("name = [\n", "SCENARIO_INVALID", "is not valid TOML"),
    ],
)
def test_a_bad_scenario_file_is_a_coded_error(
    tmp_path: Path, text: str, code: str, says: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert raised.value.code == code
    assert str(raised.value).startswith(f"{code}: ")
    assert says in str(raised.value)


def test_an_unknown_scenario_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(cli, ["rehearse", "--scenario", "christmas"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "omnigraph: SCENARIO_NOT_FOUND: 'christmas' is neither a shipped scenario"
        " (peak, outage, returns-wave) nor a file"
    ]


def test_a_rehearsal_against_configured_sources_is_refused_without_the_flag(
    tmp_path: Path,
) -> None:
    config = tmp_path / "omnigraph.toml"
    config.write_text(
        "".join(
            f'[[sources]]\nname = "{kind}"\nkind = "{kind}"\nbase_url = "http://127.0.0.1:9"\n'
            for kind in ("storefront", "erp", "wms", "payments")
        )
    )
    result = CliRunner().invoke(cli, ["rehearse", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "--i-understand-this-writes" in result.stderr
