"""The catalogue's rules as a reader of docs/EXCEPTIONS.md expects them: payloads filled from
an exception's details, resolutions offered only when their command can be made, and a
catalogue missing kinds refused at start-up saying which."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omnigraph.core.errors import ConfigurationError
from omnigraph.exceptions.catalogue import (
    DEFAULT_CATALOGUE_PATH,
    ExceptionCatalogue,
    KindRule,
    PayloadNotApplicable,
    ResolutionRule,
)


def rule(payload: dict[str, Any]) -> ResolutionRule:
    return ResolutionRule(
        command="order.cancel", payload=payload, inventory="-", order="-", money="-"
    )


def test_placeholders_inside_text_are_filled_in_as_text() -> None:
    template = rule(
        {
            "reason": "{details.sku} x {details.quantity} short at {details.locationId}",
            "days": 3,
            "plain": "no placeholder",
        }
    )
    details = {"sku": "SKU-7", "quantity": 2, "locationId": "dc-north"}
    assert template.render(details) == {
        "reason": "SKU-7 x 2 short at dc-north",
        "days": 3,
        "plain": "no placeholder",
    }


def test_a_missing_detail_says_why_when_the_detector_knew() -> None:
    template = rule({"status": "{details.fulfilmentStatus}"})
    why = "the WMS has not reported this order yet"
    with pytest.raises(PayloadNotApplicable) as known:
        template.render({"orderRef": "SF-1", "unavailable": {"fulfilmentStatus": why}})
    assert str(known.value) == why
    with pytest.raises(PayloadNotApplicable) as unknown:
        template.render({"orderRef": "SF-1", "unavailable": {"sku": "not this one"}})
    assert str(unknown.value) == "the exception has no 'fulfilmentStatus' detail"
    inside = rule({"note": "status {details.fulfilmentStatus}"})
    with pytest.raises(PayloadNotApplicable) as in_text:
        inside.render({"unavailable": {"fulfilmentStatus": why}})
    assert str(in_text.value) == why


def test_only_resolutions_whose_command_can_be_made_are_offered() -> None:
    """A price case about the whole order has no line number: the two resolutions that name a
    line are not offered, crediting the difference and resyncing are."""
    price = ExceptionCatalogue.load().rule("PRICE_DISAGREEMENT")
    offered = price.applicable({"salesOrderId": "SO-1", "creditAmount": "4.00"})
    assert list(offered) == ["CREDIT_THE_DIFFERENCE", "RESYNC_ERP_RECORD"]
    assert offered["CREDIT_THE_DIFFERENCE"].command == "credit_memo.issue"
    line_level = {
        "salesOrderId": "SO-1",
        "lineNo": 2,
        "erpUnitPrice": "9.50",
        "storefrontUnitPrice": "9.00",
    }
    assert list(price.applicable(line_level)) == [
        "CONFIRM_ERP_PRICE",
        "ADJUST_ERP_PRICE",
        "RESYNC_ERP_RECORD",
    ]


def test_every_resolution_is_offered_when_every_detail_is_there() -> None:
    rules = KindRule(
        owner="storefront",
        raised="-",
        resolutions={
            "FIRST": rule({"orderId": "{details.orderRef}"}),
            "NEEDS_SKU": rule({"sku": "{details.sku}"}),
            "LAST": rule({}),
        },
    )
    assert list(rules.applicable({"orderRef": "SF-1", "sku": "S"})) == [
        "FIRST",
        "NEEDS_SKU",
        "LAST",
    ]
    assert list(rules.applicable({"orderRef": "SF-1"})) == ["FIRST", "LAST"]


def test_a_catalogue_missing_kinds_names_each_of_them(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    text = DEFAULT_CATALOGUE_PATH.read_text()
    kept = [
        block
        for block in text.split("\n[kinds.")
        if not block.startswith(("DAMAGE]", "DAMAGE.", "SUBSTITUTION]", "SUBSTITUTION."))
    ]
    path.write_text("\n[kinds.".join(kept))
    with pytest.raises(ConfigurationError) as refused:
        ExceptionCatalogue.load(path)
    assert str(refused.value) == f"exception catalogue {path}: no rule for DAMAGE, SUBSTITUTION"


def test_a_catalogue_that_is_not_toml_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.toml"
    path.write_text("[kinds\n")
    with pytest.raises(ConfigurationError) as refused:
        ExceptionCatalogue.load(path)
    assert str(refused.value).startswith(f"exception catalogue {path} is not valid TOML: ")
