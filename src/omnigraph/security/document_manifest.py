"""Trusted documents to register, read from a file and checked against the schema.

Two kinds of file:

- GraphQL (``.graphql``, ``.gql``): every operation must be named; each becomes one document,
  the operation and the fragments it uses, printed in graphql-core's canonical form. Clients
  send that document's hash (``omnigraph documents register`` prints it beside the name).
- JSON: ``{"<sha256>": "<document>", ...}``, or Apollo's persisted query manifest
  (``{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body", ...}]}``).
  Each hash must be the SHA-256 of its document's text, which is registered as it stands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.language import Visitor

from omnigraph.core.errors import ConfigurationError
from omnigraph.security.document_store import OperationDocument, document_hash

__all__ = ["read_operations"]


def read_operations(path: Path, schema: GraphQLSchema) -> list[OperationDocument]:
    """The documents ``path`` holds, each valid against ``schema``; a ``ConfigurationError``
    names every entry that is not."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigurationError(f"{path}: {error.strerror}") from None
    if path.suffix == ".json":
        documents = list(_from_json(path, text))
    else:
        documents = list(_from_graphql(path, text))
    problems = [
        f"{item.name or item.sha256[:12]}: {error.message}"
        for item in documents
        for error in validate(schema, parse(item.document))
    ]
    if problems:
        raise ConfigurationError(f"{path}: " + "; ".join(problems))
    if not documents:
        raise ConfigurationError(f"{path}: no documents in it")
    return documents


def _parse(path: Path, where: str, text: str) -> DocumentNode:
    try:
        return parse(text)
    except GraphQLError as error:
        raise ConfigurationError(f"{path}: {where}: {error.message}") from None


def _operation_name(document: DocumentNode) -> str | None:
    names = [
        d.name.value
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and d.name is not None
    ]
    return names[0] if len(names) == 1 else None


def _from_json(path: Path, text: str) -> Iterator[OperationDocument]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"{path}: not JSON: {error}") from None
    if isinstance(data, dict) and data.get("format") == "apollo-persisted-query-manifest":
        entries = [(str(op.get("id")), op.get("body")) for op in data.get("operations") or [] if op]
    elif isinstance(data, dict):
        entries = list(data.items())
    else:
        raise ConfigurationError(f"{path}: expected an object of hash -> document")
    for sha256, document in entries:
        if not isinstance(document, str):
            raise ConfigurationError(f"{path}: {sha256}: the document is not a string")
        if document_hash(document) != sha256.lower():
            raise ConfigurationError(
                f"{path}: {sha256}: not the SHA-256 of its document ({document_hash(document)})"
            )
        parsed = _parse(path, sha256, document)
        yield OperationDocument(sha256.lower(), document, _operation_name(parsed))


def _from_graphql(path: Path, text: str) -> Iterator[OperationDocument]:
    document = _parse(path, "parse", text)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.name is None:
            raise ConfigurationError(f"{path}: name every operation (one is anonymous)")
        used = _fragments_used(definition, fragments)
        single = DocumentNode(
            definitions=(definition, *(f for name, f in fragments.items() if name in used))
        )
        printed = print_ast(single)
        yield OperationDocument(document_hash(printed), printed, definition.name.value)


def _fragments_used(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> set[str]:
    used: set[str] = set()
    pending: list[OperationDefinitionNode | FragmentDefinitionNode] = [operation]
    while pending:
        collector = _SpreadCollector()
        visit(pending.pop(), collector)
        for name in collector.names - used:
            used.add(name)
            if name in fragments:
                pending.append(fragments[name])
    return used


class _SpreadCollector(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
        self.names.add(node.name.value)
