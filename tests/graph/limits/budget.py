"""A budget of Python calls: work bounded by count, not by the clock.

Inside ``call_budget(n)`` every Python and C function call on this thread (the test's, and
with it the in-process service's event loop) is counted; the call past ``n`` raises
``OverBudget``, a ``BaseException`` so neither strawberry nor graphql-core turns it into a
GraphQL error: the test fails at once instead of waiting for work that grows without bound.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

__all__ = ["Calls", "OverBudget", "call_budget"]


class OverBudget(BaseException):
    """More calls than the budget allows."""


@dataclass
class Calls:
    budget: int
    made: int = 0


@contextmanager
def call_budget(budget: int) -> Iterator[Calls]:
    calls = Calls(budget)

    def count(_frame: FrameType, event: str, _arg: Any) -> None:
        if event in ("call", "c_call"):
            calls.made += 1
            if calls.made > budget:
                raise OverBudget(f"more than {budget} calls")

    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        yield calls
    finally:
        sys.setprofile(previous)
