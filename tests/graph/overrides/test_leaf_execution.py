"""Plain leaf fields answered in one step give exactly what graphql-core's ordinary path gives:
the same data in the same order, the same errors at the same paths, and every field still seen
by a field middleware or guarded by a permission."""

from __future__ import annotations

import asyncio
import enum
import gc
import json
import weakref
from datetime import UTC, datetime
from typing import Any, NewType

import pytest
import strawberry
from graphql import FragmentDefinitionNode, GraphQLError, OperationDefinitionNode, parse
from graphql.execution import executor
from graphql.execution.collect_fields import FragmentDetails
from graphql.pyutils import Undefined
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter

from omnigraph.api.schema import build_schema
from omnigraph.graph.overrides import graphql_schema, leaf_execution
from omnigraph.graph.overrides.leaf_execution import LeafExecutionContext, leaf_reads
from omnigraph.graph.overrides.lean_resolvers import lighten
from tests.conftest import Graph, needs_overrides


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.enum
class Size(enum.Enum):
    SMALL = 1
    LARGE = 2


class Hidden(BasePermission):
    message = "hidden"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    sku: str
    quantity: int
    price: float | None
    colour: Colour
    placed_at: datetime
    note: str | None = None
    strict: str = "set"
    secret: str = strawberry.field(default="s3cret", permission_classes=[Hidden])

    @strawberry.field
    def label(self) -> str:
        return f"{self.sku} x{self.quantity}"

    @strawberry.field
    def padded(self, width: int = 8) -> str:
        return self.sku.ljust(width, ".")


Code = NewType("Code", str)
SCALARS = StrawberryConfig(
    scalar_map={
        Code: strawberry.scalar(
            name="Code",
            # a serialiser that gives up on a value by answering Undefined: graphql-core
            # refuses it
            serialize=lambda value: Undefined if value == "??" else value.upper(),
            parse_value=str,
        )
    }
)


@strawberry.type
class Odd:
    """Values of another Python type than their scalar's: each is serialised, never passed
    through as it is."""

    count: int | None = True  # type: ignore[assignment]  # a bool: Int says 1
    big: int | None = 2**40  # past 32 bits: Int refuses it
    text: str | None = 12  # type: ignore[assignment]  # String says "12"
    flag: bool | None = 0  # type: ignore[assignment]  # Boolean says false
    code: strawberry.ID | None = 42  # type: ignore[assignment]  # ID says "42"
    number: int | None = "7"  # type: ignore[assignment]  # Int reads "7" as 7


@strawberry.interface
class Stocked:
    sku: str


@strawberry.type
class Part(Stocked):
    """A type implementing an interface: strawberry gives it a check of each value's type."""

    quantity: int
    note: str | None = None


def _seen_by_root(root: Any, info: strawberry.Info) -> str:
    return f"{root.name}@{info.path.key}"


@strawberry.type
class Measure:
    name: str
    quantity: int


# each box whose measures were asked for, in order: a resolver is never called twice
MEASURED: list[str] = []


@strawberry.type
class Box:
    """Fields with resolvers of every kind a step completes: leaves, objects, lists, nulls
    where none may be, raised and returned errors."""

    name: str
    contents: list[Item]

    @strawberry.field
    def label(self) -> str:
        return self.name.upper()

    @strawberry.field
    def missing(self) -> str:
        return None  # type: ignore[return-value]  # null in a non-null field

    @strawberry.field
    def maybe(self) -> str | None:
        return None

    @strawberry.field
    def failing(self) -> int | None:
        raise ValueError(f"{self.name} cannot count")

    @strawberry.field
    def returned_error(self) -> int | None:
        return ValueError(f"{self.name} handed back an error")  # type: ignore[return-value]

    @strawberry.field
    def first(self) -> Item | None:
        return self.contents[0] if self.contents else None

    @strawberry.field
    def part(self) -> Part:
        return parts()[0]

    @strawberry.field
    async def later(self) -> Item:
        await asyncio.sleep(0)
        return self.contents[-1]

    @strawberry.field
    async def later_missing(self) -> str:
        await asyncio.sleep(0)
        return None  # type: ignore[return-value]

    @strawberry.field
    def stock(self) -> Stocked:
        return parts()[1]

    @strawberry.field
    def seen_at(self, info: strawberry.Info) -> str:
        return f"{self.name} at {'.'.join(str(key) for key in info.path.as_list())}"

    # the source by name and an info: strawberry's general call
    seen_by_root: str = strawberry.field(resolver=_seen_by_root)

    # lists and leaves from resolvers that take no info: a compiled selection's inline paths,
    # and each value they decline
    @strawberry.field
    def words(self) -> list[str]:
        return [self.name, self.name.upper()]

    @strawberry.field
    def loose_words(self) -> list[str | None]:
        return [self.name, None, 7] if self.name == "two" else [self.name, None]  # type: ignore[list-item]  # String says "7"

    @strawberry.field
    def tuple_words(self) -> list[str]:
        return (self.name, "boxed")  # type: ignore[return-value]  # a tuple is a list too

    @strawberry.field
    def no_words(self) -> list[str] | None:
        return None

    @strawberry.field
    def missing_words(self) -> list[str]:
        return None  # type: ignore[return-value]  # null where none may be

    @strawberry.field
    def not_a_list(self) -> list[str]:
        return self.name  # type: ignore[return-value]  # text is no list to graphql-core

    @strawberry.field
    def failing_words(self) -> list[str]:
        raise ValueError(f"{self.name} has no words")

    @strawberry.field
    def measures(self) -> list[Measure]:
        MEASURED.append(self.name)
        if self.name == "two":
            return [Measure(name="w", quantity=3), Measure(name="h", quantity=2**40)]
        return [Measure(name="w", quantity=2), Measure(name="h", quantity=True)]  # Int says 1

    @strawberry.field
    def gappy_measures(self) -> list[Measure | None]:
        return [Measure(name=self.name, quantity=1), None]

    @strawberry.field
    def holed_measures(self) -> list[Measure]:
        return [Measure(name=self.name, quantity=1), None]  # type: ignore[list-item]

    @strawberry.field
    def stocked(self) -> list[Part]:
        if self.name == "two":
            return [parts()[0], items()[0]]  # type: ignore[list-item]  # its check refuses
        return parts()

    @strawberry.field
    def number(self) -> str:
        return len(self.name)  # type: ignore[return-value]  # String says "3"

    @strawberry.field
    def count(self) -> int:
        return None if self.name == "two" else 2  # type: ignore[return-value]


@strawberry.type
class Vetted:
    """A type with a check of its own (``is_type_of``, which may read the info): its objects
    stay on graphql-core's path, which runs the check."""

    sku: str
    quantity: int = 1

    @strawberry.field
    def label(self) -> str:
        return f"vetted {self.sku}"

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        return isinstance(obj, Vetted) and obj.sku != "bad" and info.field_name != "refused"


@strawberry.type
class Shelf:
    """Object fields without resolvers (strawberry reads the attribute): objects of plain
    leaves, of fields with resolvers, of a type with a check, nulls, errors, awaitables."""

    item: Item
    box: Box
    part: Part
    place: str = "aisle 4"
    spare: Item | None = None
    vetted: Vetted | None = None
    stock: Stocked | None = None
    wrong: Item | None = None
    missing: Item = None  # type: ignore[assignment]  # null where none may be
    broken: Item | None = None
    later: Item | None = None
    misplaced: Part | None = None
    spare_box: Box | None = None
    missing_box: Box = None  # type: ignore[assignment]  # null where none may be


@strawberry.type
class Crate(Stocked):
    """A type implementing an interface, with a field that has a resolver: its objects are
    not plain leaves alone, so each value's type is checked before its sub-fields run."""

    @strawberry.field
    def label(self) -> str:
        return f"crate {self.sku}"


def boxes() -> list[Box]:
    return [Box(name="one", contents=items()), Box(name="two", contents=items()[1:])]


def parts() -> list[Part]:
    return [Part(sku="P-1", quantity=4), Part(sku="P-2", quantity=1, note="spare")]


def shelves() -> list[Shelf]:
    one, two = items()
    return [
        Shelf(
            item=one,
            box=boxes()[0],
            part=parts()[0],
            spare=two,
            vetted=Vetted(sku="ok"),
            spare_box=boxes()[1],
        ),
        Shelf(
            item=two,
            box=boxes()[1],
            part=parts()[1],
            vetted=Vetted(sku="bad"),
            stock=parts()[0],
            wrong=parts()[1],  # type: ignore[arg-type]  # another type's object
            broken=ValueError("the shelf's record is broken"),  # type: ignore[arg-type]
            misplaced=items()[0],  # type: ignore[arg-type]  # not a Part: its check refuses
        ),
    ]


async def _later_item() -> Item:
    await asyncio.sleep(0)
    return items()[0]


def items() -> list[Item]:
    when = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    return [
        Item(sku="A-1", quantity=2, price=9.5, colour=Colour.RED, placed_at=when),
        Item(sku="B-2", quantity=0, price=None, colour=Colour.BLUE, placed_at=when, note="n"),
    ]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return items()

    @strawberry.field
    def broken(self) -> list[Item | None]:
        """Values a real resolver could hand over by mistake: graphql-core's errors must
        follow."""
        wrong = items()
        wrong[0].strict = None  # type: ignore[assignment]  # null in a non-null field
        wrong[1].quantity = "many"  # type: ignore[assignment]  # not an Int
        return list(wrong)

    @strawberry.field
    def parts(self) -> list[Part]:
        return parts()

    @strawberry.field
    def part(self) -> Part:
        return parts()[1]

    @strawberry.field
    def misfits(self) -> list[Part | None]:
        """An item handed over where a part belongs: graphql-core's error must follow."""
        return [parts()[0], items()[0]]  # type: ignore[list-item]

    @strawberry.field
    def misfit(self) -> Part | None:
        return items()[0]  # type: ignore[return-value]

    @strawberry.field
    def odd(self) -> Odd:
        return Odd()

    @strawberry.field
    def shelf(self) -> Shelf:
        return shelves()[0]

    @strawberry.field
    def shelves(self) -> list[Shelf]:
        return shelves()

    @strawberry.field
    async def async_shelf(self) -> Shelf:
        shelf = shelves()[1]
        shelf.later = _later_item()  # type: ignore[assignment]  # an awaitable attribute
        return shelf

    @strawberry.field
    def vetted(self) -> list[Vetted | None]:
        return [Vetted(sku="ok"), Vetted(sku="bad"), Vetted(sku="fine")]

    @strawberry.field
    def one_vetted(self) -> Vetted | None:
        return Vetted(sku="bad")

    @strawberry.field
    def refused(self) -> Vetted | None:
        return Vetted(sku="ok")

    @strawberry.field
    def odds(self) -> list[Odd]:
        return [Odd(), Odd()]

    @strawberry.field
    def codes(self) -> list[Code]:
        return [Code("ab"), Code("??"), Code("cd")]

    @strawberry.field
    def tags(self) -> list[str]:
        return ["new", "boxed"]

    @strawberry.field
    def colours(self) -> tuple[Colour, ...]:
        return (Colour.BLUE, Colour.RED)

    @strawberry.field
    def gaps(self) -> list[int | None]:
        return [1, None, 3]

    @strawberry.field
    def holes(self) -> list[int]:
        """A null and a value that is no Int, where neither may be."""
        return [1, None, "x"]  # type: ignore[list-item]

    @strawberry.field
    def boxes(self) -> list[Box]:
        return boxes()

    @strawberry.field
    def gappy_boxes(self) -> list[Box | None]:
        return [boxes()[0], None, boxes()[1]]

    @strawberry.field
    def holed_boxes(self) -> list[Box]:
        return [boxes()[0], None]  # type: ignore[list-item]

    @strawberry.field
    async def async_boxes(self) -> list[Box]:
        await asyncio.sleep(0)
        return boxes()

    @strawberry.field
    def one_box(self) -> list[Box]:
        return boxes()[:1]

    @strawberry.field
    def crates(self) -> list[Crate | None]:
        """An item handed over where a crate belongs, among crates."""
        return [Crate(sku="C-1"), items()[0], Crate(sku="C-2")]  # type: ignore[list-item]

    @strawberry.field
    def crate(self) -> Crate | None:
        return items()[0]  # type: ignore[return-value]

    @strawberry.field
    def misboxed(self) -> list[Box | None]:
        return [boxes()[0], parts()[0]]  # type: ignore[list-item]

    @strawberry.field
    def nulls(self) -> list[Item]:
        return [*items(), None]  # type: ignore[list-item]

    # enums as strawberry serialises them: members, the value of one, another enum's member
    @strawberry.field
    def shades(self) -> list[Colour]:
        return [Colour.RED, "blue", Colour.BLUE]  # type: ignore[list-item]

    @strawberry.field
    def wrong_shades(self) -> list[Colour]:
        return [Colour.RED, Size.SMALL]  # type: ignore[list-item]

    @strawberry.field
    def shade(self) -> Colour:
        return Colour.BLUE

    @strawberry.field
    def plain_shade(self) -> Colour:
        return "red"  # type: ignore[return-value]

    @strawberry.field
    def bad_shade(self) -> Colour | None:
        return Size.LARGE  # type: ignore[return-value]

    @strawberry.field
    def unknown_shade(self) -> Colour | None:
        return "green"  # type: ignore[return-value]

    @strawberry.field
    def sizes(self) -> list[Size | None]:
        return [Size.LARGE, None, 1]  # type: ignore[list-item]

    @strawberry.field
    def odd_items(self) -> list[Item]:
        """Enum fields read as plain leaves holding a value, and another enum's member."""
        first, second = items()
        first.colour = "blue"  # type: ignore[assignment]
        second.colour = Size.SMALL  # type: ignore[assignment]
        return [first, second]

    # lists of text: strings pass as they are, anything else is serialised
    @strawberry.field
    def texts(self) -> list[str]:
        return ["a", 1, True]  # type: ignore[list-item]

    @strawberry.field
    def ids(self) -> list[strawberry.ID]:
        return [strawberry.ID("x"), 7]  # type: ignore[list-item]

    @strawberry.field
    def label(self) -> str:
        return 42  # type: ignore[return-value]  # a step's leaf that String serialises

    @strawberry.field
    def big(self) -> int | None:
        return 2**40  # a step's leaf past 32 bits: Int refuses it

    @strawberry.field
    def small(self) -> int:
        return -(2**31)

    @strawberry.field
    def code(self) -> Code | None:
        return Code("??")  # a step's leaf its serialiser gives up on

    @strawberry.field
    def lower_code(self) -> Code:
        return Code("ab")


def schemas(**options: Any) -> tuple[strawberry.Schema, strawberry.Schema]:
    ordinary = strawberry.Schema(
        Query,
        execution_context_class=StrawberryGraphQLCoreExecutionContext,
        config=SCALARS,
        **options,
    )
    fast = strawberry.Schema(
        Query, execution_context_class=LeafExecutionContext, config=SCALARS, **options
    )
    return ordinary, fast


def answer(schema: strawberry.Schema, query: str) -> dict[str, Any]:
    result = schema.execute_sync(query)
    return {
        "data": result.data,
        "errors": [(e.message, e.path) for e in result.errors or []],
    }


QUERIES = [
    "{ items { sku quantity price colour placedAt note strict } }",
    # resolver fields, arguments, aliases and a fragment interleaved with plain leaves
    """{ items { label first: sku n: quantity padded(width: 5) ...More colour } }
       fragment More on Item { note placedAt sku }""",
    "{ items { sku @skip(if: true) quantity @include(if: false) price __typename } }",
    "{ broken { sku strict } }",
    "{ broken { sku quantity } }",
    "{ items { sku secret } }",
    # lists of leaves, and of objects selecting only leaves, in one loop or declined whole
    "{ tags colours gaps items { sku colour } }",
    "{ holes }",
    "{ codes }",
    "{ odd { count text flag code number } }",
    "{ odd { count big } }",
    "{ odds { count text flag code number } }",
    "{ odds { count big } }",
    # a type's own check of its values: run as graphql-core runs it, for leaves and steps
    "{ vetted { sku quantity } oneVetted { sku } refused { sku } }",
    "{ vetted { sku label } oneVetted { label } refused { label } }",
    "{ nulls { sku } }",
    "{ tags @include(if: true) items @skip(if: false) { sku } }",
    # objects of a type with a check of each value's type (it implements an interface)
    "{ parts { sku quantity note } part { note sku } }",
    "{ misfits { sku } }",
    "{ misfit { sku quantity } }",
    "{ parts { ... on Stocked { sku } quantity } }",
    # fields with resolvers (steps), objects and lists of objects executed item by item
    "{ boxes { name label maybe first { sku label } part { sku } contents { sku label } } }",
    "{ boxes { label missing } }",
    "{ boxes { name failing returnedError } }",
    "{ gappyBoxes { name label first { sku } } }",
    "{ holedBoxes { name } }",
    "{ holedBoxes { name label } }",
    "{ misboxed { name } }",
    "{ crates { sku label } crate { label } }",
    "{ crates { label } }",
    "{ boxes { stock { sku ... on Part { quantity } } __typename } }",
    """{ boxes { n1: name n2: label ...B } }
       fragment B on Box { name contents { padded(width: 6) } }""",
    # enums and text: the serialisers' answers, pass-throughs and refusals
    "{ shades shade plainShade sizes texts ids label }",
    "{ big small code lowerCode }",
    # object fields without resolvers, read without a resolve info
    "{ shelf { item { sku quantity } spare { sku label } box { name label first { sku } } } }",
    "{ shelves { item { sku } spare { sku } part { sku quantity } vetted { sku } } }",
    "{ shelves { stock { sku ... on Part { quantity } } wrong { sku price } } }",
    "{ shelves { item { sku } missing { sku } } }",
    "{ shelves { broken { sku } box { name } } }",
    "{ shelves { broken { sku label } } }",
    "{ shelves { misplaced { sku } } }",
    "{ shelves { spareBox { missing } item { sku } } }",
    "{ shelves { missingBox { label } } }",
    "{ shelves { misplaced { sku quantity note } item { sku } } }",
    "{ shelves { box { label missing } item { sku } } }",
    "{ shelf { part { sku } box { contents { sku label } } } }",
    "{ wrongShades }",
    "{ badShade }",
    "{ unknownShade }",
    "{ oddItems { sku colour } }",
    "{ oddItems { colour } }",
    "{ boxes { seenAt label maybe seenByRoot } gappyBoxes { seenAt seenByRoot } }",
    # info-free resolvers' lists and leaves, and what a compiled selection hands back
    "{ boxes { name words looseWords tupleWords noWords number label } }",
    "{ boxes { name measures { name quantity } gappyMeasures { quantity } } }",
    "{ boxes { name stocked { sku quantity } } }",
    "{ boxes { holedMeasures { name } name } }",
    "{ gappyBoxes { missingWords name } }",
    "{ gappyBoxes { notAList name } }",
    "{ boxes { failingWords name } }",
    "{ gappyBoxes { name count words } }",
    "{ boxes { class: name def: words return: label words measures { name } } }",
    "{ shelf { box { words measures { quantity } first { sku } } } }",
]
ASYNC_QUERIES = [
    *QUERIES,
    "{ asyncBoxes { name later { sku label } } }",
    "{ boxes { name later { sku } laterMissing } }",
    "{ boxes { failing later { sku } } gappyBoxes { later { label } } }",
    "{ asyncBoxes { name missing later { sku } } }",
    "{ oneBox { later { sku } } }",
    "{ asyncShelf { later { sku label } item { sku } box { later { sku } } } }",
    "{ asyncShelf { later { sku } missing { sku } } }",
    "{ shelves { spareBox { laterMissing } item { sku } } }",
]


@pytest.mark.parametrize("query", QUERIES)
def test_answers_as_the_ordinary_path_does(query: str) -> None:
    ordinary, fast = schemas()
    expected = answer(ordinary, query)
    assert answer(fast, query) == expected
    # and the keys arrive in the order the query asked for them
    assert _key_order(fast.execute_sync(query).data) == _key_order(
        ordinary.execute_sync(query).data
    )


@pytest.mark.parametrize("query", ASYNC_QUERIES)
async def test_answers_as_the_ordinary_path_does_with_async_resolvers(query: str) -> None:
    ordinary, fast = schemas()
    expected = await ordinary.execute(query)
    got = await fast.execute(query)
    assert got.data == expected.data
    assert _key_order(got.data) == _key_order(expected.data)
    assert [(e.message, e.path) for e in got.errors or []] == [
        (e.message, e.path) for e in expected.errors or []
    ]


@pytest.mark.parametrize("query", ASYNC_QUERIES)
async def test_a_document_asked_again_answers_as_the_ordinary_path_does(query: str) -> None:
    """The parser cache hands out the same document: later requests run on the plan the
    first made (its root selection, sub-selections and steps), with the same answers."""
    ordinary, fast = schemas(extensions=[ParserCache])
    expected = await ordinary.execute(query)
    # one alone, then several at once: the first plans, the others share its plan
    alone = [await fast.execute(query)]
    for got in alone + list(await asyncio.gather(*(fast.execute(query) for _ in range(3)))):
        assert got.data == expected.data
        assert _key_order(got.data) == _key_order(expected.data)
        assert [(e.message, e.path) for e in got.errors or []] == [
            (e.message, e.path) for e in expected.errors or []
        ]


VARIABLE_QUERIES = [
    # arguments from variables: planned, each request with its own values
    (
        "query($w: Int!) { items { sku padded(width: $w) }"
        " boxes { contents { padded(width: $w) } } }",
        [{"w": 4}, {"w": 6}],
    ),
    # directives decide the selection: never planned
    (
        "query($s: Boolean!) { items { sku @skip(if: $s) quantity } }",
        [{"s": True}, {"s": False}, {"s": True}],
    ),
    (
        "query($s: Boolean!) { boxes { name ... on Box @include(if: $s) { label } } }",
        [{"s": False}, {"s": True}],
    ),
    (
        "query($s: Boolean!) { ...F } fragment F on Query { tags @include(if: $s) items { sku } }",
        [{"s": True}, {"s": False}],
    ),
]


@pytest.mark.parametrize(("query", "runs"), VARIABLE_QUERIES)
def test_a_document_asked_again_with_other_variables_answers_for_them(
    query: str, runs: list[dict[str, Any]]
) -> None:
    ordinary, fast = schemas(extensions=[ParserCache])
    for variables in runs * 2:
        expected = ordinary.execute_sync(query, variable_values=variables)
        got = fast.execute_sync(query, variable_values=variables)
        assert got.data == expected.data
        assert _key_order(got.data) == _key_order(expected.data)
        assert got.errors == expected.errors


def test_a_planned_document_collects_its_selections_once(monkeypatch: pytest.MonkeyPatch) -> None:
    collected: list[str] = []
    ordinary_collect = executor.collect_subfields

    def counted(*args: Any, **kwargs: Any) -> Any:
        collected.append(args[4].name)  # the return type
        return ordinary_collect(*args, **kwargs)

    steps: list[str] = []
    ordinary_step = leaf_execution._Step

    def step(*args: Any) -> Any:
        steps.append(args[0][0].node.name.value)
        return ordinary_step(*args)

    monkeypatch.setattr(executor, "collect_subfields", counted)
    monkeypatch.setattr(leaf_execution, "_Step", step)
    _, fast = schemas(extensions=[ParserCache])
    query = "{ boxes { name label first { sku } contents { sku label } } items { sku } }"
    first = answer(fast, query)
    assert first["errors"] == []
    assert sorted(collected) == ["Box", "Item", "Item", "Item"]
    # the root's, a box's, a content item's (it has a resolver field): a step per field
    expected = ["boxes", "items", "name", "label", "first", "contents", "sku", "label"]
    assert sorted(steps) == sorted(expected)
    collected.clear()
    steps.clear()
    assert answer(fast, query) == first
    assert collected == []  # the plan's
    assert steps == []
    # a document with a directive collects again every time
    skipping = "{ boxes { name @skip(if: false) } }"
    for _ in range(2):
        collected.clear()
        assert answer(fast, skipping)["data"] == {"boxes": [{"name": "one"}, {"name": "two"}]}
        assert collected == ["Box"]


def test_an_enum_serialiser_answers_as_strawberry_s_own() -> None:
    """``serializer`` for one of strawberry's enums names a member as strawberry's serialiser
    does, and leaves everything else (a member's value, another enum's member, an unknown
    value) to that serialiser, errors included; an enum type with a serialiser of its own keeps
    it."""
    _, fast = schemas()
    colour = graphql_schema(fast).type_map["Colour"]
    assert isinstance(colour, CustomGraphQLEnumType)
    serialize = leaf_execution.serializer(colour)
    for value in (Colour.RED, Colour.BLUE, "red", "blue"):
        assert serialize(value) == colour.coerce_output_value(value)
    for wrong in (Size.SMALL, "green", 3):
        with pytest.raises(GraphQLError) as ours:
            serialize(wrong)
        with pytest.raises(GraphQLError) as theirs:
            colour.coerce_output_value(wrong)
        assert str(ours.value) == str(theirs.value)

    class Quiet(CustomGraphQLEnumType):
        def coerce_output_value(self, output_value: Any) -> str:
            return super().coerce_output_value(output_value).lower()

    definition = colour.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
    quiet = Quiet(enum=definition, name="Colour", values=colour.values)
    assert leaf_execution.serializer(quiet)(Colour.RED) == "red"


def test_a_document_whose_fragments_take_variables_is_not_planned() -> None:
    """graphql-core's experimental fragment arguments: the values reach the collected fields."""
    document = parse(
        "query { ...F(w: 3) } fragment F($w: Int) on Query { items { padded(width: $w) } }",
        experimental_fragment_arguments=True,
    )
    operation, fragment = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    assert isinstance(fragment, FragmentDefinitionNode)
    with_variables = {"F": FragmentDetails(fragment, {"w": object()})}  # type: ignore[dict-item]
    assert leaf_execution._plannable(operation, with_variables) is False
    assert leaf_execution._plannable(operation, {"F": FragmentDetails(fragment)}) is True


def test_plans_are_kept_for_a_bounded_number_of_documents() -> None:
    _, fast = schemas()
    for width in range(leaf_execution.PLANS_KEPT + 20):
        assert answer(fast, f"{{ items {{ padded(width: {width}) }} }}")["errors"] == []
    plans = graphql_schema(fast).extensions[leaf_execution.PLANS]
    assert len(plans) == leaf_execution.PLANS_KEPT


DEFERRED = [
    "{ boxes { name ... @defer { label first { sku } } contents { sku ... @defer { label } } } }",
    "{ items { sku ... @defer { quantity colour } } }",
    "{ ... @defer { tags } boxes { name } }",
    '{ boxes { first { ... @defer(label: "f") { sku label } } } }',
    "{ oneBox { contents { ... on Item @defer { note placedAt } sku } } }",
    "{ shelf { box { ... @defer { label } name } item { sku } } }",
    "{ shelf { ... @defer { box { name label } item { sku } } } }",
    "{ shelf { ... @defer { box { first { ... @defer { label } sku } } } } }",
]


@pytest.mark.parametrize("query", DEFERRED)
async def test_deferred_fragments_arrive_as_graphql_core_delivers_them(query: str) -> None:
    """With incremental delivery on, ``@defer`` keeps graphql-core's path wherever it
    decides what arrives when: the first answer and each later payload are the same."""
    config = StrawberryConfig(
        enable_experimental_incremental_execution=True, scalar_map=SCALARS.scalar_map
    )

    async def delivered(context: type) -> list[Any]:
        schema = strawberry.Schema(Query, execution_context_class=context, config=config)
        result: Any = await schema.execute(query)
        payloads = [result.initial_result.formatted]
        async for later in result.subsequent_results:
            payloads.append(later.formatted)
        return payloads

    expected = await delivered(StrawberryGraphQLCoreExecutionContext)
    assert len(expected) > 1  # something was deferred
    assert await delivered(LeafExecutionContext) == expected


def _key_order(value: Any) -> Any:
    if isinstance(value, dict):
        return [(key, _key_order(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_key_order(item) for item in value]
    return None


def test_null_and_bad_values_are_errors_located_as_before() -> None:
    _, fast = schemas()
    strict = answer(fast, "{ broken { sku strict } }")
    assert strict["data"] == {"broken": [None, {"sku": "B-2", "strict": "set"}]}
    assert strict["errors"] == [
        ("Cannot return null for non-nullable field Item.strict.", ["broken", 0, "strict"])
    ]
    bad = answer(fast, "{ broken { quantity } }")
    assert bad["data"] == {"broken": [{"quantity": 2}, None]}
    assert bad["errors"][0][1] == ["broken", 1, "quantity"]
    assert "Int cannot represent non-integer value" in bad["errors"][0][0]


def test_lists_of_plain_leaves_are_built_in_one_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``Path`` nor completion per item for lists the short path answers; a list it
    declines anywhere (a null where none may be, a value no Int) is graphql-core's, errors
    located per item as before."""
    _, fast = schemas()

    def per_item(*args: Any) -> Any:
        raise AssertionError("an item completed on the ordinary path")

    monkeypatch.setattr(LeafExecutionContext, "complete_list_item_value", per_item)
    whole = answer(fast, "{ tags colours gaps items { sku quantity colour } parts { sku } }")
    assert whole == {
        "data": {
            "tags": ["new", "boxed"],
            "colours": ["BLUE", "RED"],
            "gaps": [1, None, 3],
            "items": [
                {"sku": "A-1", "quantity": 2, "colour": "RED"},
                {"sku": "B-2", "quantity": 0, "colour": "BLUE"},
            ],
            "parts": [{"sku": "P-1"}, {"sku": "P-2"}],
        },
        "errors": [],
    }
    monkeypatch.undo()
    holes = answer(fast, "{ holes }")
    assert holes["data"] is None
    assert holes["errors"] == [
        ("Cannot return null for non-nullable field Query.holes.", ["holes", 1])
    ]


def test_fields_with_resolvers_and_lists_of_objects_take_their_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A field without arguments runs from its step, and a list of objects has each item's
    sub-fields executed straight: neither graphql-core's ``execute_field`` nor its completion
    of a list item is called; a field with arguments still is."""
    _, fast = schemas()
    ordinary_calls: list[str] = []

    def refused(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            ordinary_calls.append(name)
            raise AssertionError(f"{name} called on the ordinary path")

        return call

    monkeypatch.setattr(LeafExecutionContext, "execute_field", refused("execute_field"))
    monkeypatch.setattr(
        LeafExecutionContext, "complete_list_item_value", refused("complete_list_item_value")
    )
    whole = answer(fast, "{ boxes { label first { label } contents { sku label } } }")
    assert ordinary_calls == []
    assert whole["errors"] == []
    assert whole["data"]["boxes"][1] == {
        "label": "TWO",
        "first": {"label": "B-2 x0"},
        "contents": [{"sku": "B-2", "label": "B-2 x0"}],
    }
    answer(fast, "{ items { padded(width: 4) } }")
    assert ordinary_calls
    assert set(ordinary_calls) == {"execute_field"}


def infos_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each field a resolve info is built for from now on, in order."""
    built: list[str] = []
    original = LeafExecutionContext.build_resolve_info

    def counted(self: LeafExecutionContext, field: Any, nodes: Any, *args: Any) -> Any:
        built.append(nodes[0].name.value)
        return original(self, field, nodes, *args)

    monkeypatch.setattr(LeafExecutionContext, "build_resolve_info", counted)
    return built


def lightened() -> tuple[strawberry.Schema, strawberry.Schema]:
    """The ordinary path, and the short one with every eligible resolver called straight
    (``lean_resolvers``), as the service runs: those that take no info are handed none."""
    ordinary, fast = schemas()
    lighten(fast)
    return ordinary, fast


@pytest.mark.parametrize("query", ASYNC_QUERIES)
async def test_resolvers_taking_no_info_answer_as_the_ordinary_path_does(query: str) -> None:
    ordinary, fast = lightened()
    expected = await ordinary.execute(query)
    got = await fast.execute(query)
    assert got.data == expected.data
    assert [(e.message, e.path) for e in got.errors or []] == [
        (e.message, e.path) for e in expected.errors or []
    ]
    assert _key_order(got.data) == _key_order(expected.data)


def test_a_resolver_taking_no_info_is_handed_none_unless_its_value_needs_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No resolve info is built for a field whose resolver takes none when its value is a
    null, a leaf passed through or a list the short path answers; one is built for a field
    whose resolver reads it, and for a value completed on the ordinary path (a null where
    none may be, an object, a leaf to serialise), each answering as before."""
    _, fast = lightened()
    built = infos_built(monkeypatch)
    whole = answer(fast, "{ tags items { sku label } boxes { label maybe contents { sku } } }")
    assert whole["errors"] == []
    assert whole["data"]["boxes"][1] == {
        "label": "TWO",
        "maybe": None,
        "contents": [{"sku": "B-2"}],
    }
    assert built == []
    whole = answer(fast, "{ boxes { seenAt seenByRoot first { sku } } shade }")
    assert sorted(set(built)) == ["first", "seenAt", "seenByRoot", "shade"]
    assert whole["errors"] == []
    assert whole["data"]["shade"] == "BLUE"
    assert whole["data"]["boxes"][1]["seenByRoot"] == "two@seenByRoot"
    built.clear()
    assert answer(fast, "{ boxes { missing } }") == {
        "data": None,
        "errors": [
            ("Cannot return null for non-nullable field Box.missing.", ["boxes", 0, "missing"])
        ],
    }
    assert built == ["missing"]  # the first box's null ends the list
    assert answer(fast, "{ boxes { seenAt } }")["data"] == {
        "boxes": [{"seenAt": "one at boxes.0.seenAt"}, {"seenAt": "two at boxes.1.seenAt"}]
    }


def test_a_schema_is_freed_once_dropped_whatever_it_executed() -> None:
    """What the steps work out once per schema, and the plans of its documents, never keep
    the schema alive (it would keep an app's services and their kept truths with it)."""
    ordinary, fast = schemas(extensions=[ParserCache])
    # every query that answers without errors (the traceback of an error strawberry logs,
    # kept by pytest's log capture, would hold the schema), twice: planned, then on its plan
    clean = [query for query in QUERIES if not answer(ordinary, query)["errors"]]
    assert len(clean) > 10
    for query in clean * 2:
        assert answer(fast, query)["errors"] == []
    assert answer(fast, "{ boxes { label first { label } contents { sku } } }")["errors"] == []
    core = weakref.ref(graphql_schema(fast))
    del fast
    gc.collect()
    assert core() is None


def test_a_value_of_another_type_is_refused_as_graphql_core_refuses_it() -> None:
    _, fast = schemas()
    listed = answer(fast, "{ misfits { sku } }")
    assert listed["data"] == {"misfits": [{"sku": "P-1"}, None]}
    assert [path for _, path in listed["errors"]] == [["misfits", 1]]
    assert listed["errors"][0][0].startswith("Expected value of type 'Part' but got:")
    alone = answer(fast, "{ misfit { sku } }")
    assert alone["data"] == {"misfit": None}
    assert alone["errors"][0][0].startswith("Expected value of type 'Part' but got:")


def test_a_permission_still_guards_its_field() -> None:
    _, fast = schemas()
    result = answer(fast, "{ items { sku secret } }")
    assert result["data"] is None  # non-null all the way up
    assert result["errors"] == [("hidden", ["items", 0, "secret"])]


def test_a_field_middleware_still_sees_every_field() -> None:
    seen: list[str] = []

    class Watch(SchemaExtension):
        def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    _, fast = schemas(extensions=[Watch])
    data = fast.execute_sync("{ items { sku quantity } }").data
    assert data == {"items": [{"sku": "A-1", "quantity": 2}, {"sku": "B-2", "quantity": 0}]}
    assert seen.count("sku") == 2
    assert seen.count("quantity") == 2


def test_only_plain_leaves_take_the_short_path() -> None:
    _, fast = schemas()
    reads = leaf_reads(graphql_schema(fast))
    assert set(reads["Item"]) == {
        "sku",
        "quantity",
        "price",
        "colour",
        "placedAt",
        "note",
        "strict",
    }
    assert "Query" not in reads  # lists of objects complete through graphql-core


def test_only_graphql_core_s_own_scalars_pass_values_through() -> None:
    _, fast = schemas()
    reads = leaf_reads(graphql_schema(fast))
    assert reads["Item"]["sku"].unchanged is str
    assert reads["Item"]["quantity"].unchanged is int
    assert reads["Item"]["colour"].unchanged is None  # an enum: always serialised
    assert reads["Item"]["price"].unchanged is None  # Float: not passed through
    assert reads["Odd"]["flag"].unchanged is bool
    assert reads["Odd"]["code"].unchanged is str
    data = answer(fast, "{ odd { count text flag code number } }")["data"]
    # as JSON, where True and 1 differ
    assert json.dumps(data) == (
        '{"odd": {"count": 1, "text": "12", "flag": false, "code": "42", "number": 7}}'
    )


def test_the_service_schema_executes_with_it() -> None:
    schema = build_schema(production=True)
    assert schema.execution_context_class is LeafExecutionContext
    reads = leaf_reads(graphql_schema(schema))
    assert {"sku", "quantity", "title"} <= set(reads["OrderLine"])
    assert "shipped" not in reads["OrderLine"]  # a resolver, answered from the order's truth


def test_without_the_overrides_the_service_executes_as_strawberry_does() -> None:
    schema = build_schema(production=True, framework_overrides=False)
    assert schema.execution_context_class is not LeafExecutionContext


@needs_overrides
async def test_the_service_answers_its_plain_leaves_on_the_short_path(
    graph: Graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No plain leaf of the service's schema reaches a resolver: none is given a resolve
    info (graphql-core's ``execute_field`` and the steps build one for every field they
    resolve)."""
    resolved = infos_built(monkeypatch)
    body = await graph.query(
        "{ orders(first: 3) { edges { node { name state lines { sku shipped } } } } }"
    )
    assert "errors" not in body, body.get("errors")
    orders = [edge["node"] for edge in body["data"]["orders"]["edges"]]
    assert len(orders) == 3
    assert all(order["name"] and order["lines"] for order in orders)
    assert all(line["sku"] for order in orders for line in order["lines"])
    assert "name" not in resolved
    assert "sku" not in resolved
    # fields with resolvers still get theirs, once per object
    lines = sum(len(order["lines"]) for order in orders)
    assert resolved.count("state") == 3
    assert resolved.count("shipped") == lines
