"""The kinds of source system omnigraph federates, and what each speaks: the words every room
uses to say who asserted a value or owns a field."""

from __future__ import annotations

import enum

__all__ = ["SourceKind", "SourceType"]


class SourceKind(enum.StrEnum):
    STOREFRONT = "storefront"
    ERP = "erp"
    WMS = "wms"
    PAYMENTS = "payments"


class SourceType(enum.StrEnum):
    """What a source speaks: the source contract (docs/sources/README.md), or a provider's API."""

    CONTRACT = "contract"
    SHOPIFY = "shopify"
    STRIPE = "stripe"
