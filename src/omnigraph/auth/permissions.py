"""Field-level permissions: strawberry ``BasePermission`` checks against the request's roles."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from omnigraph.auth.principal import Principal, Role

__all__ = ["RequireRole", "principal_of"]


def principal_of(info: Info[Any, Any]) -> Principal | None:
    request = getattr(info.context, "request", None)
    scope = getattr(request, "scope", None)
    user = scope.get("user") if isinstance(scope, dict) else None
    return user if isinstance(user, Principal) else None


class RequireRole(BasePermission):
    """Allow the field to principals holding any of ``roles`` (admin holds all)."""

    error_extensions = {"code": "FORBIDDEN"}

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)
        names = " or ".join(sorted(role.value for role in self.roles))
        self.message = f"this needs the {names} role"

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        principal = principal_of(info)
        return principal is not None and principal.has_any(self.roles)
