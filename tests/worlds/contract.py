"""The source contract's schemas, read from the OpenAPI files (docs/sources/*.yaml), as JSON
Schema validators: every record a generated world serves is checked against them.

OpenAPI 3.0 schemas are JSON Schema with a few words of their own; ``nullable: true`` becomes a
``null`` alternative, ``discriminator`` and ``example`` are dropped, and component references
point into ``$defs``. Formats (``date-time``, ``date``) are checked.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sources"
KINDS = ("storefront", "erp", "wms", "payments")
_DROPPED = {"discriminator", "example", "nullable", "xml", "externalDocs", "deprecated"}


class ContractViolation(AssertionError):
    """A generated record the contract does not allow."""


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _convert(value) for key, value in node.items() if key not in _DROPPED}
    ref = converted.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        converted["$ref"] = "#/$defs/" + ref.rsplit("/", 1)[1]
    if node.get("nullable") is True:
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        elif "$ref" in converted or "allOf" in converted or "anyOf" in converted:
            return {"anyOf": [converted, {"type": "null"}]}
    return converted


@cache
def _document(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCS / f"{kind}.yaml").read_text())
    return loaded


@cache
def validator(kind: str, schema: str) -> Any:
    """A validator for ``components/schemas/<schema>`` of ``kind``'s OpenAPI file."""
    schemas = _document(kind)["components"]["schemas"]
    if schema not in schemas:
        raise KeyError(f"{kind}.yaml has no schema {schema!r}")
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {name: _convert(body) for name, body in schemas.items()},
        "$ref": f"#/$defs/{schema}",
    }
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


@cache
def movement_fields() -> dict[str, tuple[str, ...]]:
    """The fields each WMS movement carries besides every movement's own (``MovementBase``),
    in the contract's order: ``{"ship": ("fulfilmentOrderId", "shipmentId"), ...}``."""
    schemas = _document("wms")["components"]["schemas"]
    mapping = schemas["InventoryMovement"]["discriminator"]["mapping"]
    fields = {}
    for movement, ref in mapping.items():
        _, own = schemas[ref.rsplit("/", 1)[1]]["allOf"]
        fields[movement] = tuple(name for name in own["required"] if name != "movement")
    return fields


def check(kind: str, schema: str, record: Any) -> None:
    """Raise :class:`ContractViolation` naming every error of ``record``."""
    errors = list(validator(kind, schema).iter_errors(record))
    if errors:
        where = record.get("id", "?") if isinstance(record, dict) else "?"
        lines = "; ".join(f"{list(e.instance_path)}: {e.message}" for e in errors[:5])
        raise ContractViolation(f"{kind} {schema} {where}: {lines}")


def check_all(kind: str, schema: str, records: list[Any]) -> int:
    for record in records:
        check(kind, schema, record)
    return len(records)
