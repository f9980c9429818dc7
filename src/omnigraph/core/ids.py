"""Opaque global ids: ``base64url("Type:part:part")``.

Ids name the system of record for the object (for an order, the capturing storefront source and
its order id), so ``node(id:)`` can route without a lookup table.
"""

from __future__ import annotations

import base64
import binascii

from omnigraph.core.errors import InvalidId

__all__ = ["decode_global_id", "encode_global_id"]

_SEPARATOR = ":"


def encode_global_id(type_name: str, *parts: str) -> str:
    raw = _SEPARATOR.join((type_name, *parts))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_global_id(global_id: str, *, expected_type: str | None = None) -> tuple[str, list[str]]:
    """Return ``(type_name, parts)``; raise :class:`InvalidId` for anything malformed."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidId(f"{global_id!r} is not an omnigraph id", id=global_id) from None
    type_name, _, rest = raw.partition(_SEPARATOR)
    parts = rest.split(_SEPARATOR) if rest else []
    if not type_name.isidentifier() or not parts or not all(parts):
        raise InvalidId(f"{global_id!r} is not an omnigraph id", id=global_id)
    if expected_type is not None and type_name != expected_type:
        raise InvalidId(
            f"{global_id!r} is {_a(type_name)} id, expected {_a(expected_type)} id", id=global_id
        )
    return type_name, parts


def _a(name: str) -> str:
    """``name`` with its indefinite article, as the id messages say it: "an Order", "a Payout"."""
    return f"{'an' if name[:1].upper() in 'AEIOU' else 'a'} {name}"
