"""Authority rules are data: changing the file changes whom the graph believes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnigraph.core.errors import ConfigurationError
from omnigraph.core.provenance import Claim
from omnigraph.core.sources import SourceKind
from omnigraph.orders.authority import DEFAULT_RULES_PATH, AuthorityRules, FieldAuthority, decide

AT = datetime(2026, 11, 20, 12, tzinfo=UTC)
LATER = AT + timedelta(days=1)


def rules_with(tmp_path: Path, old: str, new: str) -> AuthorityRules:
    text = DEFAULT_RULES_PATH.read_text()
    assert old in text
    path = tmp_path / "authority.toml"
    path.write_text(text.replace(old, new, 1))
    return AuthorityRules.load(path)


def test_defaults_follow_layered_truth() -> None:
    rules = AuthorityRules.load()
    assert rules.for_field("state").owner == "wms"
    assert rules.for_field("totals.total").owner == "erp"
    assert rules.for_field("lines[SKU-0001].unitPrice").owner == "erp"
    assert rules.for_field("lines[SKU-0001].shipped").owner == "wms"
    assert rules.for_field("lines[SKU-0001].quantity").owner == "storefront"
    assert rules.for_field("channel").owner == "storefront"
    assert rules.for_field("payments").owner == "payments"
    # a SKU is any string, brackets and dots included
    assert rules.for_field("lines[SHIRT[M].v2].unitPrice").owner == "erp"
    assert rules.for_field("lines[SHIRT[M].v2].shipped").owner == "wms"


def test_rewritten_rules_change_the_served_claim(tmp_path: Path) -> None:
    rules = rules_with(
        tmp_path,
        '[fields.totals]\nowner = "erp"\nfallback = ["storefront"]',
        '[fields.totals]\nowner = "storefront"\nfallback = ["erp"]',
    )
    claims = [
        Claim("web-store", SourceKind.STOREFRONT, "SF-1", AT, "10.00"),
        Claim("erp", SourceKind.ERP, "SO-1", AT, "12.00"),
    ]
    fact = decide("totals.total", claims, rules.for_field("totals.total"), now=LATER)
    assert fact is not None
    assert fact.served.source == "web-store"
    assert fact.authoritative
    assert [c.value for c in fact.conflicting] == ["12.00"]


def test_a_named_source_outranks_others_of_its_kind(tmp_path: Path) -> None:
    rules = rules_with(
        tmp_path,
        '[fields.state]\nowner = "wms"\nfallback = ["storefront"]',
        '[fields.state]\nowner = "wms-east"\nfallback = ["wms", "storefront"]',
    )
    rules.check_sources({"wms-east": SourceKind.WMS, "wms-west": SourceKind.WMS})
    claims = [
        Claim("wms-west", SourceKind.WMS, "WO-2", AT, "PICKED"),
        Claim("wms-east", SourceKind.WMS, "WO-1", AT, "SHIPPED"),
    ]
    fact = decide("state", claims, rules.for_field("state"), now=LATER)
    assert fact is not None
    assert (fact.served.source, fact.authoritative) == ("wms-east", True)
    with pytest.raises(ConfigurationError, match="'wms-east'"):
        rules.check_sources({"wms": SourceKind.WMS})


def test_fallback_is_served_but_not_authoritative() -> None:
    rules = AuthorityRules.load()
    claims = [Claim("web-store", SourceKind.STOREFRONT, "SF-1", AT, "10.00")]
    fact = decide("totals.total", claims, rules.for_field("totals.total"), now=LATER)
    assert fact is not None
    assert fact.served.source == "web-store"
    assert not fact.authoritative


def test_grace_period_tells_sync_lag_from_disagreement() -> None:
    rule = AuthorityRules.load().for_field("totals")  # one hour of grace
    owner = Claim("erp", SourceKind.ERP, "SO-1", AT, "12.00")
    older = Claim("web-store", SourceKind.STOREFRONT, "SF-1", AT - timedelta(minutes=5), "10.00")
    newer = Claim("web-store", SourceKind.STOREFRONT, "SF-1", AT + timedelta(minutes=5), "10.00")
    lag = decide("totals.total", [owner, older], rule, now=AT + timedelta(minutes=30))
    assert lag is not None
    assert not lag.disputed
    assert lag.lagging == (older,)
    late = decide("totals.total", [owner, older], rule, now=AT + timedelta(hours=2))
    assert late is not None
    assert late.conflicting == (older,)
    # a claim newer than the owner's is not lag: it conflicts at once
    fresh = decide("totals.total", [owner, newer], rule, now=AT + timedelta(minutes=30))
    assert fresh is not None
    assert fresh.conflicting == (newer,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[fields.colour]\nowner = "erp"\n', "unknown field 'colour'"),
        ('[fields.state]\nowner = "wms"\nweight = 3\n', "fields.state.weight"),
        ('[fields.state]\nowner = "wms"\ngrace_seconds = -1\n', "grace_seconds"),
        ('[fields.state]\nowner = "wms"\n', "no owner for"),
    ],
)
def test_bad_rules_fail_with_a_clear_message(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        AuthorityRules.load(path)


def test_an_unknown_source_in_the_rules_fails_at_start_up(tmp_path: Path) -> None:
    rules = rules_with(tmp_path, '[fields.terms]\nowner = "erp"', '[fields.terms]\nowner = "sap"')
    with pytest.raises(ConfigurationError, match="'terms' names 'sap'"):
        rules.check_sources({"erp": SourceKind.ERP})


def test_a_lone_claim_is_served_as_any_claim_is() -> None:
    """One claim (most provenance entries) is decided without ranking: the same fact as the
    same claim beside a second one that agrees with it, less that second claim."""
    rules = AuthorityRules.load()
    wms = Claim("wms", SourceKind.WMS, "WO-1", AT, "3")
    echo = Claim("wms-2", SourceKind.WMS, "WO-2", AT, "3")
    for field, claim in [("lines[SKU-1].shipped", wms), ("totals.total", wms)]:
        rule = rules.for_field(field)
        alone = decide(field, [claim], rule, now=LATER)
        paired = decide(field, [claim, echo], rule, now=LATER)
        assert alone is not None
        assert paired is not None
        assert (alone.field, alone.served, alone.authoritative) == (
            paired.field,
            paired.served,
            paired.authoritative,
        )
        assert alone.claims == (claim,)
        assert (alone.conflicting, alone.lagging, alone.disputed) == ((), (), False)
    assert decide("state", [wms], rules.for_field("state"), now=LATER).authoritative  # type: ignore[union-attr]


def test_a_paths_rule_is_the_same_when_asked_again() -> None:
    rules = AuthorityRules.load()
    paths = ["lines[SKU-1].shipped", "lines[SHIRT[M].v2].unitPrice", "totals.total", "state"]
    first = [rules.for_field(path).owner for path in paths]
    assert (
        [rules.for_field(path).owner for path in paths]
        == first
        == [
            "wms",
            "erp",
            "erp",
            "wms",
        ]
    )


def test_grace_ends_at_its_last_moment_and_a_claim_as_old_as_the_owners_is_lag() -> None:
    rule = AuthorityRules.load().for_field("totals")  # one hour of grace
    owner = Claim("erp", SourceKind.ERP, "SO-1", AT, "12.00")
    same_moment = Claim("web-store", SourceKind.STOREFRONT, "SF-1", AT, "10.00")
    within = decide("totals.total", [owner, same_moment], rule, now=AT + timedelta(minutes=59))
    assert within is not None
    assert (within.lagging, within.conflicting) == ((same_moment,), ())
    ended = decide("totals.total", [owner, same_moment], rule, now=AT + timedelta(hours=1))
    assert ended is not None
    assert (ended.lagging, ended.conflicting) == ((), (same_moment,))


def test_bad_rules_name_every_field_at_fault(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[fields.colour]\nowner = "erp"\n[fields.size]\nowner = "erp"\n')
    with pytest.raises(ConfigurationError) as unknown:
        AuthorityRules.load(path)
    known = ", ".join(sorted(AuthorityRules.load().fields))
    assert str(unknown.value) == (
        f"authority rules {path}: unknown field 'colour', 'size'; known: {known}"
    )
    path.write_text('[fields.state]\nowner = "wms"\n[fields.currency]\nowner = "storefront"\n')
    missing = sorted(set(AuthorityRules.load().fields) - {"state", "currency"})
    with pytest.raises(ConfigurationError) as unowned:
        AuthorityRules.load(path)
    assert str(unowned.value) == f"authority rules {path}: no owner for {', '.join(missing)}"
    path.write_text("[fields\n")
    with pytest.raises(ConfigurationError) as not_toml:
        AuthorityRules.load(path)
    assert str(not_toml.value).startswith(f"authority rules {path} is not valid TOML: ")


def test_an_unknown_source_is_told_the_kinds_it_could_have_named(tmp_path: Path) -> None:
    rules = rules_with(tmp_path, '[fields.terms]\nowner = "erp"', '[fields.terms]\nowner = "sap"')
    with pytest.raises(ConfigurationError) as refused:
        rules.check_sources({"erp": SourceKind.ERP})
    assert str(refused.value) == (
        "authority rules: field 'terms' names 'sap', which is neither a source kind"
        " (erp, payments, storefront, wms) nor a configured source"
    )


def test_a_lone_claim_of_the_named_owner_is_authoritative(tmp_path: Path) -> None:
    rules = rules_with(
        tmp_path,
        '[fields.state]\nowner = "wms"\nfallback = ["storefront"]',
        '[fields.state]\nowner = "wms-east"\nfallback = ["wms", "storefront"]',
    )
    east = Claim("wms-east", SourceKind.WMS, "WO-1", AT, "SHIPPED")
    west = Claim("wms-west", SourceKind.WMS, "WO-2", AT, "SHIPPED")
    owned = decide("state", [east], rules.for_field("state"), now=LATER)
    fallback = decide("state", [west], rules.for_field("state"), now=LATER)
    assert owned is not None
    assert fallback is not None
    assert (owned.authoritative, fallback.authoritative) == (True, False)


NAMES = st.sampled_from(["wms", "erp", "storefront", "payments", "erp-eu", "shop", "wms-1"])


@given(
    preference=st.lists(NAMES, min_size=1, max_size=5),
    source=st.one_of(NAMES, st.just("other")),
    kind=st.sampled_from(list(SourceKind)),
)
def test_a_source_ranks_at_the_first_entry_naming_it_or_its_kind(
    preference: list[str], source: str, kind: SourceKind
) -> None:
    rule = FieldAuthority(owner=preference[0], fallback=tuple(preference[1:]))
    expected = next(
        (i for i, entry in enumerate(preference) if entry in (source, kind.value)),
        len(preference),  # named by none: after every entry, repeated ones included
    )
    assert rule.rank(source, kind) == expected
