"""Inventory tests share the exception tests' fixtures on the module's own service."""

from tests.exceptions.conftest import (  # noqa: F401 - fixtures
    egraph,
    esources,
    services,
)
