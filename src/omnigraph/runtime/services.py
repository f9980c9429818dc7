"""What lives as long as the process: settings, source adapters, the database, and each domain's
long-lived parts (rules, catalogues, event buses), found by their type.

The rooms never import one another through this module: a domain asks for its own part by
class (``services.get(ExceptionCatalogue)``), and ``create_app`` provides every part once at
start-up. A missing part is a wiring mistake and fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from omnigraph.settings import Settings
    from omnigraph.sources.registry import SourceRegistry

__all__ = ["Services", "utc_now"]

PartT = TypeVar("PartT")


def utc_now() -> datetime:
    """The wall clock, with its offset: the default clock of every part that reads the time."""
    return datetime.now(UTC)


@dataclass(slots=True)
class Services:
    """The process's services; ``now`` is the injected clock every part reads the time from."""

    settings: Settings
    registry: SourceRegistry
    sessions: async_sessionmaker[AsyncSession]
    clock: Callable[[], datetime] = utc_now
    parts: dict[type[Any], object] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def provide(self, part: object) -> None:
        """Make ``part`` the one instance of its class this process uses."""
        self.parts[type(part)] = part

    def get(self, kind: type[PartT]) -> PartT:
        """The part of class ``kind``; a :class:`LookupError` if the app never provided one."""
        try:
            return cast(PartT, self.parts[kind])
        except KeyError:
            raise LookupError(f"no {kind.__name__} was provided to these services") from None

    def find(self, kind: type[PartT]) -> PartT | None:
        """The part of class ``kind``, or ``None`` where the app runs without it."""
        return cast("PartT | None", self.parts.get(kind))
