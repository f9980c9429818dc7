"""Shopify as a storefront (``type = "shopify"``): the Admin GraphQL API read as the storefront
contract's orders, with webhooks feeding the change feed (docs/sources/shopify.md)."""
