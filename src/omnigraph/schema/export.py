"""The contract as files: the SDL under ``schema/``, checked in and checked for staleness."""

from __future__ import annotations

from pathlib import Path

from omnigraph.schema.build import build_schema

__all__ = ["expected_schema_files", "stale_schema_files", "write_schema_files"]


def expected_schema_files() -> dict[str, str]:
    """File name -> SDL, for the single-process graph (a valid federation v2 subgraph)."""
    return {"omnigraph.graphql": build_schema().as_str() + "\n"}


def write_schema_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in expected_schema_files().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


def stale_schema_files(folder: Path) -> list[Path]:
    stale = []
    for name, text in expected_schema_files().items():
        path = folder / name
        if not path.is_file() or path.read_text() != text:
            stale.append(path)
    return stale
