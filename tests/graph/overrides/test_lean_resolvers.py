"""Resolvers called straight give what strawberry's wrapper gives: the same data, the same
errors at the same paths, the same ``Info``; guarded fields and fields with arguments keep the
wrapper, so their guards and argument conversion still run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import strawberry
from strawberry.permission import BasePermission

from omnigraph.api.schema import build_schema
from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.graph.overrides import graphql_schema
from omnigraph.graph.overrides.lean_resolvers import lighten
from omnigraph.security.principal import Role
from tests.conftest import authorize
from tests.security.conftest import serve


class Never(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


def _by_parent(parcel: strawberry.Parent[Parcel], info: strawberry.Info) -> str:
    return f"{parcel.weight}@{info.path.key}"


def _constant() -> str:
    return "same for all"


@strawberry.type
class Parcel:
    weight: int

    @strawberry.field
    def doubled(self) -> int:
        return self.weight * 2

    @strawberry.field
    def path(self, info: strawberry.Info) -> str:
        return ".".join(str(key) for key in info.path.as_list())

    @strawberry.field
    def context_name(self, info: strawberry.Info) -> str:
        context: dict[str, str] = info.context
        return context["name"]

    @strawberry.field
    async def later(self) -> int:
        return self.weight + 1

    @strawberry.field
    def broken(self) -> int:
        raise ValueError(f"parcel {self.weight} has no scale")

    @strawberry.field
    def heavier(self, by: int = 1) -> int:
        return self.weight + by

    @strawberry.field(permission_classes=[Never])
    def secret(self) -> str:
        return "seen"

    by_root: int = strawberry.field(resolver=lambda root: root.weight + 10)
    by_parent: str = strawberry.field(resolver=_by_parent)
    constant: str = strawberry.field(resolver=_constant)


@strawberry.type
class Query:
    @strawberry.field
    def parcels(self) -> list[Parcel | None]:
        return [Parcel(weight=3), Parcel(weight=5)]


QUERY = """{ parcels { doubled path contextName later heavier(by: 2) h: heavier
             broken secret } }"""


WHOLE = """{ parcels { doubled path contextName later heavier(by: 2) h: heavier
             byRoot byParent constant } }"""


def answer(schema: strawberry.Schema, query: str = QUERY) -> dict[str, Any]:
    result = asyncio.run(schema.execute(query, context_value={"name": "ctx"}))
    return {
        "data": result.data,
        "errors": sorted((e.message, tuple(e.path or ())) for e in result.errors or []),
    }


def lightened(schema: strawberry.Schema) -> set[str]:
    changed = [field for field, _ in lighten(schema)]
    types = graphql_schema(schema).type_map
    return {
        f"{type_name}.{name}"
        for type_name in ("Query", "Parcel")
        for name, field in types[type_name].fields.items()  # type: ignore[union-attr]
        if any(field is c for c in changed)
    }


DIRECT = {
    "Query.parcels",
    "Parcel.doubled",
    "Parcel.path",
    "Parcel.contextName",
    "Parcel.later",
    "Parcel.broken",
    "Parcel.byRoot",  # the source passed as ``root``, as ``parent``, and not at all
    "Parcel.byParent",
    "Parcel.constant",
}


def test_a_lightened_schema_answers_as_strawberry_does() -> None:
    ordinary = strawberry.Schema(Query)
    light = strawberry.Schema(Query)
    assert lightened(light) == DIRECT  # not heavier (an argument), not secret (a guard)
    assert answer(light) == answer(ordinary)
    assert answer(light)["data"] == {"parcels": [None, None]}  # each parcel's non-null failure
    whole = answer(light, WHOLE)
    assert whole == answer(ordinary, WHOLE)
    assert whole["data"]["parcels"][1] == {
        "doubled": 10,
        "path": "parcels.1.path",
        "contextName": "ctx",
        "later": 6,
        "heavier": 7,
        "h": 6,
        "byRoot": 15,
        "byParent": "5@byParent",
        "constant": "same for all",
    }


def test_guarded_fields_keep_their_guard() -> None:
    light = strawberry.Schema(Query)
    lightened(light)
    result = light.execute_sync("{ parcels { doubled secret } }")
    assert result.errors is not None
    assert {e.message for e in result.errors} == {"not for you"}
    paths = answer(light)["errors"]
    assert ("parcel 3 has no scale", ("parcels", 0, "broken")) in paths


ORDER = """query($id: ID!) { order(id: $id) {
  name state channelState lines { sku quantity shipped short }
  payments { id status } provenance(field: "state") { source sourceKind authoritative }
} }"""


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.STOREFRONT])
async def test_the_lightened_service_answers_as_strawberry_does(
    demo: DemoSystems, clean_database: str, world: DemoWorld, role: Role
) -> None:
    """The service with its resolvers lightened and without: the same answer, field for field,
    to a caller who may read an order's payments (support) and to one who may not (a
    storefront key: ``payments`` is guarded, and stays refused), in production mode."""
    order = next(o for o in world.storefront_orders if o["channel"] == "web")
    variables = {"id": encode_global_id("Order", "web-store", order["id"])}
    answers = []
    for overrides in (True, False):
        async for app, client in serve(
            demo, clean_database, mode="production", framework_overrides=overrides
        ):
            await authorize(app, client, role)
            response = await client.post("/graphql", json={"query": ORDER, "variables": variables})
            answers.append(response.json())
    lightened, ordinary = answers
    assert lightened == ordinary
    assert lightened["data"]["order"]["name"] == order["name"]
    codes = [e["extensions"]["code"] for e in lightened.get("errors", [])]
    if role is Role.SUPPORT:
        assert codes == []
        assert lightened["data"]["order"]["payments"] is not None
    else:
        assert codes == ["FORBIDDEN"]
        assert lightened["data"]["order"]["payments"] is None


def test_without_the_overrides_every_resolver_keeps_strawberrys_wrapper() -> None:
    schema = build_schema(framework_overrides=False)
    direct = {"resolve", "resolve_plain", "resolve_general"}
    for named in graphql_schema(schema).type_map.values():
        for field in getattr(named, "fields", {}).values():
            assert getattr(getattr(field, "resolve", None), "__name__", None) not in direct
