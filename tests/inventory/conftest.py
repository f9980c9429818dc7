"""Inventory tests share the exception tests' service fixtures (own demo systems, own app)."""

from tests.exceptions.conftest import (  # noqa: F401 - fixtures
    egraph,
    esources,
    exception_demo,
    exception_service,
    services,
)
