"""Write ``stripe-2025-03-31.basil.json`` from stripe-python 12.0.0's source (see README.md).

stripe-python is generated from Stripe's OpenAPI spec (12.0.0: spec ``v1642``, API version
``2025-03-31.basil``). This reads its source files with :mod:`ast` (nothing is imported or run)
and keeps what omnigraph's Stripe connector can touch: for each endpoint of the services below
its method, path and form or query parameters (nested ones flattened as Stripe encodes them:
``arrival_date[gte]``, ``metadata[...]``, ``expand[]``); for each object below its top-level
fields, each with its type as the SDK annotates it and whether it is nullable (``Optional``).

    python tests/definitions/stripe/extract.py <directory holding stripe/> > \
        tests/definitions/stripe/stripe-2025-03-31.basil.json
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

SERVICES = {
    "_balance_service.py": "BalanceService",
    "_balance_transaction_service.py": "BalanceTransactionService",
    "_charge_service.py": "ChargeService",
    "_refund_service.py": "RefundService",
    "_dispute_service.py": "DisputeService",
    "_payout_service.py": "PayoutService",
    "_event_service.py": "EventService",
}
OBJECTS = {
    "_balance.py": ("Balance", "balance"),
    "_balance_transaction.py": ("BalanceTransaction", "balance_transaction"),
    "_charge.py": ("Charge", "charge"),
    "_refund.py": ("Refund", "refund"),
    "_dispute.py": ("Dispute", "dispute"),
    "_payout.py": ("Payout", "payout"),
    "_event.py": ("Event", "event"),
    "_list_object.py": ("ListObject", "list"),
    "_search_result_object.py": ("SearchResultObject", "search_result"),
}
LISTS = ("list", "search_result")
# The SDK's list and search result classes are written by hand, not generated, and leave out
# what its own pagination reads from the dict: the fields as Stripe's API reference documents
# them (a search result's ``next_page`` is null on the last page; both carry ``url``).
DOCUMENTED = {
    "search_result": {
        "next_page": {"type": "Optional[str]", "nullable": True, "from": "API reference"},
        "url": {"type": "str", "nullable": False, "from": "API reference"},
    },
}
# fields every API object has, which the SDK keeps on StripeObject rather than per class
COMMON = {"id": {"type": "str", "nullable": False}, "object": {"type": "str", "nullable": False}}


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    found: dict[str, ast.ClassDef] = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                name = f"{prefix}{node.name}"
                found[name] = node
                walk(node.body, f"{name}.")

    walk(tree.body, "")
    return found


def _fields(cls: ast.ClassDef) -> dict[str, str]:
    return {
        node.target.id: ast.unparse(node.annotation)
        for node in cls.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }


def _unquote(annotation: str) -> str:
    return annotation.strip().strip("\"'")


def _flatten(
    classes: dict[str, ast.ClassDef], owner: str, params: str, prefix: str, depth: int
) -> dict[str, str]:
    """The form names of a params TypedDict: nested TypedDicts as ``a[b]``, lists as ``a[]``."""
    cls = classes.get(params) or classes.get(f"{owner}.{params.split('.')[-1]}")
    if cls is None or depth > 4:
        return {}
    names: dict[str, str] = {}
    for field, annotation in _fields(cls).items():
        inner = annotation.removeprefix("NotRequired[").removesuffix("]")
        inner = _unquote(inner)
        name = f"{prefix}[{field}]" if prefix else field
        nested = [part for part in inner.split("|") if part.startswith(f"{owner}.")]
        if "Dict[str, str]" in inner:
            names[f"{name}[*]"] = "str"
        elif inner.startswith("List[str]"):
            names[f"{name}[]"] = "str"
        elif nested:
            names.update(_flatten(classes, owner, nested[0], name, depth + 1))
            others = [p for p in inner.split("|") if not p.startswith(f"{owner}.")]
            if others:
                names[name] = "|".join(others)
        else:
            names[name] = inner
    return names


def _endpoints(source: str, service: str) -> dict[str, Any]:
    tree = ast.parse(source)
    classes = _classes(tree)
    endpoints: dict[str, Any] = {}
    for node in classes[service].body:
        if not isinstance(node, ast.FunctionDef):
            continue
        params = next(
            (
                _unquote(ast.unparse(a.annotation))
                for a in node.args.args
                if a.arg == "params" and a.annotation is not None
            ),
            None,
        )
        for call in ast.walk(node):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in ("request", "_request")
                and len(call.args) >= 2
                and isinstance(call.args[0], ast.Constant)
            ):
                continue
            method = str(call.args[0].value).upper()
            path_node = call.args[1]
            if isinstance(path_node, ast.Call) and isinstance(path_node.func, ast.Attribute):
                path_node = path_node.func.value
            if not isinstance(path_node, ast.Constant):
                continue
            key = f"{method} {path_node.value}"
            endpoints[key] = {
                "operation": f"{service}.{node.name}",
                "params": _flatten(classes, service, params or "", "", 0) if params else {},
            }
    return endpoints


def _object(source: str, name: str, common: bool) -> dict[str, Any]:
    classes = _classes(ast.parse(source))
    fields: dict[str, Any] = dict(COMMON) if common else {"object": COMMON["object"]}
    for field, annotation in _fields(classes[name]).items():
        if annotation.startswith("ClassVar"):
            continue
        fields[field] = {"type": annotation, "nullable": annotation.startswith("Optional[")}
    return fields


def main(root: Path) -> dict[str, Any]:
    package = root / "stripe"
    version = (package / "_version.py").read_text().split('"')[1]
    api_version = (package / "_api_version.py").read_text().split('"')[1]
    endpoints: dict[str, Any] = {}
    for filename, service in SERVICES.items():
        endpoints.update(_endpoints((package / filename).read_text(), service))
    objects = {
        object_name: _object((package / filename).read_text(), class_name, object_name not in LISTS)
        | DOCUMENTED.get(object_name, {})
        for filename, (class_name, object_name) in OBJECTS.items()
    }
    return {
        "source": f"stripe-python {version} (generated from Stripe's OpenAPI spec)",
        "api_version": api_version,
        "endpoints": dict(sorted(endpoints.items())),
        "objects": objects,
    }


if __name__ == "__main__":
    json.dump(main(Path(sys.argv[1])), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
