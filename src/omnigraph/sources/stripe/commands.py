"""The payments commands the exception catalogue sends, as the Stripe calls they stand for.

``refund.create`` is ``POST /v1/refunds``; ``payout.investigate`` marks the payout's metadata
(the investigation itself is a conversation with Stripe's support). Stripe cannot book an
adjustment on request nor re-send an object, so ``payout.accept_variance`` and
``record.resync`` are refused with a reason, before any call: the exception shows
``RESOLUTION_FAILED`` with it, and nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KEY_METADATA", "StripeCall", "stripe_call"]

KEY_METADATA = "omnigraph_idempotency_key"  # the metadata key a created object carries

_ACCEPTED_REFUND = frozenset({"succeeded", "pending", "requires_action"})


@dataclass(frozen=True, slots=True)
class StripeCall:
    """A form-encoded ``POST`` and how to read Stripe's answer: (accepted, detail).

    ``existing`` (a list path and its filters) is where the object this call makes is found
    when it was made already: an object there whose ``metadata[omnigraph_idempotency_key]`` is
    the command's key. It is looked at before the call (Stripe may forget an idempotency key
    after 24 hours) and when Stripe replays a server error for the key (the outcome unknown)."""

    path: str
    form: list[tuple[str, str | int]]
    outcome: Callable[[Mapping[str, Any]], tuple[bool, str]]
    existing: tuple[str, list[tuple[str, str | int]]] | None = None


def _text(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _minor(payload: Mapping[str, Any], name: str) -> int | None:
    """A positive amount in minor units; the catalogue templates it as a string."""
    value = payload.get(name)
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def _refund(payload: Mapping[str, Any], idempotency_key: str) -> StripeCall | str:
    target = _text(payload, "charge")
    amount = _minor(payload, "amount")
    if target is None or amount is None:
        return "refund.create needs a charge (or payment intent) id and a positive amount"
    # A PaymentIntent id refunds its latest charge; anything else is taken for a charge id.
    field = "payment_intent" if target.startswith("pi_") else "charge"

    def outcome(refund: Mapping[str, Any]) -> tuple[bool, str]:
        status = str(refund.get("status") or "")
        detail = f"{refund.get('id')} refunded {amount} of {target} ({status})"
        if status in _ACCEPTED_REFUND:
            return True, detail
        reason = refund.get("failure_reason") or "no reason given"
        return False, f"{detail}: {reason}"

    return StripeCall(
        "/v1/refunds",
        [
            (field, target),
            ("amount", amount),
            ("metadata[omnigraph_command]", "refund.create"),
            (f"metadata[{KEY_METADATA}]", idempotency_key),
        ],
        outcome,
        existing=("/v1/refunds", [(field, target)]),
    )


def _investigate(payload: Mapping[str, Any], _key: str) -> StripeCall | str:
    payout_id = _text(payload, "payoutId")
    if payout_id is None:
        return "payout.investigate needs a payoutId"
    return StripeCall(
        f"/v1/payouts/{payout_id}",
        [("metadata[investigation]", "open")],
        lambda payout: (True, f"investigation opened for {payout.get('id', payout_id)}"),
    )


_COMMANDS: dict[str, Callable[[Mapping[str, Any], str], StripeCall | str]] = {
    "refund.create": _refund,
    "payout.investigate": _investigate,
}

_REFUSED = {
    "payout.accept_variance": "Stripe books no adjustment on request: settle the variance with"
    " Stripe support, or record it in the ledger; the payout is reconciled again when Stripe"
    " books it",
    "record.resync": "Stripe cannot re-send an object: the payments feed reads payouts again"
    " from Stripe's events and lists",
}


def stripe_call(
    command_type: str, payload: Mapping[str, Any], idempotency_key: str
) -> StripeCall | str:
    """The call for a command, or why it cannot be made (the command is then refused)."""
    build = _COMMANDS.get(command_type)
    if build is not None:
        return build(payload, idempotency_key)
    return _REFUSED.get(command_type, f"Stripe has no equivalent of command {command_type!r}")
