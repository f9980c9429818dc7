"""The directory an export's files live in: a volume every replica shares.

Every file of an export starts with its id (32 hex digits), then the claim that wrote it:

- ``<id>.<claim>.spool``: the pages one claim wrote, one node a line; what counts of it is
  the length its last checkpoint recorded (bytes past it were written by a page whose
  checkpoint never landed, and are cut off before the next page is written);
- ``<id>.<claim><ext>.part``: the file being made from the spool once the last page is in;
- ``<id>.<claim><ext>``: the finished file, renamed from its ``.part`` in one step, so nothing
  half-written is ever served.

A spool per claim means a runner that lost its claim (it stalled past its lease and another
replica took the export over) cannot write into the pages of the one that took it over.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

__all__ = ["EXTENSIONS", "BulkFiles"]

EXTENSIONS = {"JSONL": ".jsonl", "CSV": ".zip", "PARQUET": ".parquet"}


class BulkFiles:
    """Paths, appends with their checkpoints, and deletions in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise ValueError(f"{name!r} is not a bulk file name")
        return self.directory / name

    @staticmethod
    def spool_name(operation: str, claim: str) -> str:
        return f"{operation}.{claim}.spool"

    @staticmethod
    def final_name(operation: str, claim: str, format: str) -> str:
        return f"{operation}.{claim}{EXTENSIONS[format]}"

    def append(self, name: str, committed: int, lines: Iterable[bytes]) -> int:
        """Cut ``name`` back to its ``committed`` bytes, append ``lines`` and make them
        durable; the new length (the next checkpoint's)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(name)
        with open(path, "ab") as out:
            if out.tell() != committed:
                out.truncate(committed)  # a page written whose checkpoint never landed
                out.seek(committed)
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())
            return out.tell()

    def truncate(self, name: str, committed: int) -> None:
        """Cut a spool another claim left back to what its checkpoint counted."""
        with contextlib.suppress(FileNotFoundError):
            path = self.path(name)
            if path.stat().st_size > committed:
                os.truncate(path, committed)

    def lines(self, segments: Sequence[tuple[str, int]]) -> Iterator[bytes]:
        """Every node line the checkpoints count, in order, one segment after another."""
        for name, committed in segments:
            if committed <= 0:
                continue
            with open(self.path(name), "rb") as spool:
                read = 0
                while read < committed:
                    line = spool.readline()
                    if not line:
                        raise OSError(f"{name} is shorter than its checkpoint ({committed} B)")
                    read += len(line)
                    yield line
                if read != committed:
                    raise OSError(f"{name}'s checkpoint ({committed} B) is not at a line's end")

    def size(self, name: str) -> int:
        return self.path(name).stat().st_size

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()

    def remove_all(self, operation: str) -> int:
        """Delete every file of the export ``operation``; how many there were."""
        if not self.directory.is_dir():
            return 0
        removed = 0
        for path in self.directory.glob(f"{operation}.*"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        return removed
