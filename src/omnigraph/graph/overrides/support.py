"""Whether the strawberry and graphql-core in use still have the internals the overrides reach.

The overrides replace or call framework methods and private names that a release may rename or
drop. Each is looked up at start-up: where one is missing, the overrides are switched off for
the process with a logged warning, and the graph runs on the frameworks' ordinary paths (the
same answers, as with ``OMNIGRAPH_FRAMEWORK_OVERRIDES=false``), not with a broken override.
"""

from __future__ import annotations

import inspect

import structlog
from strawberry.extensions.context import ExtensionContextManagerBase
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import Schema, StrawberryGraphQLCoreExecutionContext
from strawberry.types.info import Info

__all__ = ["missing_internals", "overrides_in_force"]

log = structlog.get_logger(__name__)

# graphql-core's execution methods (through strawberry's subclass of its execution context)
# that LeafExecutionContext overrides, calls through super() or calls from a field's step
EXECUTION_METHODS = (
    "execute_root_grouped_field_set",
    "execute_fields",
    "execute_field",
    "complete_object_value",
    "complete_list_value",
    "collect_subfields",
    "execute_collected_subfields",
    "build_resolve_info",
    "complete_awaitable_value",
    "complete_leaf_value",
    "complete_value",
    "handle_field_error",
    "settle_in_background",
)
# what lean_resolvers builds strawberry's Info from, calling a resolver directly
INFO_ARGUMENTS = ("_raw_info", "_field")
# what extension_hooks fills in for strawberry's stage context managers, and the runner's
# methods it overrides, which strawberry's schema calls
STAGE_ATTRIBUTES = ("hooks", "default_hook")
RUNNER_METHODS = ("operation", "validation", "parsing", "executing", "get_extensions_results")


def missing_internals() -> list[str]:
    """The framework internals the overrides rely on that this installation lacks."""
    context = StrawberryGraphQLCoreExecutionContext
    missing = [
        f"execution context's {name}"
        for name in EXECUTION_METHODS
        if not callable(getattr(context, name, None))
    ]
    parameters = inspect.signature(Info).parameters
    missing += [f"strawberry Info({name}=...)" for name in INFO_ARGUMENTS if name not in parameters]
    slots = getattr(ExtensionContextManagerBase, "__slots__", ())
    missing += [f"extension stage's {name}" for name in STAGE_ATTRIBUTES if name not in slots]
    missing += [
        f"extensions runner's {name}"
        for name in RUNNER_METHODS
        if not callable(getattr(SchemaExtensionsRunner, name, None))
    ]
    if not callable(getattr(Schema, "create_extensions_runner", None)):
        missing.append("schema's create_extensions_runner")
    return missing


def overrides_in_force(requested: bool) -> bool:
    """Whether the overrides run: ``requested`` (``Settings.framework_overrides``) and every
    internal they reach present; a missing one is logged once, as a warning, and turns them off.
    """
    if not requested:
        return False
    missing = missing_internals()
    if missing:
        log.warning(
            "framework_overrides_switched_off",
            reason="the installed strawberry or graphql-core lacks what the overrides reach",
            missing=missing,
        )
        return False
    return True
