"""Every place omnigraph reaches into strawberry's or graphql-core's internals, in one folder.

Each override below stays because a measurement showed it pays (docs/PERFORMANCE.md,
Optimisations: the row's number, its method and commit); each answers exactly what the
framework's ordinary path answers, which ``tests/graph/overrides`` checks side by side. One
setting switches them all off, ``OMNIGRAPH_FRAMEWORK_OVERRIDES=false``
(``Settings.framework_overrides``): the graph then runs on strawberry's and graphql-core's
ordinary paths only, with the same answers (``tests/api/test_framework_overrides.py`` compares
them byte for byte; ``OMNIGRAPH_FRAMEWORK_OVERRIDES=false pytest`` runs the whole suite so).
Off is the way to try a strawberry or graphql-core release these overrides were not written
for; and where the installed release lacks a method or private name they reach, start-up turns
them off by itself with a logged warning (``support.overrides_in_force``).

The overrides, what each changes, and what it buys. "Calls" are Python function calls a
request where the other overrides are on, without it -> with it (``benchmarks/overrides.py
--calls``, deterministic: support lookup, reporting page of 100 orders); CPU ms are the figures
docs/PERFORMANCE.md recorded when each was added (same-process A/B, medians):

- ``leaf_execution.LeafExecutionContext`` (graphql-core's ``execute_root_grouped_field_set``,
  ``execute_fields``, ``complete_object_value``, ``complete_list_value``,
  ``complete_leaf_value``, the executor methods it calls from a field's step:
  ``build_resolve_info``, ``complete_awaitable_value``, ``handle_field_error``,
  ``execute_collected_subfields``, ``settle_in_background``; and the executor's memo of
  collected sub-fields, ``_relevant_sub_fields``, which a plan shares across requests: were it
  renamed, each request would collect its own, with the same answers): plain
  leaf fields read with one ``getattr`` and ``coerce_output_value`` (a value graphql-core's
  own ``String``, ``ID``, ``Boolean`` or ``Int`` would hand back unchanged passed through),
  objects selecting only such leaves built in one loop, and lists of such leaves or objects
  without a completion per item; every other field without arguments run from a step made
  once per selection, an object field without a resolver read without a resolve info, a list
  of plain objects executing each item's sub-fields straight, a resolver that takes no info
  (``lean_resolvers.info_free``) and a list strawberry reads from its attribute run without a
  resolve info unless the value needs one; each selection's object plan
  and steps made once per document without directives and kept with the schema
  (``GraphQLSchema.extensions``, graphql-core's place for its users' data) for its next
  requests; strawberry's enums named from a dict of their values.
  Calls: lookup 14,934 -> 10,396, reporting page 122,748 -> 103,208. Optimisation 8: lookup
  6.90 -> 6.20 CPU ms, reporting page 27.7 -> 25.7; the lists, optimisation 20 (with the lean
  resolvers' ``root``): executed availability 6.3-6.8 -> 5.3-5.4; the steps, optimisation 30:
  calls, reporting page 76,003 -> 53,226, lookup 8,954 -> 8,651, and reporting page 34.5 ->
  27.8 CPU ms in one process; values passed through, optimisation 32: calls, reporting page
  53,226 -> 50,110, lookup 8,651 -> 8,276; plans, object plans and the rest, optimisations
  33-39: calls, reporting page 50,912 -> 38,915, lookup 8,273 -> 6,733; no info for resolvers
  that take none, optimisation 46: calls in production mode, availability 9,493 -> 9,154,
  reporting page 42,005 -> 41,613. With it, ``compiled_selection`` (optimisation 48): a
  selection whose kept plan has completed 64 objects in its document's requests after the
  first is written out as one Python function, its
  plain leaves and its info-free resolvers' leaves, lists of text and lists of plain-leaf
  objects answered inline, every other field handed to the executor's own per-field methods;
  a document's names are data in the function's namespace, never code. Calls, availability
  9,111 -> 7,494 (with ``lean_resolvers``' one-parameter ``root`` call).
- ``lean_resolvers.lighten`` (strawberry's ``Info(_raw_info=...)``, the schema converter's
  ``_exception_handler_specs``): resolvers taking only the source (``self``, ``root`` or a
  ``strawberry.Parent``) and ``info``, without argument
  or extension, called straight instead of through strawberry's wrapper; and a field whose one
  extension is strawberry's permission guard called so once each permission answers ``True``
  (any other answer goes to strawberry's wrapper, which decides as before). Calls: lookup 10,686
  -> 10,396, reporting page 113,054 -> 103,208. Optimisation 12: lookup 6.7 -> 6.4 CPU ms,
  reporting page 29.6 -> 27.1.
- ``validation_cache.ValidationVerdicts`` (``schema._schema``, strawberry's
  ``validate_document``): a document's validation verdict remembered per query text and rule
  set, instead of validated on every request (strawberry's own ``ValidationCache`` keys by the
  parsed document, whose hash walks the whole tree: it costs about what validating does).
  Calls: lookup 32,590 -> 10,396, reporting page 114,522 -> 103,208. Optimisation 1 (with the
  rules built once and the cost verdicts, both public API and not switched): lookup 16.8-19.1
  -> 8.8-10.2 CPU ms (wrk 36.3 -> 60.6 req/s), availability 20.8-23.8 -> 16.5-17.7.
- ``extension_hooks.LeanExtensionsRunner`` (strawberry's ``SchemaExtensionsRunner`` and its
  stage context managers' ``hooks`` and ``default_hook``, through the schema's
  ``create_extensions_runner``): each stage's hooks (operation, parsing, validation,
  execution) found once per extension class and wrapped by a context manager decorated once,
  instead of every extension asked for every stage of every request and each hook decorated
  anew; results asked only of extensions with their own ``get_results``. The hooks run in
  strawberry's context managers and exit stacks as before. Calls (medians of 3 rounds): lookup
  6,551 -> 6,172, reporting page 39,242 -> 38,946. Optimisation 42.
- ``context_release.ReleasedContexts`` (a view mixin, relying on when strawberry's view has
  made an HTTP operation's result, ``execute_single``): each HTTP operation's request context
  emptied once its result is made, so reference counting, not the cyclic collector, frees its
  truths, records and futures. It saves collector time, not calls. Optimisation 9: reporting
  page 36.9 -> 28.6 CPU ms, of which collection 10.6 -> 0.2; unreachable objects a page 7,641
  -> 249.

All four together (``benchmarks/overrides.py``, CPU ms a request, medians of 5 rounds on a
machine loaded by other work, load average 6-7): lookup 12.4 off -> 5.2 on, reporting page
62.1 -> 41.5 (on step 1 of the house redesign, 4c4e8a0); calls: lookup 37,387 -> 10,397,
reporting page 143,653 -> 103,154. After optimisations 30-32 (712eba1): calls, lookup 36,769
off -> 8,171 on, reporting page 114,842 -> 50,627; leaf execution alone (all on but it -> all
on) reporting page 94,137 -> 50,864, lookup 14,542 -> 8,521. After 33-39 (c122a36): calls,
lookup 35,978 off -> 6,733 on, reporting page 113,216 -> 38,915; leaf execution alone
reporting page 92,140 -> 38,915, lookup 13,974 -> 6,733.

``graphql_schema`` is no override but the one read of strawberry's private ``_schema`` (the
graphql-core schema a strawberry schema wraps, which strawberry's own ``ValidationCache`` and
printer read too; strawberry has no public accessor): the cost limit and the document tools
need it whether the overrides are on or off.

Not here, because they use only public API and need no switch:

- the coded refusal of a batch that is too large, turned off or malformed (``LimitedGraphQL``
  checks the decoded body in ``parse_json``; it was an override of strawberry's private
  ``_validate_batch_request``, which bought no time);
- the order fields that answer at once from a preloaded truth and with an awaitable otherwise
  (``_answer`` in ``omnigraph.orders.schema``, optimisations 6 and 11; once a sync, an async and
  a plain method per field): graphql-core documents that a resolver may return a value or an
  awaitable, and ``graphql_type=`` is strawberry's documented way to declare the field's type;
  the suite passes with the overrides off, through strawberry's own resolver wrapper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnigraph.graph.overrides.context_release import ReleasedContexts
from omnigraph.graph.overrides.extension_hooks import LeanExtensionsRunner
from omnigraph.graph.overrides.leaf_execution import LeafExecutionContext
from omnigraph.graph.overrides.lean_resolvers import lighten
from omnigraph.graph.overrides.support import overrides_in_force
from omnigraph.graph.overrides.validation_cache import ValidationVerdicts

if TYPE_CHECKING:
    from graphql import GraphQLSchema
    from strawberry.schema.base import BaseSchema

__all__ = [
    "LeafExecutionContext",
    "LeanExtensionsRunner",
    "ReleasedContexts",
    "ValidationVerdicts",
    "graphql_schema",
    "lighten",
    "overrides_in_force",
]


def graphql_schema(schema: BaseSchema) -> GraphQLSchema:
    """The graphql-core schema ``schema`` (a ``strawberry.Schema``) executes with.

    >>> import strawberry
    >>> @strawberry.type
    ... class Query:
    ...     hello: str = "hi"
    >>> graphql_schema(strawberry.Schema(Query)).query_type.name
    'Query'
    """
    core: GraphQLSchema = schema._schema  # type: ignore[attr-defined]
    return core
