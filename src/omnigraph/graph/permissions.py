"""Field-level permissions: strawberry ``BasePermission`` checks against the request's roles."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from omnigraph.security.principal import Principal, Role

__all__ = [
    "MONEY_FIELDS",
    "RequireRole",
    "every_field",
    "is_money_field",
    "may_trace",
    "principal_in",
    "principal_of",
    "traceable",
    "traceable_by",
]

# Canonical fields whose provenance tells how money moved (authority.toml names them).
MONEY_FIELDS = frozenset(
    {"totals", "unitPrice", "terms", "financialStatus", "creditMemos", "payments"}
)
_SEES_MONEY = frozenset({Role.SUPPORT, Role.FINANCE, Role.REPORTING})


def principal_of(info: Info[Any, Any]) -> Principal | None:
    return principal_in(info.context)


def principal_in(context: object) -> Principal | None:
    """The principal a request's context acts as (None outside a request)."""
    request = getattr(context, "request", None)
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else None
    return user if isinstance(user, Principal) else None


class RequireRole(BasePermission):
    """Allow the field to principals holding any of ``roles`` (admin holds all)."""

    error_extensions = {"code": "FORBIDDEN"}

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)
        names = " or ".join(sorted(role.value for role in self.roles)) or Role.ADMIN.value
        self.message = f"this needs the {names} role"

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        principal = principal_of(info)
        return principal is not None and principal.has_any(self.roles)


def is_money_field(field: str) -> bool:
    """Whether ``field`` (e.g. ``lines[SKU-1].unitPrice``, ``totals.total``) tells of money."""
    last = field.rsplit(".", 1)[-1].split("[", 1)[0]
    return last in MONEY_FIELDS or field.split(".", 1)[0].split("[", 1)[0] in MONEY_FIELDS


def may_trace(principal: Principal | None, field: str) -> bool:
    """Whether ``principal`` may see who claimed what about ``field``: its provenance and its
    disagreements (and so filter or count by them). A storefront key sees order status and
    its provenance, not where money claims came from."""
    if not is_money_field(field):
        return True
    return principal is not None and principal.has_any(_SEES_MONEY)


def traceable(info: Info[Any, Any]) -> Callable[[str], bool]:
    """:func:`traceable_by` the caller, looked up once for all the fields of an answer."""
    return traceable_by(principal_of(info))


def traceable_by(principal: Principal | None) -> Callable[[str], bool]:
    """Whether ``principal`` may trace a field (:func:`may_trace`), decided once for all the
    fields of an answer: one who may trace money traces every field."""
    if principal is not None and principal.has_any(_SEES_MONEY):
        return every_field
    return partial(may_trace, principal)


def every_field(field: str) -> bool:
    """Traceable, whatever ``field``: :func:`traceable`'s answer for one who may trace money."""
    return True
