"""Turn a source's JSON into typed records, blaming the source when it breaks the contract."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from omnigraph.core.errors import SourceContractViolation

__all__ = ["parse_record", "parse_records"]

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
