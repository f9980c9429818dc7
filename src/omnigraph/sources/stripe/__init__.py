"""Stripe as the payments provider (``type = "stripe"`` on a payments source):
docs/sources/stripe.md."""

from omnigraph.sources.stripe.adapter import StripePaymentsAdapter
from omnigraph.sources.stripe.client import DEFAULT_API_VERSION, StripeClient, StripeRefused

__all__ = ["DEFAULT_API_VERSION", "StripeClient", "StripePaymentsAdapter", "StripeRefused"]
