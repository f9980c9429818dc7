"""One Python function per selection of an object type, written once its plan has served enough.

``LeafExecutionContext`` completes an object from its steps (``_run_steps``): a loop over the
selection's fields that, for a field with a resolver, makes a ``Path``, calls
``_execute_free``, then ``_answered_without_info`` and ``_list_in_one_loop`` for its list, and
``_built`` for each of the list's objects. An availability answer is seven fields, two of them
lists (nine buckets, an explanation): about thirty Python calls an answer, forty answers a
request, most of a request's completion time.

``compile_selection`` writes that loop out for one selection as the source of one function,
each field's fast path inline: a plain leaf read and passed through or serialised; a resolver
that takes no info (``lean_resolvers.info_free``) called with none and its value checked in
place: a leaf of the type its serialiser hands back unchanged, a list of text, a list of
objects that select only plain leaves (each checked and built as ``_built`` builds it). Any
field whose value the fast path does not take (a null, a value to serialise another way, an
awaitable, an error, a field with arguments, a nested object) is handed to the executor's own
per-field methods (those ``_run_steps`` calls for the field, chosen once) or ``_resolved``
(the completion of a value a resolver already returned: no resolver runs twice), which answer,
raise and locate errors exactly as before, and whose awaitables are gathered as
``_run_steps`` gathers them.

The source holds nothing from a query: response names, attributes and helpers are read from
the function's namespace by index (``n3``, ``a3``...), so a document's aliases never become
code. Compiling costs about as much as completing a few dozen objects (0.4 to 2 ms a selection
here), so only a document's kept plan is compiled (not one planned per request, with a
directive), once it has completed ``COMPILE_AFTER`` objects in the document's requests after
its first: a document asked once never pays for it, however many objects it completes, so
varying a query's aliases buys an attacker nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

from graphql.pyutils import Path, Undefined

__all__ = ["COMPILE_AFTER", "NO_KEY", "FieldSpec", "Leaf", "compile_selection"]

COMPILE_AFTER: Final = 64  # objects a plan completes before its selection is compiled
NO_KEY: Final = object()  # the object's own path was passed, no list index to add


class Leaf(NamedTuple):
    """A plain leaf read from an object: its response name, attribute, the type its serialiser
    hands back unchanged (``int``: within 32 bits; ``None``: always serialised), and the read
    ``serialized`` takes."""

    name: str
    attribute: str
    unchanged: type | None
    read: Any


class FieldSpec(NamedTuple):
    """One field of a selection, as the compiled function answers it.

    ``kind``: ``"leaf"`` (``leaf`` set), ``"free_leaf"``, ``"free_texts"`` (a list of
    ``String``/``ID``) or ``"free_objects"`` (a list of objects selecting ``items`` alone,
    each checked by ``check`` if set) for resolvers that take no info (``resolve``), and
    ``"step"`` for any other field, which the executor's methods answer as ``_run_steps``
    does."""

    kind: str
    name: str
    step: Any
    leaf: Leaf | None = None
    resolve: Callable[[Any, Any], Any] | None = None
    unchanged: type | None = None
    nullable_items: bool = False
    check: Callable[[Any, Any], Any] | None = None
    items: tuple[Leaf, ...] = ()


# the object's path, made once and only where a field needs it: ``path`` itself, or its list's
# item ``key``
_OBJECT_PATH: Final = "if op is None:\n    op = path if key is NO_KEY else Path(path, key, None)"


def _passes(value: str, unchanged: type | None) -> str:
    """The test that a value read into ``value`` is handed back unchanged by its serialiser."""
    if unchanged is None:
        return "False"
    if unchanged is int:
        return f"(type({value}) is int and MIN <= {value} <= MAX)"
    return f"type({value}) is {_TYPE_NAMES[unchanged]}"


_TYPE_NAMES: Final = {str: "str", bool: "bool", int: "int"}


def compile_selection(
    specs: list[FieldSpec],
    parent_type: Any,
    helpers: dict[str, Any],
) -> Callable[[Any, Any, Any, Any], Any]:
    """The function ``complete(executor, source, path, key)`` answering ``specs`` for one
    object of ``parent_type`` already checked to be of it: its answer dict, or an awaitable of
    it when a field's ordinary path answered one. ``path`` is the object's, or with ``key``
    (not ``NO_KEY``) its list's; ``helpers``: ``serialized``, ``awaited_in_place``,
    ``never_awaited``, ``min_int``, ``max_int``, ``unresolved``."""
    namespace: dict[str, Any] = {
        "U": Undefined,
        "Path": Path,
        "NO_KEY": NO_KEY,
        "parent": parent_type,
        "type_name": parent_type.name,
        "serialized": helpers["serialized"],
        "awaited_in_place": helpers["awaited_in_place"],
        "NEVER": helpers["never_awaited"],
        "MIN": helpers["min_int"],
        "MAX": helpers["max_int"],
        "UNRESOLVED": helpers["unresolved"],
        "list": list,
        "tuple": tuple,
        "str": str,
        "int": int,
        "bool": bool,
        "type": type,
        "getattr": getattr,
        "Exception": Exception,
    }
    lines = [
        "def complete(ex, source, path, key):",
        "    results = {}",
        "    pending = None",
        "    op = None",
        "    try:",
    ]
    body: list[str] = []
    for index, spec in enumerate(specs):
        namespace[f"n{index}"] = spec.name
        namespace[f"s{index}"] = spec.step
        body.extend(_field_source(index, spec, namespace))
    lines.extend("        " + line for line in body)
    lines += [
        "    except Exception:",
        "        if pending:  # settled, as graphql-core settles them: they may fail too",
        "            ex.settle_in_background([results[name] for name in pending])",
        "        raise",
        "    if pending is None:",
        "        return results",
        "    return awaited_in_place(results, pending)",
    ]
    source = "\n".join(lines) + "\n"
    code = compile(source, f"<omnigraph selection of {parent_type.name}>", "exec")
    exec(code, namespace)  # our templates; the query's names are data
    compiled: Callable[[Any, Any, Any, Any], Any] = namespace["complete"]
    return compiled


# the ordinary path for field {i}: its value from the executor, kept and watched if awaitable
_KEEP: Final = """\
if v is not U:
    results[n{i}] = v
    if type(v) not in NEVER and ex.is_awaitable(v):
        if pending is None:
            pending = []
        pending.append(n{i})"""


def _keep(index: int) -> list[str]:
    return _KEEP.format(i=index).splitlines()


def _indented(lines: list[str], depth: int = 1) -> list[str]:
    return ["    " * depth + line for line in lines]


def _field_source(index: int, spec: FieldSpec, namespace: dict[str, Any]) -> list[str]:
    i = index
    ordinary = [*_OBJECT_PATH.splitlines(), f"fp = Path(op, n{i}, type_name)"]
    step = spec.step
    executed = (  # what ``_run_steps`` calls for the field, chosen once
        f"ex.execute_field(parent, source, s{i}.details, fp, None)"
        if step.field is None
        else f"ex._execute_free(s{i}, parent, source, fp, s{i}.resolve)"
        if step.info_free
        else f"ex._completed_with_info(s{i}, parent, source, fp, UNRESOLVED, None)"
    )
    if step.attribute is not None:  # a plain object field, read without an info
        ordinary += [
            f"v = ex._attribute_value(s{i}, source, fp)",
            "if v is U:",
            f"    v = {executed}",
        ]
    else:
        ordinary.append(f"v = {executed}")
    ordinary += _keep(i)
    if spec.kind == "step":
        return ordinary
    if spec.kind == "leaf":
        leaf = spec.leaf
        assert leaf is not None
        namespace[f"a{i}"] = leaf.attribute
        namespace[f"r{i}"] = leaf.read
        return [
            f"v = getattr(source, a{i}, U)",
            f"if {_passes('v', leaf.unchanged)}:",
            f"    results[n{i}] = v",
            "else:",
            f"    v = serialized(v, r{i})",
            "    if v is not U:",
            f"        results[n{i}] = v",
            "    else:",
            *_indented(ordinary, 2),
        ]
    namespace[f"f{i}"] = spec.resolve
    resolved = [
        *_OBJECT_PATH.splitlines(),
        f"v = ex._resolved(s{i}, n{i}, parent, source, op, v)",
        *_keep(i),
    ]
    call = [
        "try:",
        f"    v = f{i}(source, None)",
        "except Exception as error:",
        *_indented(_OBJECT_PATH.splitlines()),
        f"    results[n{i}] = ex._resolver_failed(s{i}, n{i}, parent, error, op)",
        "else:",
    ]
    if spec.kind == "free_leaf":
        return call + _indented(
            [
                f"if {_passes('v', spec.unchanged)}:",
                f"    results[n{i}] = v",
                "else:",
                *_indented(resolved),
            ]
        )
    if spec.kind == "free_texts":
        item_test = (
            "type(item) is not str and item is not None"
            if spec.nullable_items
            else "type(item) is not str"
        )
        return call + _indented(
            [
                "answered = None",
                "if type(v) is list or type(v) is tuple:",
                "    for item in v:",
                f"        if {item_test}:",
                "            break",
                "    else:",
                "        answered = list(v)",
                "if answered is not None:",
                f"    results[n{i}] = answered",
                "else:",
                *_indented(resolved),
            ]
        )
    if spec.kind == "free_objects":
        namespace[f"c{i}"] = spec.check
        built: list[str] = []
        names = []
        for position, leaf in enumerate(spec.items):
            value = f"x{position}"
            namespace[f"a{i}_{position}"] = leaf.attribute
            namespace[f"r{i}_{position}"] = leaf.read
            namespace[f"m{i}_{position}"] = leaf.name
            names.append(f"m{i}_{position}: {value}")
            built += [
                f"{value} = getattr(item, a{i}_{position}, U)",
                f"if not {_passes(value, leaf.unchanged)}:",
                f"    {value} = serialized({value}, r{i}_{position})",
                f"    if {value} is U:",
                "        break",
            ]
        null_item = (
            ["if item is None:", "    append(None)", "    continue"]
            if spec.nullable_items
            else ["if item is None:", "    break"]
        )
        checked = (
            [f"if c{i}(item, None) is not True:", "    break"] if spec.check is not None else []
        )
        return call + _indented(
            [
                "answered = None",
                "if type(v) is list or type(v) is tuple:",
                "    items = []",
                "    append = items.append",
                "    for item in v:",
                *_indented(null_item, 2),
                *_indented(checked, 2),
                *_indented(built, 2),
                f"        append({{{', '.join(names)}}})",
                "    else:",
                "        answered = items",
                "if answered is not None:",
                f"    results[n{i}] = answered",
                "else:",
                *_indented(resolved),
            ]
        )
    msg = f"unknown field kind {spec.kind!r}"
    raise ValueError(msg)
