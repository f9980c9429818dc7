"""Turn a source's JSON into typed records, blaming the source when it breaks the contract."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import orjson
from cachetools import LRUCache
from pydantic import BaseModel, ValidationError

from omnigraph.core.errors import SourceContractViolation
from omnigraph.sources.bulk import reading_in_bulk

__all__ = [
    "forget_kept_records",
    "parse_kept",
    "parse_kept_records",
    "parse_record",
    "parse_records",
]

RecordT = TypeVar("RecordT", bound=BaseModel)


def parse_record(source: str, model: type[RecordT], raw: Any) -> RecordT:
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SourceContractViolation(
            source, f"{model.__name__} field {where!r}: {first['msg']}"
        ) from None


def parse_records(source: str, model: type[RecordT], raws: Iterable[Any]) -> list[RecordT]:
    return [parse_record(source, model, raw) for raw in raws]


# Records parsed from the same JSON, by model: at most this many, least recently used first out.
KEPT_RECORDS = 20_000
_kept: LRUCache[tuple[type[BaseModel], bytes], BaseModel] = LRUCache(maxsize=KEPT_RECORDS)


def parse_kept(source: str, model: type[RecordT], raw: Any) -> RecordT:
    """:func:`parse_record`, once per content: the same JSON (as a cached record, or a page
    that did not change) gives the very same record, which is frozen. An order's records are
    read on every request that serves it; kept, they are not validated again, and a truth
    decided from them is recognised as the same by identity (``OrderTruths``). Records read
    in bulk (:func:`omnigraph.sources.bulk.bulk_reads`) are parsed each time, never kept."""
    if reading_in_bulk():
        return parse_record(source, model, raw)
    try:
        key = (model, orjson.dumps(raw))
    except TypeError:  # what orjson cannot write (integers past 64 bits): parsed each time
        return parse_record(source, model, raw)
    found = _kept.get(key)
    if found is None:
        found = _kept[key] = parse_record(source, model, raw)
    return found  # type: ignore[return-value]  # the key holds the model it was parsed as


def parse_kept_records(source: str, model: type[RecordT], raws: Iterable[Any]) -> list[RecordT]:
    return [parse_kept(source, model, raw) for raw in raws]


def forget_kept_records() -> None:
    """Parse every record afresh from now on (a benchmark's rows start equal)."""
    _kept.clear()
