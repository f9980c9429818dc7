"""Shared worlds for the demo-source tests: built once and never mutated (apps copy them)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnigraph.demo import DemoWorld, build_world

ANCHOR = datetime(2026, 11, 20, tzinfo=UTC)
# where each system answers a batch of ids
BATCH_PATHS = {
    "storefront": "/orders/batch",
    "erp": "/sales-orders/batch",
    "wms": "/fulfilment-orders/batch",
    "payments": "/payouts/batch",
}


@pytest.fixture(scope="session")
def world() -> DemoWorld:
    """The default-sized world (300 orders) at a fixed anchor."""
    return build_world(seed=7, anchor=ANCHOR)


@pytest.fixture(scope="session")
def small_world() -> DemoWorld:
    """The smallest world the CLI offers (--orders 60), for fast app tests."""
    return build_world(seed=7, orders=60, anchor=ANCHOR)
