"""strawberry's ``Info`` made for a resolver called outside graphql-core's execution.

A bulk export reads its rows by calling the resolvers itself (``omnigraph.bulk.extraction``),
with the ``info`` strawberry would have handed them: ``Info(_raw_info=..., _field=...)``, the
constructor ``lean_resolvers`` calls too (``support.missing_internals`` checks it is there).
"""

from __future__ import annotations

from typing import Any

__all__ = ["resolver_info"]


def resolver_info(info_class: type[Any], raw: Any, field: Any) -> Any:
    """The ``info`` a resolver of ``field`` (a ``StrawberryField``) reads, over ``raw`` (what
    graphql-core's ``GraphQLResolveInfo`` holds)."""
    return info_class(_raw_info=raw, _field=field)
