"""Roles and the principal a request acts as.

Roles are coarse on purpose (one per kind of client); what each may read or change is decided
per field in the schema, so the matrix is visible where the fields are declared.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from starlette.authentication import BaseUser

__all__ = ["AWAITING_CONNECTION_INIT", "DEVELOPER", "Principal", "Role"]


class Role(enum.StrEnum):
    STOREFRONT = "storefront"
    SUPPORT = "support"
    FINANCE = "finance"
    REPORTING = "reporting"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal(BaseUser):
    """An authenticated caller: a named API key, a JWT subject, or the local developer."""

    subject: str
    roles: frozenset[Role]
    channel: str | None = None
    via: str = "api_key"
    # a JWT's expiry (seconds since the epoch, with the verifier's leeway); None: no expiry
    valid_until: float | None = None
    # an API key's public prefix (names may repeat; the prefix is the key's own)
    key: str | None = None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.subject

    @property
    def identity(self) -> str:
        return f"{self.via}:{self.subject}"

    @property
    def owner(self) -> str:
        """Whose the things this caller makes are (a bulk export): the API key itself, by its
        prefix (two keys may share a name), else the identity."""
        return f"api_key:{self.key}" if self.key else self.identity

    def has_any(self, roles: frozenset[Role]) -> bool:
        return Role.ADMIN in self.roles or not roles.isdisjoint(self.roles)


# Development mode without a token: every role, so GraphiQL works with no set-up.
DEVELOPER = Principal("developer", frozenset(Role), via="development")

# A WebSocket opened without a token in production: no role until its ``connection_init``
# carries one (a browser cannot put a header on the handshake); omnigraph.graph.live_sockets.
AWAITING_CONNECTION_INIT = Principal("websocket", frozenset(), via="awaiting-connection-init")
