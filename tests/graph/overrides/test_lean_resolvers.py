"""Resolvers called straight give what strawberry's wrapper gives: the same data, the same
errors at the same paths, the same ``Info``; guarded fields and fields with arguments keep the
wrapper, so their guards and argument conversion still run."""

from __future__ import annotations

import asyncio
import gc
import operator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema.config import StrawberryConfig

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


class Upper(FieldExtension):
    """Not a permission guard: a field with it keeps strawberry's wrapper."""

    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


class Always(BasePermission):
    message = "never said"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return True


class Light(BasePermission):
    """Parcels of up to 4 only; it reads the ``Info`` strawberry gives it."""

    message = "too heavy"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        assert info.field_name in {"weighed", "weightNote", "guardedLater"}
        return bool(source.weight <= 4)


class Truthy(BasePermission):
    """Answers 1, not True: strawberry refuses the answer itself."""

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return 1  # type: ignore[return-value]


class Pending(BasePermission):
    """A plain function answering a coroutine: strawberry fails closed on it."""

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return _yes()  # type: ignore[return-value]


async def _yes() -> bool:
    return True


class Awaited(BasePermission):
    """A coroutine function: strawberry's guard awaits it, so its wrapper stays."""

    async def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return bool(source.weight <= 4)


def _by_keyword(*, root: Parcel) -> int:
    """The source by name only: a call by position would fail."""
    return root.weight * 100


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

    # guarded: fields without resolvers and with, one guard or two, every kind of answer
    seal: str = strawberry.field(default="sealed", permission_classes=[Always])
    hidden: str = strawberry.field(default="hidden", permission_classes=[Never])
    weighed: int = strawberry.field(default=1, permission_classes=[Always, Light])
    odd: str | None = strawberry.field(default="odd", permission_classes=[Truthy])
    pending: str | None = strawberry.field(default="pending", permission_classes=[Pending])
    awaited: str | None = strawberry.field(default="awaited", permission_classes=[Awaited])
    quiet: str | None = strawberry.field(
        default="quiet", extensions=[PermissionExtension([Never()], fail_silently=True)]
    )

    @strawberry.field(permission_classes=[Light])
    def weight_note(self, info: strawberry.Info) -> str:
        return f"{self.weight} at {info.path.key}"

    @strawberry.field(permission_classes=[Light])
    async def guarded_later(self) -> int:
        return self.weight + 100

    shout: str = strawberry.field(default="hi", extensions=[Upper()])
    loud: str = strawberry.field(
        default="hey", extensions=[PermissionExtension([Always()]), Upper()]
    )

    @strawberry.field(permission_classes=[Always])
    def guarded_heavier(self, by: int = 1) -> int:
        return self.weight + by

    @strawberry.field(permission_classes=[Always])
    def guarded_broken(self) -> int | None:
        raise ValueError(f"parcel {self.weight} is unreadable")

    by_root: int = strawberry.field(resolver=lambda root: root.weight + 10)
    by_keyword: int = strawberry.field(resolver=_by_keyword)
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
             byRoot byKeyword byParent constant } }"""


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
    "Parcel.byKeyword",
    "Parcel.byParent",
    "Parcel.constant",
    # guarded by strawberry's permission extension alone, its checks all sync
    "Parcel.secret",
    "Parcel.seal",
    "Parcel.hidden",
    "Parcel.weighed",
    "Parcel.odd",
    "Parcel.pending",
    "Parcel.quiet",
    "Parcel.weightNote",
    "Parcel.guardedBroken",
    "Parcel.guardedLater",  # async: the guard's checks are sync, the coroutine awaited after
}

GUARDED = """{ parcels { weight seal hidden weighed weightNote guardedBroken quiet } }"""
REFUSED_ANSWERS = ["{ parcels { weight odd } }", "{ parcels { weight pending } }"]


def test_a_lightened_schema_answers_as_strawberry_does() -> None:
    ordinary = strawberry.Schema(Query)
    light = strawberry.Schema(Query)
    # not heavier (an argument), not awaited (a guard strawberry must await)
    assert lightened(light) == DIRECT
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
        "byKeyword": 500,
        "byParent": "5@byParent",
        "constant": "same for all",
    }


def test_guarded_fields_answer_and_refuse_as_strawberry_does(
    recwarn: pytest.WarningsRecorder,
) -> None:
    """A permission allowing the field: the field answers; any other answer: strawberry's
    wrapper refuses, fails silently or raises, as without the short path."""
    ordinary = strawberry.Schema(Query)
    light = strawberry.Schema(Query)
    lightened(light)
    expected = answer(ordinary, GUARDED)
    assert answer(light, GUARDED) == expected
    assert expected["data"] == {"parcels": [None, None]}  # hidden is non-null and refused
    assert {message for message, _ in expected["errors"]} == {"not for you"}
    partly = GUARDED.replace(" hidden", "")
    expected = answer(ordinary, partly)
    assert answer(light, partly) == expected
    assert {message for message, _ in expected["errors"]} == {
        "too heavy",  # parcel 5: weighed and weightNote refused, the parcel nulled
        "parcel 3 is unreadable",
    }
    allowed = "{ parcels { weight seal weighed weightNote quiet awaited shout loud } }"
    assert answer(light, allowed) == answer(ordinary, allowed)
    assert answer(light, allowed)["data"]["parcels"][0] == {
        "weight": 3,
        "seal": "sealed",
        "weighed": 1,
        "weightNote": "3 at weightNote",
        "quiet": None,
        "awaited": "awaited",
        "shout": "HI",
        "loud": "HEY",
    }
    argued = "{ parcels { guardedHeavier(by: 7) g: guardedHeavier } }"  # keeps the wrapper
    assert answer(light, argued) == answer(ordinary, argued)
    assert answer(light, argued)["data"]["parcels"][0] == {"guardedHeavier": 10, "g": 4}
    later = "{ parcels { weight guardedLater } }"
    assert answer(light, later) == answer(ordinary, later)
    assert answer(light, later)["data"]["parcels"][0] == {"weight": 3, "guardedLater": 103}
    for query in REFUSED_ANSWERS:
        refused = answer(light, query)
        assert refused == answer(ordinary, query)
        assert refused["errors"]  # the permission's answer itself is refused
    # the coroutine a permission answered is closed, not left to warn it was never awaited
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


@strawberry.type
class Label:
    text: str = strawberry.field(permission_classes=[Always])


@strawberry.type
class LabelQuery:
    @strawberry.field
    def labels(self) -> list[Label]:
        return [{"text": "read by the schema's own resolver"}]  # type: ignore[list-item]


def test_a_guarded_field_of_a_schema_with_its_own_default_resolver_keeps_it() -> None:
    config = StrawberryConfig(default_resolver=operator.getitem)
    ordinary = strawberry.Schema(LabelQuery, config=config)
    light = strawberry.Schema(LabelQuery, config=config)
    assert lighten(light) != []  # ``labels`` is called straight; ``text`` keeps its wrapper
    query = "{ labels { text } }"
    assert answer(light, query) == answer(ordinary, query)
    assert answer(light, query)["data"] == {
        "labels": [{"text": "read by the schema's own resolver"}]
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
