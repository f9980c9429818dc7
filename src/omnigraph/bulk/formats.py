"""An export's file, made from its spool (one node a line, as the page answered it) in one
streaming pass, so memory stays bounded whatever the export's size.

- **JSONL**: one row a line, nested lists of objects flattened into rows of their own with
  ``__parentId`` after their parent (Shopify's bulk format; ``omnigraph.bulk.plan``).
- **CSV**: a zip holding one CSV per level (``orders.csv``, ``orders.lines.csv``...), nested
  objects' fields as dotted columns (``totals.total.amount``), lists of scalars and JSON
  values as JSON text, ``true``/``false``, and an empty cell for null.
- **PARQUET** (pyarrow, the ``parquet`` extra): one file, typed: ``Decimal`` as
  ``decimal128(38, 9)``, ``DateTime`` as a timestamp in UTC (microseconds, with its zone),
  ``Int`` as int64, ``Float`` as double, ``Boolean`` as bool, everything else as text (JSON
  values as JSON text); nested objects as structs and nested lists of objects as lists of
  structs (``unnest`` them in DuckDB), so nothing needs joining back.
"""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from omnigraph.bulk.plan import ID_COLUMN, PARENT_COLUMN, Column, Level, Plan, Shape, flatten

__all__ = [
    "DECIMAL_PRECISION",
    "DECIMAL_SCALE",
    "FORMATS",
    "FormatUnavailable",
    "csv_columns",
    "parquet_available",
    "write_export",
]

FORMATS = ("JSONL", "CSV", "PARQUET")
DECIMAL_PRECISION, DECIMAL_SCALE = 38, 9
ROW_GROUP_ROWS = 1_000  # root rows per Parquet row group: memory bounded whatever the size


class FormatUnavailable(Exception):
    """The format needs a library this installation lacks."""


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def write_export(plan: Plan, lines: Iterable[bytes], format: str, out: Path) -> int:
    """Write the export of ``lines`` (the spool's node lines) as ``format`` to ``out``;
    its size in bytes."""
    nodes = (orjson.loads(line) for line in lines)
    if format == "JSONL":
        _jsonl(plan, nodes, out)
    elif format == "CSV":
        _csv_zip(plan, nodes, out)
    elif format == "PARQUET":
        _parquet(plan, nodes, out)
    else:
        raise ValueError(f"unknown format {format!r}")
    return out.stat().st_size


def _jsonl(plan: Plan, nodes: Iterator[dict[str, Any]], out: Path) -> None:
    root = plan.root
    with open(out, "wb", buffering=1 << 20) as file:
        for node in nodes:
            file.writelines(orjson.dumps(row) + b"\n" for _, row in flatten(node, root))


# -- CSV ------------------------------------------------------------------------------------


def csv_columns(level: Level, *, child: bool) -> list[tuple[str, Callable[[dict[str, Any]], Any]]]:
    """The header and a reader of each column of ``level``'s CSV."""
    columns: list[tuple[str, Callable[[dict[str, Any]], Any]]] = []
    if level.shape.synthetic_id:
        columns.append((ID_COLUMN, lambda row: row.get(ID_COLUMN)))
    columns.extend(_leaves(level.shape, ()))
    if child:
        columns.append((PARENT_COLUMN, lambda row: row.get(PARENT_COLUMN)))
    return columns


def _leaves(
    shape: Shape, path: tuple[str, ...]
) -> Iterator[tuple[str, Callable[[dict[str, Any]], Any]]]:
    for column in shape.columns:
        here = (*path, column.key)
        if column.kind == "level":
            continue
        if column.kind == "object" and column.shape is not None:
            yield from _leaves(column.shape, here)
        else:
            yield ".".join(here), _getter(here)


def _getter(path: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    def get(row: dict[str, Any]) -> Any:
        value: Any = row
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return get


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def _csv_zip(plan: Plan, nodes: Iterator[dict[str, Any]], out: Path) -> None:
    root = plan.root
    levels = list(root.walk())
    folder = out.with_name(out.name + ".levels")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        files: dict[str, io.TextIOWrapper] = {}
        writers: dict[str, tuple[Any, list[Callable[[dict[str, Any]], Any]]]] = {}
        try:
            for level in levels:
                file = open(folder / f"{level.name}.csv", "w", newline="", encoding="utf-8")  # noqa: SIM115
                files[level.name] = file
                columns = csv_columns(level, child=level is not root)
                writer = csv.writer(file)
                writer.writerow([name for name, _ in columns])
                writers[level.name] = (writer, [read for _, read in columns])
            for node in nodes:
                for level, row in flatten(node, root):
                    writer, reads = writers[level.name]
                    writer.writerow([_cell(read(row)) for read in reads])
        finally:
            for file in files.values():
                file.close()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for level in levels:
                archive.write(folder / f"{level.name}.csv", arcname=f"{level.name}.csv")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- Parquet --------------------------------------------------------------------------------


def _parquet(plan: Plan, nodes: Iterator[dict[str, Any]], out: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise FormatUnavailable(
            "PARQUET needs pyarrow: install omnigraph with the parquet extra"
        ) from None
    schema = pa.schema([_arrow_field(pa, column) for column in plan.shape.columns])
    convert = _converter(plan.shape)
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        batch: list[dict[str, Any]] = []
        for node in nodes:
            batch.append(convert(node))
            if len(batch) >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))


def _arrow_type(pa: Any, column: Column) -> Any:
    if column.kind == "scalar":
        scalar = {
            "Decimal": pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
            "DateTime": pa.timestamp("us", tz="UTC"),
            "Int": pa.int64(),
            "Float": pa.float64(),
            "Boolean": pa.bool_(),
        }.get(column.type, pa.string())
        return pa.list_(scalar) if column.list else scalar
    assert column.shape is not None
    struct = pa.struct([_arrow_field(pa, c) for c in column.shape.columns])
    return pa.list_(struct) if column.kind == "level" else struct


def _arrow_field(pa: Any, column: Column) -> Any:
    return pa.field(column.key, _arrow_type(pa, column))


def _scalar(type_name: str) -> Callable[[Any], Any]:
    if type_name == "Decimal":
        return lambda v: Decimal(str(v))
    if type_name == "DateTime":
        return datetime.fromisoformat
    if type_name == "JSON":
        return lambda v: orjson.dumps(v).decode()
    if type_name in ("Int", "Float", "Boolean"):
        return lambda v: v
    return str


def _converter(shape: Shape) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Each value of a node as its Parquet column takes it (text to Decimal and datetime)."""
    steps: list[tuple[str, Callable[[Any], Any]]] = []
    for column in shape.columns:
        steps.append((column.key, _column_converter(column)))

    def convert(node: dict[str, Any]) -> dict[str, Any]:
        return {key: (None if node.get(key) is None else step(node[key])) for key, step in steps}

    return convert


def _column_converter(column: Column) -> Callable[[Any], Any]:
    if column.kind == "scalar":
        one = _scalar(column.type)
        if column.list:
            return lambda values: [None if v is None else one(v) for v in values]
        return one
    assert column.shape is not None
    inner = _converter(column.shape)
    if column.kind == "level":
        return lambda items: [None if item is None else inner(item) for item in items]
    return inner
