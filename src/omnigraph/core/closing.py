"""What every long-lived part started with ``async with`` shares: leaving the block closes it."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

__all__ = ["AsyncClosing", "cancelled"]


class AsyncClosing:
    """Closed on leaving ``async with``: ``__aexit__`` awaits ``aclose()``, which a subclass
    defines (``__aenter__`` is its own: what it starts differs).

    >>> import asyncio
    >>> class Door(AsyncClosing):
    ...     async def __aenter__(self) -> "Door":
    ...         return self
    ...     async def aclose(self) -> None:
    ...         print("closed")
    >>> async def walk_through() -> None:
    ...     async with Door():
    ...         pass
    >>> asyncio.run(walk_through())
    closed
    """

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


async def cancelled(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has stopped."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
