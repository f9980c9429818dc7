"""``omnigraph catalogue``: docs/EXCEPTIONS.md is what the catalogue, the authority rules and
the settings say, kind by kind and default by default."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from omnigraph.cli import app
from omnigraph.cli.catalogue import catalogue_markdown
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.orders.authority import AuthorityRules

DOC = Path(__file__).resolve().parents[2] / "docs" / "EXCEPTIONS.md"


def test_the_exceptions_page_is_generated_from_the_catalogue_rules_and_settings() -> None:
    assert DOC.read_text() == catalogue_markdown(), (
        "docs/EXCEPTIONS.md is stale: omnigraph catalogue --markdown > docs/EXCEPTIONS.md"
    )


def test_the_page_names_every_kind_its_owner_and_every_grace() -> None:
    page = DOC.read_text()
    catalogue = ExceptionCatalogue.load()
    for kind in ExceptionKind:
        rule = catalogue.rule(kind)
        assert f"| `{kind.value}` | {rule.owner.value} | {rule.severity.value} |" in page
        for name in rule.resolutions:
            assert f"| `{name}` |" in page
    for field in AuthorityRules.load().fields:
        assert f"| `{field}` |" in page
    assert "| `drift_grace_seconds` | 15 min |" in page
    assert "| `refund_grace_seconds` | 2 days |" in page


def test_the_listing_says_who_raises_each_kind() -> None:
    result = CliRunner().invoke(app, ["catalogue"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert set(listing) == {kind.value for kind in ExceptionKind}
    assert listing["AMOUNT_MISMATCH"]["owner"] == "payments"
    assert "REFUND_EXCESS" in listing["AMOUNT_MISMATCH"]["resolutions"]
    assert all(entry["raised"] for entry in listing.values())
