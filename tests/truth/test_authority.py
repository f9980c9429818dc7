"""Authority rules are data: changing the file changes whom the graph believes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from omnigraph.config import SourceKind
from omnigraph.errors import ConfigurationError
from omnigraph.truth.authority import DEFAULT_RULES_PATH, AuthorityRules
from omnigraph.truth.claims import Claim, decide

AT = datetime(2026, 11, 20, tzinfo=UTC)


def test_defaults_follow_layered_truth() -> None:
    rules = AuthorityRules.load()
    assert rules.owner_of("state") is SourceKind.WMS
    assert rules.owner_of("totals.total") is SourceKind.ERP
    assert rules.owner_of("channel") is SourceKind.STOREFRONT
    assert rules.owner_of("payments") is SourceKind.PAYMENTS


def test_rewritten_rules_change_the_served_claim(tmp_path: Path) -> None:
    text = DEFAULT_RULES_PATH.read_text().replace(
        '[fields."totals.total"]\nowner = "erp"\nfallback = ["storefront"]',
        '[fields."totals.total"]\nowner = "storefront"\nfallback = ["erp"]',
    )
    path = tmp_path / "authority.toml"
    path.write_text(text)
    rules = AuthorityRules.load(path)
    claims = [
        Claim("web-store", SourceKind.STOREFRONT, "SF-1", AT, "10.00"),
        Claim("erp", SourceKind.ERP, "SO-1", AT, "12.00"),
    ]
    fact = decide("totals.total", claims, rules.for_field("totals.total"))
    assert fact is not None
    assert fact.served.source == "web-store"
    assert fact.authoritative
    assert [c.value for c in fact.conflicting] == ["12.00"]


def test_fallback_is_served_but_not_authoritative() -> None:
    rules = AuthorityRules.load()
    claims = [Claim("web-store", SourceKind.STOREFRONT, "SF-1", AT, "10.00")]
    fact = decide("totals.total", claims, rules.for_field("totals.total"))
    assert fact is not None
    assert fact.served.source == "web-store"
    assert not fact.authoritative


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[fields.colour]\nowner = "erp"\n', "unknown field 'colour'"),
        ('[fields.state]\nowner = "crm"\n', "bad owner"),
    ],
)
def test_bad_rules_fail_with_a_clear_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        AuthorityRules.load(path)
